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
    fire_async,
    health_probe,
    percentile,
    raw_request,
    setup_django,
)
from bench.deals import DATABASE_URL, REDIS_URL, bench_deal, bench_member_tokens

GRABS = int(os.environ.get("BENCH_OUTAGE_GRABS", "60"))
CONNECTIONS = 16
STOCK = 100
TIMEOUT_SECONDS = 3


def run():
    print(
        f"\nWeChat Pay hanging: {GRABS} grabs at {CONNECTIONS} connections, gunicorn {WORKERS} x "
        f"sync, WeChat timeout {TIMEOUT_SECONDS} s"
    )
    print(f"{'breaker':<22}{'seconds':>9}{'probe p50 ms':>14}{'probe p99 ms':>14}  answers, stock")
    for label, failures in (("on (5 failures, 5 s)", "5"), ("off", "0")):
        _run_once(label, failures)


def _run_once(label: str, failures: str) -> None:
    server = Server(
        workers=WORKERS,
        env={
            "DATABASE_URL": DATABASE_URL,
            "REDIS_URL": REDIS_URL,
            "WECHAT_TIMEOUT_SECONDS": str(TIMEOUT_SECONDS),
            "WECHAT_BREAKER_FAILURES": failures,
            "WECHAT_BREAKER_SECONDS": "5",
        },
        seed=False,
    )
    with server:
        setup_django(server.env)
        from backend.wechat_sandbox.control import SandboxControl
        from coupons.models import FlashDeal

        deal = bench_deal("outage", STOCK)
        grabs = [
            raw_request("POST", f"/api/deals/{deal.pk}/grab", token)
            for token in bench_member_tokens(GRABS)
        ]
        SandboxControl(f"http://127.0.0.1:{server.sandbox_port}/").fault(
            "delay", count=10 * GRABS, path="/pay/unifiedorder", delay_s=3 * TIMEOUT_SECONDS
        )
        started = time.perf_counter()
        hits, probe = asyncio.run(_outage(server.port, grabs))
        seconds = time.perf_counter() - started
        answers = {}
        for hit in hits:
            key = f"{hit.status} {hit.code or ''}".strip()
            answers[key] = answers.get(key, 0) + 1
        remaining = FlashDeal.objects.values_list("remaining_stock", flat=True).get(pk=deal.pk)
        probe_ms = [hit.ms for hit in probe]
        print(
            f"{label:<22}{seconds:>9.1f}{percentile(probe_ms, 0.5):>14.0f}"
            f"{percentile(probe_ms, 0.99):>14.0f}  {answers}, stock {remaining}/{STOCK}"
        )


async def _outage(port, grabs):
    stop = asyncio.Event()
    probe = asyncio.create_task(health_probe(port, stop))
    hits = await fire_async(port, grabs, CONNECTIONS)
    stop.set()
    return hits, await probe


if __name__ == "__main__":
    run()
