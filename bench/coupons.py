"""Coupon load benchmark: claim storm, campaign list, POS redemptions, each beside /api/health.

Runs gunicorn (sync workers) against PostgreSQL and Redis on this machine::

    python -m bench.coupons            # or run() from the bench runner

Environment: ``BENCH_DATABASE_URL`` (default ``postgres://postgres@127.0.0.1:5432/bench_coupons``,
created if missing), ``REDIS_URL`` (default ``redis://127.0.0.1:6379/3``), ``BENCH_WORKERS``
(gunicorn workers, default 2 × cores + 1). Every run writes its own rows (names carry the run's
stamp), so runs can repeat on the same database.

Self-contained on purpose: the timing and gunicorn helpers below are small and local.
"""

import http.client
import json
import os
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/bench_coupons"

CLAIM_MEMBERS, CLAIM_STOCK, CLAIM_CONCURRENCY = 5000, 1000, 64
LIST_CAMPAIGNS, LIST_REQUESTS, LIST_CONCURRENCY = 50, 1000, 16
POS_COUPONS, POS_TILLS = 2000, 16
HEALTH_REQUESTS = 3000


# --- local helpers -----------------------------------------------------------------------------


def _environment() -> dict:
    env = dict(os.environ)
    env.update(
        DATABASE_URL=os.environ.get("BENCH_DATABASE_URL", DEFAULT_DATABASE_URL),
        REDIS_URL=os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/3"),
        DJANGO_DEBUG="false",
        SECRET_KEY=os.environ.get("SECRET_KEY", "bench-only-secret-key-0123456789abcdefghijklmnop"),
        SECURE_SSL_REDIRECT="false",
        WECHAT_APPID="wx-bench",
        WECHAT_SECRET="bench",  # noqa: S106 (a dummy: the benchmark never calls WeChat)
        WECHAT_PAY_MCH_ID="1900000109",
        WECHAT_PAY_API_KEY="bench-pay-api-key-0123456789abcdef",
        WECHAT_PAY_NOTIFY_URL="http://127.0.0.1/api/payments/wechat/notify",
        LOG_LEVEL="WARNING",
        DJANGO_SETTINGS_MODULE="backend.settings",
    )
    return env


def _ensure_database(url: str) -> None:
    import psycopg

    name = url.rsplit("/", 1)[1]
    admin_url = url.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _start_gunicorn(env: dict, port: int) -> subprocess.Popen:
    workers = int(os.environ.get("BENCH_WORKERS", 2 * (os.cpu_count() or 1) + 1))
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "backend.wsgi:application",
            "--workers",
            str(workers),
            "--bind",
            f"127.0.0.1:{port}",
            "--log-level",
            "warning",
        ],
        cwd=ROOT,
        env=env,
    )
    for _ in range(100):
        try:
            if _request(port, "GET", "/api/health")[0] == 200:
                return process
        except OSError:
            time.sleep(0.1)
    process.terminate()
    raise RuntimeError("gunicorn did not start")


def _request(port, method, path, *, token=None, body=None, headers=None):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        all_headers = {"Content-Type": "application/json", **(headers or {})}
        if token:
            all_headers["Authorization"] = f"Bearer {token}"
        conn.request(method, path, body=json.dumps(body) if body is not None else None,
                     headers=all_headers)  # fmt: skip
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def _measure(name, calls, concurrency):
    """Run the zero-argument ``calls`` at ``concurrency``; print and return the figures."""
    latencies, statuses = [], Counter()
    lock = threading.Lock()

    def timed(call):
        started = time.perf_counter()
        status, _ = call()
        elapsed = time.perf_counter() - started
        with lock:
            latencies.append(elapsed)
            statuses[status] += 1

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        list(pool.map(timed, calls))
    wall = time.perf_counter() - started
    latencies.sort()
    figures = {
        "name": name,
        "requests": len(calls),
        "rps": len(calls) / wall,
        "p50_ms": statistics.median(latencies) * 1000,
        "p99_ms": latencies[int(len(latencies) * 0.99) - 1] * 1000,
        "statuses": dict(statuses),
    }
    print(
        f"{name:<34} {figures['rps']:8.0f} req/s  p50 {figures['p50_ms']:6.1f} ms  "
        f"p99 {figures['p99_ms']:6.1f} ms  {dict(statuses)}"
    )
    return figures


def _health(port, concurrency):
    return _measure(
        f"health @{concurrency}",
        [lambda: _request(port, "GET", "/api/health")] * HEALTH_REQUESTS,
        concurrency,
    )


# --- data --------------------------------------------------------------------------------------


def _seed(stamp: str) -> dict:
    """Rows for the three scenarios, written through the ORM of this process."""
    import datetime

    from django.contrib.auth import get_user_model
    from django.utils import timezone
    from rest_framework_simplejwt.tokens import RefreshToken

    from coupons.models import Campaign, Coupon, CouponSource
    from coupons.services.coupons import coupon_validity
    from members.member_numbers import luhn_check_digit
    from members.models import Member
    from stores.authentication import pos_token_for
    from stores.models import StaffProfile, StaffRole, Store

    now = timezone.now()
    base = int(stamp) % 10_000_000

    def member_no(i):
        payload = f"77{(base * 10_000 + i) % 10**9:09d}"
        return payload + luhn_check_digit(payload)

    members = Member.objects.bulk_create(
        [Member(member_no=member_no(i), openid=f"bench-{stamp}-{i}") for i in range(CLAIM_MEMBERS)]
    )
    members = list(Member.objects.filter(openid__startswith=f"bench-{stamp}-").order_by("pk"))
    tokens = [str(RefreshToken.for_user(m).access_token) for m in members]

    def campaign(name, stock):
        return Campaign.objects.create(
            name=name,
            kind="amount_off",
            amount_off_fen=1000,
            min_spend_fen=0,
            claim_starts_at=now - datetime.timedelta(hours=1),
            claim_ends_at=now + datetime.timedelta(days=1),
            valid_days=7,
            total_stock=stock,
            remaining_stock=stock,
            per_member_limit=1,
        )

    storm = campaign(f"bench {stamp} storm", CLAIM_STOCK)
    for n in range(LIST_CAMPAIGNS - 1):
        campaign(f"bench {stamp} list {n}", 100)

    store = Store.objects.create(
        code=f"B{stamp[-6:]}", name="Bench", address="-", city="-", latitude=0, longitude=0
    )
    users = get_user_model().objects.bulk_create(
        [get_user_model()(username=f"bench-{stamp}-till-{n}") for n in range(POS_TILLS)]
    )
    users = list(get_user_model().objects.filter(username__startswith=f"bench-{stamp}-till-"))
    StaffProfile.objects.bulk_create(
        [StaffProfile(user=u, role=StaffRole.CASHIER, store=store) for u in users]
    )
    pos_tokens = [
        str(pos_token_for(user_id=u.pk, store_id=store.pk, role=StaffRole.CASHIER)) for u in users
    ]
    pos_campaign = campaign(f"bench {stamp} pos", POS_COUPONS)
    valid_from, valid_until = coupon_validity(campaign=pos_campaign, now=now)
    coupons = Coupon.objects.bulk_create(
        [
            Coupon(
                campaign=pos_campaign,
                member=members[i % len(members)],
                source=CouponSource.CLAIM,
                valid_from=valid_from,
                valid_until=valid_until,
            )
            for i in range(POS_COUPONS)
        ]
    )
    coupon_ids = list(
        Coupon.objects.filter(campaign=pos_campaign).order_by("pk").values_list("pk", flat=True)
    )
    del coupons
    return {
        "tokens": tokens,
        "storm": storm,
        "pos_tokens": pos_tokens,
        "coupon_ids": coupon_ids,
    }


# --- scenarios ---------------------------------------------------------------------------------


def run() -> dict:
    """Run the three coupon scenarios and print their figures with ratios to /api/health."""
    env = _environment()
    os.environ.update(env)
    sys.path.insert(0, str(ROOT))
    _ensure_database(env["DATABASE_URL"])

    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    stamp = str(int(time.time()))
    data = _seed(stamp)

    port = _free_port()
    server = _start_gunicorn(env, port)
    results = {}
    try:
        results["health_64"] = _health(port, CLAIM_CONCURRENCY)
        claim_path = f"/api/coupons/campaigns/{data['storm'].pk}/claim"
        results["claim_storm"] = _measure(
            f"claim storm {CLAIM_MEMBERS}→{CLAIM_STOCK} @{CLAIM_CONCURRENCY}",
            [lambda t=t: _request(port, "POST", claim_path, token=t) for t in data["tokens"]],
            CLAIM_CONCURRENCY,
        )
        results["health_16"] = _health(port, LIST_CONCURRENCY)
        token = data["tokens"][0]
        results["campaign_list"] = _measure(
            f"campaign list ({LIST_CAMPAIGNS}) @{LIST_CONCURRENCY}",
            [lambda: _request(port, "GET", "/api/coupons/campaigns", token=token)] * LIST_REQUESTS,
            LIST_CONCURRENCY,
        )

        from backend.rotating_codes import rotating_code_issue

        tills = data["pos_tokens"]
        calls = []
        for n, coupon_id in enumerate(data["coupon_ids"]):
            code = rotating_code_issue(kind="C", object_id=coupon_id).code
            calls.append(
                lambda n=n, code=code: _request(
                    port,
                    "POST",
                    "/api/pos/redemptions",
                    token=tills[n % len(tills)],
                    body={"code": code, "order_amount_fen": 5000, "receipt_no": f"R{n}"},
                    headers={"Idempotency-Key": f"bench-{stamp}-{n}"},
                )
            )
        results["pos_redeem"] = _measure(
            f"POS redeem {POS_COUPONS} @{POS_TILLS} tills", calls, POS_TILLS
        )
    finally:
        server.terminate()
        server.wait(timeout=30)

    from coupons.models import Campaign, Coupon, Redemption

    storm = Campaign.objects.get(pk=data["storm"].pk)
    issued = Coupon.objects.filter(campaign=storm).count()
    redeemed = Redemption.objects.filter(coupon_id__in=data["coupon_ids"]).count()
    five_xx = {
        name: sum(n for status, n in r["statuses"].items() if status >= 500)
        for name, r in results.items()
    }
    print()
    print(
        f"claim storm: {issued} coupons issued (stock {CLAIM_STOCK}), remaining "
        f"{storm.remaining_stock}, oversold {max(issued - CLAIM_STOCK, 0)}"
    )
    print(f"POS: {redeemed} redemptions of {POS_COUPONS} coupons")
    print(f"5xx: {five_xx}")
    for name, health in (
        ("claim_storm", "health_64"),
        ("campaign_list", "health_16"),
        ("pos_redeem", "health_16"),
    ):
        print(f"ratio {name} / {health}: {results[name]['rps'] / results[health]['rps']:.2f}")
    results["checks"] = {
        "storm_coupons": issued,
        "storm_remaining": storm.remaining_stock,
        "pos_redemptions": redeemed,
        "5xx": five_xx,
    }
    return results


if __name__ == "__main__":
    run()
