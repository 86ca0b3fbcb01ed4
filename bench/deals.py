"""Flash-deal benchmark: 20,000 distinct members grab a deal with stock 500.

    python -m bench.deals            (or ``run()`` from ``python -m bench``)

One run on gunicorn (sync workers) + PostgreSQL + Redis + the WeChat sandbox:

1. ``/api/health`` at 64 connections, idle: the baseline for every ratio; and a single-connection
   health probe, idle, for the "stays responsive" check.
2. The sale: 20,000 grabs, one per member (each with its own token), at 64 connections, while
   the single-connection health probe keeps running beside it.
3. Figures: requests/s, p50 and p99 of the in-stock phase (up to the last 201, WeChat Pay
   unified order included) and of the sold-out phase, each as a ratio to health; oversold
   units, orders held (must be 500), 5xx answers, and the probe's p99 during the sale against
   idle.

The probe asks the health-check listener, a one-worker gunicorn of its own as in production
(README, "In production"): a health check queued behind 64 connections on a saturated pool
would time out and take the instance out of the load balancer in the middle of a sale. The
same probe through the shoppers' pool is printed beside it: any request there waits its turn
behind the sale.

Goals (issue 4): sold-out ≥ 0.8× health, in-stock ≥ 0.3× health (judged on units sold per
second, which out-of-order sold-out answers cannot inflate), probe p99 during the sale within 2×
idle, 0 oversold, exactly 500 held, 0 5xx.

The load generator is asyncio over raw sockets in this process, one request per connection
(gunicorn's sync workers close every connection); it takes some CPU from the server, equally
for health and for grabs, so the ratios stay comparable.

Environment: ``BENCH_DATABASE_URL`` (default ``postgres://postgres@127.0.0.1:5432/bench_deals``),
``BENCH_REDIS_URL`` (default ``redis://127.0.0.1:6379/15``), ``BENCH_CONNECTIONS`` (64),
``BENCH_WORKERS`` (2), ``BENCH_WORKER_CLASS`` (``sync``; try ``gthread`` with
``BENCH_THREADS``, gunicorn's ``--threads``, default 1), ``BENCH_MEMBERS`` (20000),
``BENCH_STOCK`` (500), ``BENCH_WECHAT_LATENCY_MS`` (0: the sandbox answers at once; set it to
WeChat Pay's real round trip, tens of milliseconds, to see how many workers the shoppers' pool
needs when a unified order holds a sync worker that long).
"""

import asyncio
import os
import time

from bench.common import (
    THREADS,
    CpuSampler,
    Server,
    answers,
    fire_async,
    health_probe,
    percentile,
    phase,
    raw_request,
    setup_django,
    unified_order_delay,
)

DATABASE_URL = os.environ.get(
    "BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/bench_deals"
)
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/15")
CONNECTIONS = int(os.environ.get("BENCH_CONNECTIONS", "64"))
WORKERS = int(os.environ.get("BENCH_WORKERS", "2"))
WORKER_CLASS = os.environ.get("BENCH_WORKER_CLASS", "sync")
MEMBERS = int(os.environ.get("BENCH_MEMBERS", "20000"))
STOCK = int(os.environ.get("BENCH_STOCK", "500"))
HEALTH_REQUESTS = int(os.environ.get("BENCH_HEALTH_REQUESTS", "8000"))
WECHAT_LATENCY_MS = float(os.environ.get("BENCH_WECHAT_LATENCY_MS", "0"))
WARM_UP_GRABS = 200


# --- Load ---------------------------------------------------------------------------------------


async def _sale(port, ops_port, grabs, connections):
    """The load, with the probe on the health-check listener and on the shoppers' pool."""
    stop = asyncio.Event()
    probes = [asyncio.create_task(health_probe(each, stop)) for each in (ops_port, port)]
    hits = await fire_async(port, grabs, connections)
    stop.set()
    ops_probe, pool_probe = [await probe for probe in probes]
    return hits, ops_probe, pool_probe


# --- Figures ------------------------------------------------------------------------------------


def _row(phase, baseline):
    ratio = phase.rps / baseline.rps if baseline.rps else 0.0
    return (
        f"{phase.name:<22}{phase.requests:>8}{phase.rps:>10.0f}{ratio:>8.2f}x"
        f"{phase.p50_ms:>9.1f}{phase.p99_ms:>9.1f}"
        f"{phase.p50_ms / baseline.p50_ms:>8.2f}x{phase.p99_ms / baseline.p99_ms:>8.2f}x"
    )


def run():
    server = Server(
        workers=WORKERS,
        worker_class=WORKER_CLASS,
        env={"DATABASE_URL": DATABASE_URL, "REDIS_URL": REDIS_URL},
        seed=False,
        ops_workers=1,
    )
    with server:
        setup_django(server.env)
        deal, warm_up_deal, tokens = _prepare()
        port = server.port
        sale_tokens, warm_up_tokens = tokens[:MEMBERS], tokens[MEMBERS:]
        grabs = [raw_request("POST", f"/api/deals/{deal.pk}/grab", t) for t in sale_tokens]

        # Warm both workers as earlier traffic would have (imports, the connections to
        # PostgreSQL, Redis, the broker and WeChat Pay) with grabs of another deal, so that a
        # worker's first grab is not counted in a 500-grab phase.
        ops_port = server.ops_port
        warm_up = [
            raw_request("POST", f"/api/deals/{warm_up_deal.pk}/grab", t) for t in warm_up_tokens
        ]
        asyncio.run(fire_async(port, warm_up, CONNECTIONS))
        asyncio.run(fire_async(port, [raw_request("GET", "/api/health")] * 400, CONNECTIONS))
        health = [raw_request("GET", "/api/health")] * HEALTH_REQUESTS
        health_hits, _, loaded_probe = asyncio.run(_sale(port, ops_port, health, CONNECTIONS))
        idle_probe = asyncio.run(health_probe(ops_port, None, count=300))
        idle_pool_probe = asyncio.run(health_probe(port, None, count=300))

        if WECHAT_LATENCY_MS:
            unified_order_delay(server, count=len(grabs), seconds=WECHAT_LATENCY_MS / 1000)
        sampler = CpuSampler(server)
        with sampler:
            sale_started = time.perf_counter()
            grab_hits, sale_probe, sale_pool_probe = asyncio.run(
                _sale(port, ops_port, grabs, CONNECTIONS)
            )
            sale_ended = time.perf_counter()

        _report(
            deal,
            health_hits,
            (idle_probe, sale_probe),
            (idle_pool_probe, loaded_probe, sale_pool_probe),
            grab_hits,
            sale_started,
            sale_ended,
            sampler,
        )


def _prepare():
    """A fresh deal with the stock, a warm-up deal, and one access token per member (members
    made once): the first MEMBERS tokens for the sale, the last WARM_UP_GRABS for the warm-up."""
    deal = bench_deal("deal", STOCK)
    warm_up_deal = bench_deal("warm-up", WARM_UP_GRABS)
    return deal, warm_up_deal, bench_member_tokens(MEMBERS + WARM_UP_GRABS)


def bench_deal(name: str, stock: int):
    """A one-cent deal, live for an hour, selling the benchmark's gift voucher."""
    import datetime

    from django.utils import timezone

    from coupons.models import Campaign, CampaignKind
    from coupons.services import flash_deals as flash_deal_services

    now = timezone.now()
    campaign, _ = Campaign.objects.get_or_create(
        name="bench voucher",
        defaults={
            "kind": CampaignKind.GIFT,
            "gift_description": "bench gift",
            "claimable_online": False,
            "claim_starts_at": now - datetime.timedelta(days=1),
            "claim_ends_at": now + datetime.timedelta(days=365),
            "valid_days": 30,
            "total_stock": 10**9,
            "remaining_stock": 10**9,
        },
    )
    return flash_deal_services.deal_create(
        campaign=campaign,
        total_stock=stock,
        title=f"bench {name} {now:%H%M%S}",
        price_fen=1,
        starts_at=now - datetime.timedelta(minutes=1),
        ends_at=now + datetime.timedelta(hours=1),
    )


def bench_member_tokens(count: int) -> list[str]:
    """An access token for each of ``count`` benchmark members (made once, kept for later runs)."""
    from rest_framework_simplejwt.tokens import AccessToken

    from members.models import Member

    existing = Member.objects.filter(openid__startswith="bench-member-").count()
    if existing < count:
        Member.objects.bulk_create(
            (
                Member(member_no=f"99{i:010d}", openid=f"bench-member-{i}")
                for i in range(existing, count)
            ),
            batch_size=5000,
        )
    members = Member.objects.filter(openid__startswith="bench-member-").order_by("pk")[:count]
    return [str(AccessToken.for_user(member)) for member in members]


def _report(deal, health_hits, probes, pool_probes, grab_hits, sale_started, sale_ended, sampler):
    from coupons.models import FlashDeal, FlashOrder, FlashOrderStatus

    health = phase("/api/health (idle)", health_hits)
    won = [hit for hit in grab_hits if hit.status == 201]
    last_win = max((hit.ended for hit in won), default=sale_started)
    in_stock_hits = [hit for hit in grab_hits if hit.ended <= last_win]
    sold_out_hits = [hit for hit in grab_hits if hit.ended > last_win]
    in_stock = phase("grab, in stock", in_stock_hits, sale_started, last_win)
    sold_out = phase("grab, sold out", sold_out_hits, last_win, sale_ended)

    server_errors = sum(1 for hit in grab_hits if hit.status >= 500 or hit.status == 0)
    held = FlashOrder.objects.filter(deal=deal, status=FlashOrderStatus.AWAITING_PAYMENT).count()
    live = FlashOrder.objects.filter(deal=deal).live().count()
    remaining = FlashDeal.objects.values_list("remaining_stock", flat=True).get(pk=deal.pk)
    oversold = max(0, live - deal.total_stock) + max(0, live + remaining - deal.total_stock)

    idle_probe, sale_probe = probes
    idle_pool_probe, loaded_probe, sale_pool_probe = pool_probes
    idle_p99 = percentile([hit.ms for hit in idle_probe], 0.99)
    sale_p99 = percentile([hit.ms for hit in sale_probe], 0.99)

    print(
        f"\nflash deal: {len(grab_hits)} members, stock {deal.total_stock}, "
        f"{CONNECTIONS} connections, gunicorn {WORKERS} x {WORKER_CLASS}"
        + (f" x {THREADS} threads" if WORKER_CLASS == "gthread" else "")
        + (f", WeChat Pay round trip +{WECHAT_LATENCY_MS:.0f} ms" if WECHAT_LATENCY_MS else "")
    )
    print(
        f"{'':<22}{'requests':>8}{'req/s':>10}{'ratio':>9}{'p50 ms':>9}{'p99 ms':>9}"
        f"{'p50 x':>9}{'p99 x':>9}"
    )
    for figures in (health, in_stock, sold_out):
        print(_row(figures, health))
    print(f"answers: {answers(grab_hits)}")
    # With many workers, answers come back out of order: some sold-out answers arrive before
    # the last 201 and count in the in-stock phase's requests. Units sold per second do not
    # flatter, so the in-stock goal is judged on them.
    sold_rate = len(won) / in_stock.seconds if in_stock.seconds else 0.0
    print(
        f"in-stock phase: {len(won)} units sold in {in_stock.seconds:.2f} s, {sold_rate:.0f}/s "
        f"({sold_rate / health.rps:.2f}x health); "
        f"{in_stock.requests - len(won)} sold-out answers came back before the last 201"
    )
    print(
        f"orders held: {held} (must be {deal.total_stock}); oversold: {oversold} (must be 0); "
        f"5xx or failed: {server_errors} (must be 0)"
    )
    print(
        f"/api/health p99 on one connection to the health-check listener: idle {idle_p99:.1f} ms,"
        f" during the sale {sale_p99:.1f} ms ({sale_p99 / idle_p99:.2f}x, goal <= 2x)"
    )
    # The same probe through the shoppers' pool: idle, beside 64 connections of plain health
    # requests, and during each phase of the sale.
    pool_idle_p99 = percentile([hit.ms for hit in idle_pool_probe], 0.99)
    loaded_p99 = percentile([hit.ms for hit in loaded_probe], 0.99)
    in_stock_p99 = percentile([h.ms for h in sale_pool_probe if h.started <= last_win], 0.99)
    sold_out_p99 = percentile([h.ms for h in sale_pool_probe if h.started > last_win], 0.99)
    print(
        f"  through the shoppers' pool: idle {pool_idle_p99:.1f} ms, beside 64 connections of "
        f"/api/health {loaded_p99:.1f} ms, in-stock phase {in_stock_p99:.1f} ms, sold-out "
        f"phase {sold_out_p99:.1f} ms ({sold_out_p99 / loaded_p99:.2f}x the health load)"
    )
    goals = {
        "sold-out >= 0.8x health": sold_out.rps >= 0.8 * health.rps,
        "in-stock (units sold/s) >= 0.3x health": sold_rate >= 0.3 * health.rps,
        "health p99 within 2x idle": sale_p99 <= 2 * idle_p99,
        "0 oversold": oversold == 0,
        f"exactly {deal.total_stock} held": held == deal.total_stock,
        "0 5xx": server_errors == 0,
    }
    print(
        "goals: " + ", ".join(f"{name}: {'ok' if met else 'MISSED'}" for name, met in goals.items())
    )
    print("CPU by part, and its milliseconds per request:")
    print(f"  in-stock phase: {sampler.shares(sale_started, last_win, in_stock.requests)}")
    print(f"  sold-out phase: {sampler.shares(last_win, sale_ended, sold_out.requests)}")


if __name__ == "__main__":
    run()
