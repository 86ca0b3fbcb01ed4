"""WeChat Pay stops answering in the middle of a sale: what the shoppers' pool goes through.

    python -m bench.outage           (or ``run()`` from ``python -m bench``)

Twice, on gunicorn (BENCH_WORKERS sync workers) + PostgreSQL + Redis + the sandbox, with every
unified order hanging past ``WECHAT_TIMEOUT_SECONDS`` (3 s): once with WeChat Pay's circuit
breaker as configured by default, once with it off (``WECHAT_BREAKER_FAILURES=0``). Each
time BENCH_OUTAGE_GRABS distinct members (60) grab a deal at 16 connections while one
connection asks the same pool for /api/health every 10 ms, standing for the tills and every
other shopper.

Prints, for each: how long the grabs took, their answers (all must be 503
``wechat_unavailable``), the probe's p50 and p99, and the deal's remaining stock (every unit
given back or never taken). No goal was set; the figures show what the breaker is for.
"""

import asyncio
import os
import time

from bench.common import (
    WORKERS,
    Server,
    answers,
    fire_async,
    health_probe,
    percentile,
    raw_request,
    setup_django,
    unified_order_delay,
)
from bench.deals import DATABASE_URL, REDIS_URL, bench_deal, bench_member_tokens

GRABS = int(os.environ.get("BENCH_OUTAGE_GRABS", "60"))
CONNECTIONS = 16
STOCK = 100
TIMEOUT_SECONDS = 3
BREAKER_FAILURES = 5
BREAKER_SECONDS = 5


def run():
    print(
        f"\nWeChat Pay hanging: {GRABS} grabs at {CONNECTIONS} connections, gunicorn {WORKERS} x "
        f"sync, WeChat timeout {TIMEOUT_SECONDS} s"
    )
    print(f"{'breaker':<22}{'seconds':>9}{'probe p50 ms':>14}{'probe p99 ms':>14}  answers, stock")
    on = f"on ({BREAKER_FAILURES} failures, {BREAKER_SECONDS} s)"
    for label, failures in ((on, BREAKER_FAILURES), ("off", 0)):
        _run_once(label, failures)


def _run_once(label: str, failures: int) -> None:
    server = Server(
        workers=WORKERS,
        env={
            "DATABASE_URL": DATABASE_URL,
            "REDIS_URL": REDIS_URL,
            "WECHAT_TIMEOUT_SECONDS": str(TIMEOUT_SECONDS),
            "WECHAT_BREAKER_FAILURES": str(failures),
            "WECHAT_BREAKER_SECONDS": str(BREAKER_SECONDS),
        },
        seed=False,
    )
    with server:
        setup_django(server.env)
        from coupons.models import FlashDeal

        deal = bench_deal("outage", STOCK)
        grabs = [
            raw_request("POST", f"/api/deals/{deal.pk}/grab", token)
            for token in bench_member_tokens(GRABS)
        ]
        unified_order_delay(server, count=10 * GRABS, seconds=3 * TIMEOUT_SECONDS)
        started = time.perf_counter()
        hits, probe = asyncio.run(_outage(server.port, grabs))
        seconds = time.perf_counter() - started
        remaining = FlashDeal.objects.values_list("remaining_stock", flat=True).get(pk=deal.pk)
        probe_ms = [hit.ms for hit in probe]
        print(
            f"{label:<22}{seconds:>9.1f}{percentile(probe_ms, 0.5):>14.0f}"
            f"{percentile(probe_ms, 0.99):>14.0f}  {answers(hits)}, stock {remaining}/{STOCK}"
        )


async def _outage(port, grabs):
    stop = asyncio.Event()
    probe = asyncio.create_task(health_probe(port, stop))
    hits = await fire_async(port, grabs, CONNECTIONS)
    stop.set()
    return hits, await probe


if __name__ == "__main__":
    run()
