"""The foundation's throughput: health (the baseline), nearby stores, the member's profile.

2,000 stores around Shenzhen; ``/api/stores`` near a point within 3 km; ``/api/members/me``
with a member's access token. Goals: stores ≥ 0.5x and members/me ≥ 0.7x health.
"""

import random
import urllib.error
import urllib.request

from bench.common import Server, load, print_table, setup_django

STORE_COUNT = 2000
STORE_CODE_PREFIX = "BENCH"
CENTRE = (22.5431, 114.0579)  # Futian, Shenzhen
GOALS = {"/api/stores": 0.5, "/api/members/me": 0.7}


def _ensure_stores():
    from stores.models import Store

    existing = Store.objects.filter(code__startswith=STORE_CODE_PREFIX).count()
    if existing == STORE_COUNT:
        return
    Store.objects.filter(code__startswith=STORE_CODE_PREFIX).delete()
    rng = random.Random(2000)
    Store.objects.bulk_create(
        Store(
            code=f"{STORE_CODE_PREFIX}{number:04d}",
            name=f"Bench store {number}",
            address="Shenzhen",
            city="深圳",
            # Spread over about 100 km x 100 km, as a chain's stores in a metropolis.
            latitude=CENTRE[0] + rng.uniform(-0.45, 0.45),
            longitude=CENTRE[1] + rng.uniform(-0.5, 0.5),
            opening_hours="07:30-22:30",
        )
        for number in range(STORE_COUNT)
    )


def _member_token():
    from rest_framework_simplejwt.tokens import RefreshToken

    from members.member_numbers import member_number_next
    from members.models import Member

    member, _ = Member.objects.get_or_create(
        openid="bench-openid-1", defaults={"member_no": member_number_next(), "nickname": "bench"}
    )
    return str(RefreshToken.for_user(member).access_token)


def _status(url, headers):
    request = urllib.request.Request(url, headers=headers)  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


def run():
    with Server() as server:
        setup_django(server.env)
        _ensure_stores()
        token = _member_token()
        lat, lng = CENTRE
        stores_url = server.url(f"/api/stores?lat={lat}&lng={lng}&radius_m=3000")
        me_url = server.url("/api/members/me")
        me_headers = {"Authorization": f"Bearer {token}"}

        # Warm up every worker's connections and code paths.
        for url in (server.url("/api/health"), stores_url):
            load(url, duration=2)

        health = load(server.url("/api/health"), name="/api/health")
        results = [health, load(stores_url, name="/api/stores")]

        me_status = _status(me_url, me_headers)
        if me_status == 404:
            print("/api/members/me answers 404: the members API is not here yet, skipped.")
        else:
            load(me_url, headers=me_headers, duration=2)
            results.append(load(me_url, headers=me_headers, name="/api/members/me"))

        print_table(
            results,
            baseline=health,
            goals=GOALS,
            title=f"Foundation: {STORE_COUNT} stores, radius 3000 m",
        )
