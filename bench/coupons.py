"""Coupon load benchmark: claim storm, campaign list, POS redemptions, each beside /api/health.

    python -m bench.coupons            (or ``run()`` from ``python -m bench``)

One run on gunicorn (sync workers) + PostgreSQL + Redis + the WeChat sandbox (bench.common):

1. a claim storm: 5,000 distinct members claim one campaign with stock 1,000 at 64 connections,
   beside ``/api/health`` at 64 connections; afterwards exactly 1,000 coupons, 0 oversold, no
   5xx;
2. the campaign list for a member, with 50 live campaigns, at 16 connections (goal ≥ 0.5×
   health at 16);
3. POS redemptions of 2,000 distinct coupons from 16 tills (goal ≥ 0.3× health at 16).

Every request is sent once, on a connection of its own (``bench.common.fire``), as a crowd of
phones and tills would. Every run writes its own rows (names carry the run's stamp), so runs
repeat on the same database.

Environment: ``BENCH_DATABASE_URL`` (default ``postgres://postgres@127.0.0.1:5432/bench_coupons``),
``BENCH_REDIS_URL`` (default ``redis://127.0.0.1:6379/14``), ``BENCH_WORKERS`` (gunicorn
workers, default 2).
"""

import os
import time

from bench.common import Server, answers, fire, phase, raw_request, setup_django

DATABASE_URL = os.environ.get(
    "BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/bench_coupons"
)
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/14")

CLAIM_MEMBERS, CLAIM_STOCK, CLAIM_CONNECTIONS = 5000, 1000, 64
LIST_CAMPAIGNS, LIST_REQUESTS, LIST_CONNECTIONS = 50, 2000, 16
POS_COUPONS, POS_TILLS = 2000, 16
HEALTH_REQUESTS = 4000
GOALS = {"campaign list": 0.5, "POS redeem": 0.3}


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
    # Earlier runs' campaigns would still be live and lengthen this run's list.
    Campaign.objects.filter(name__startswith="bench ").update(claimable_online=False)

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


def _measure(name, port, requests, connections):
    started = time.perf_counter()
    hits = fire(port, requests, connections)
    return {
        "phase": phase(name, hits, started, time.perf_counter()),
        "connections": connections,
        "statuses": answers(hits),
        "server_errors": sum(1 for hit in hits if hit.status >= 500 or hit.status == 0),
    }


def _print(row, baseline=None):
    figures = row["phase"]
    base = baseline["phase"] if baseline else None
    ratio = f"{figures.rps / base.rps:6.2f}x" if base else "      -"
    goal = GOALS.get(figures.name)
    verdict = (
        ""
        if goal is None
        else f"  goal {goal}x: {'ok' if figures.rps >= goal * base.rps else 'MISSED'}"
    )
    print(
        f"{figures.name:<24}@{row['connections']:<3}{figures.rps:8.0f} req/s  "
        f"p50 {figures.p50_ms:7.1f} ms  p99 {figures.p99_ms:7.1f} ms  {ratio}{verdict}  "
        f"{row['statuses']}"
    )


def run() -> dict:
    """Run the three coupon scenarios and print their figures with ratios to /api/health."""
    server = Server(env={"DATABASE_URL": DATABASE_URL, "REDIS_URL": REDIS_URL}, seed=False)
    with server:
        setup_django(server.env)
        stamp = str(int(time.time()))
        data = _seed(stamp)
        port = server.port
        health = [raw_request("GET", "/api/health")]

        fire(port, health * 400, CLAIM_CONNECTIONS)  # warm both workers
        health_64 = _measure("/api/health", port, health * HEALTH_REQUESTS, CLAIM_CONNECTIONS)
        claim_path = f"/api/coupons/campaigns/{data['storm'].pk}/claim"
        storm = _measure(
            "claim storm",
            port,
            [raw_request("POST", claim_path, token) for token in data["tokens"]],
            CLAIM_CONNECTIONS,
        )
        health_16 = _measure("/api/health", port, health * HEALTH_REQUESTS, LIST_CONNECTIONS)
        listing = _measure(
            "campaign list",
            port,
            [raw_request("GET", "/api/coupons/campaigns", data["tokens"][0])] * LIST_REQUESTS,
            LIST_CONNECTIONS,
        )

        from backend.rotating_codes import rotating_code_issue

        tills = data["pos_tokens"]
        redemptions = [
            raw_request(
                "POST",
                "/api/pos/redemptions",
                tills[n % len(tills)],
                body={
                    "code": rotating_code_issue(kind="C", object_id=coupon_id).code,
                    "order_amount_fen": 5000,
                    "receipt_no": f"R{n}",
                },
                headers={"Idempotency-Key": f"bench-{stamp}-{n}"},
            )
            for n, coupon_id in enumerate(data["coupon_ids"])
        ]
        pos = _measure("POS redeem", port, redemptions, POS_TILLS)

    from coupons.models import Campaign, Coupon, Redemption

    issued = Coupon.objects.filter(campaign=data["storm"]).count()
    remaining = Campaign.objects.values_list("remaining_stock", flat=True).get(pk=data["storm"].pk)
    redeemed = Redemption.objects.filter(coupon_id__in=data["coupon_ids"]).count()
    print(f"\ncoupons: gunicorn {server.workers} x sync, each request on a connection of its own")
    _print(health_64)
    _print(storm, health_64)
    _print(health_16)
    _print(listing, health_16)
    _print(pos, health_16)
    errors = {
        row["phase"].name: row["server_errors"]
        for row in (health_64, storm, health_16, listing, pos)
    }
    print(
        f"claim storm: {issued} coupons issued (must be {CLAIM_STOCK}), remaining {remaining}, "
        f"oversold {max(issued - CLAIM_STOCK, 0)} (must be 0)"
    )
    print(f"POS: {redeemed} redemptions of {POS_COUPONS} coupons (must be {POS_COUPONS})")
    print(f"5xx or failed: {errors} (must all be 0)")
    return {"health_64": health_64, "claim_storm": storm, "campaign_list": listing, "pos": pos}


if __name__ == "__main__":
    run()
