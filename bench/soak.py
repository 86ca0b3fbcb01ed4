"""Notification soak: 10,000 events, two real Celery workers, one killed with SIGKILL midway.

``make soak`` (``python -m bench.soak``). Needs PostgreSQL and a broker on this machine; it
starts its own WeChat sandbox and workers, and uses its own database (dropped and created
again), so it never touches development data.

Environment: ``SOAK_DATABASE_URL`` (default ``postgres://postgres@127.0.0.1:5432/soak_notifications``),
``SOAK_BROKER_URL`` (default ``CELERY_BROKER_URL``, else RabbitMQ on 127.0.0.1),
``SOAK_EVENTS`` (10000), ``SOAK_WORKER_CONCURRENCY`` (2).

The sandbox's message list is the ground truth. At the end it prints: events; sent (distinct
messages in the sandbox); skipped; failed; sent twice (one event's message more than once in
the sandbox, must be 0); lost (an event with no message and no recorded reason: still pending
or sending, or marked sent but absent from the sandbox; must be 0); throughput.
"""

import collections
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parents[1]
EVENTS = int(os.environ.get("SOAK_EVENTS", "10000"))
MEMBERS = max(EVENTS // 5, 1)
CONCURRENCY = os.environ.get("SOAK_WORKER_CONCURRENCY", "2")
DATABASE_URL = os.environ.get(
    "SOAK_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/soak_notifications"
)
BROKER_URL = os.environ.get("SOAK_BROKER_URL") or os.environ.get(
    "CELERY_BROKER_URL", "amqp://guest:guest@127.0.0.1:5672//"
)
# Shorter than production, so that the soak does not wait two minutes for abandoned sends;
# still above the send task's hard time limit (30 s).
SENDING_TIMEOUT_SECONDS = "35"
DISPATCH_GRACE_SECONDS = "10"
DISPATCH_EVERY_SECONDS = 5.0
DEADLINE_SECONDS = 900
QUEUE = "soak-notifications"  # its own queue, emptied before and after


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def recreate_database(url: str) -> None:
    import psycopg

    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    admin = parts._replace(path="/postgres").geturl()
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


def sandbox_get(root: str, path: str):
    with urllib.request.urlopen(root + path, timeout=30) as response:  # noqa: S310 (local)
        return json.loads(response.read())


def wait_for_port(port: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.1)
    raise SystemExit(f"nothing listens on port {port}")


def main() -> None:
    recreate_database(DATABASE_URL)
    sandbox_port = free_port()
    sandbox_root = f"http://127.0.0.1:{sandbox_port}/"
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "backend.settings",
        "DJANGO_DEBUG": "false",
        "SECRET_KEY": "soak-only-not-a-secret-0123456789abcdefghijklmnopqrstuvwxyz",
        "ALLOWED_HOSTS": "127.0.0.1",
        "WECHAT_APPID": "wx-sandbox-appid",
        "WECHAT_SECRET": "sandbox-secret",
        "WECHAT_PAY_MCH_ID": "1900000109",
        "WECHAT_PAY_API_KEY": "sandbox-pay-api-key-0123456789abcd",
        "WECHAT_PAY_NOTIFY_URL": "http://127.0.0.1:8000/api/payments/wechat/notify",
        "DATABASE_URL": DATABASE_URL,
        "CELERY_BROKER_URL": BROKER_URL,
        "CELERY_TASK_DEFAULT_QUEUE": QUEUE,
        "WECHAT_API_ROOT": sandbox_root,
        "NOTIFICATION_SENDING_TIMEOUT_SECONDS": SENDING_TIMEOUT_SECONDS,
        "NOTIFICATION_DISPATCH_GRACE_SECONDS": DISPATCH_GRACE_SECONDS,
        "LOG_LEVEL": "WARNING",
    }
    os.environ.update(env)

    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)

    sandbox = subprocess.Popen(
        [sys.executable, "-m", "backend.wechat_sandbox", "--port", str(sandbox_port), "--quiet"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
    )
    wait_for_port(sandbox_port)
    workers: dict[str, subprocess.Popen] = {}
    logs = ROOT / "bench" / "out" / "soak"
    logs.mkdir(parents=True, exist_ok=True)

    def start_worker(name: str) -> None:
        log = (logs / f"{name}.log").open("ab")
        workers[name] = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "backend",
                "worker",
                f"--hostname={name}@%h",
                f"--concurrency={CONCURRENCY}",
                "--without-gossip",
                "--without-mingle",
                "--loglevel=WARNING",
            ],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: SIGKILL reaches the pool too
        )

    try:
        run(sandbox_root, start_worker, workers)
    finally:
        for worker in workers.values():
            if worker.poll() is None:
                os.killpg(worker.pid, signal.SIGTERM)
        for worker in workers.values():
            try:
                worker.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(worker.pid, signal.SIGKILL)
        sandbox.terminate()
        sandbox.wait()


def run(sandbox_root, start_worker, workers) -> None:
    from django.db import transaction

    from backend.celery import app as celery_app

    def purge_queue():
        # RabbitMQ refuses to purge a queue that does not exist yet (the first run).
        with celery_app.connection_for_write() as conn, contextlib.suppress(Exception):
            conn.default_channel.queue_purge(QUEUE)

    purge_queue()
    from members.models import Member, Notification, NotificationState, SubscriptionGrant
    from members.services.notifications import notification_dispatch_pending, notification_enqueue

    members = Member.objects.bulk_create(
        [
            Member(member_no=f"9{n:09d}", openid=f"soak-openid-{n}", nickname=f"soak {n}")
            for n in range(MEMBERS)
        ]
    )
    per_member = -(-EVENTS // MEMBERS)
    SubscriptionGrant.objects.bulk_create(
        [
            SubscriptionGrant(member=m, template_id="tmpl-coupon-redeemed", remaining=per_member)
            for m in members
        ]
    )
    print(f"soak: {EVENTS} events for {MEMBERS} members, broker {urlsplit(BROKER_URL).scheme}")

    start_worker("soak1")
    start_worker("soak2")

    send_path = "/cgi-bin/message/subscribe/send"
    started = time.monotonic()
    killed = restarted = False
    last_dispatch = 0.0

    def sandbox_sends() -> int:
        return sandbox_get(sandbox_root, "sandbox/stats")["calls"].get(send_path, 0)

    def kill_midway() -> None:
        nonlocal killed, restarted
        if not killed and sandbox_sends() >= EVENTS // 2:
            os.killpg(workers["soak1"].pid, signal.SIGKILL)
            workers["soak1"].wait()
            killed = True
            print(f"soak: SIGKILL soak1 at {time.monotonic() - started:.1f}s")
            time.sleep(2)
        if killed and not restarted:
            start_worker("soak1")
            restarted = True
            print(f"soak: soak1 restarted at {time.monotonic() - started:.1f}s")

    def dispatch() -> None:
        nonlocal last_dispatch
        if time.monotonic() - last_dispatch >= DISPATCH_EVERY_SECONDS:
            notification_dispatch_pending()  # what beat would run every minute
            last_dispatch = time.monotonic()

    batch = 250
    for first in range(0, EVENTS, batch):
        with transaction.atomic():
            for i in range(first, min(first + batch, EVENTS)):
                member = members[i % MEMBERS]
                notification_enqueue(
                    member_id=member.pk,
                    event="coupon_redeemed",
                    payload={
                        "coupon_id": i,
                        "campaign_name": f"soak {i}",
                        "store_name": "Soak store",
                        "discount_fen": 500,
                        "redeemed_at": "2026-03-01T10:00:00+08:00",
                    },
                )
        kill_midway()
    enqueued_in = time.monotonic() - started
    print(f"soak: {EVENTS} events written and published in {enqueued_in:.1f}s")

    open_states = [NotificationState.PENDING, NotificationState.SENDING]
    while time.monotonic() - started < DEADLINE_SECONDS:
        kill_midway()
        dispatch()
        if not Notification.objects.filter(state__in=open_states).exists():
            break
        time.sleep(0.5)
    finished_in = time.monotonic() - started

    purge_queue()  # what is left are the dispatcher's repeats of rows already finished
    report(sandbox_root, finished_in, killed)


def report(sandbox_root: str, finished_in: float, killed: bool) -> None:
    from datetime import datetime

    from members.models import Notification, NotificationState

    messages = sandbox_get(sandbox_root, "sandbox/messages")
    per_event = collections.Counter(m["data"]["thing1"]["value"] for m in messages)
    states = dict(Notification.objects.values_list("payload__campaign_name", "state").iterator())
    reasons = collections.Counter(
        Notification.objects.filter(state=NotificationState.FAILED)
        .values_list("last_error", flat=True)
        .iterator()
    )
    counts = collections.Counter(states.values())
    skipped = (
        counts[NotificationState.SKIPPED_NO_GRANT] + counts[NotificationState.SKIPPED_USER_REFUSED]
    )
    sent_twice = sum(1 for n in per_event.values() if n > 1)
    open_left = counts[NotificationState.PENDING] + counts[NotificationState.SENDING]
    sent_missing = sum(
        1
        for key, state in states.items()
        if state == NotificationState.SENT and key not in per_event
    )
    failed_but_delivered = sum(
        1 for key, state in states.items() if state == NotificationState.FAILED and key in per_event
    )
    lost = open_left + sent_missing
    times = sorted(datetime.fromisoformat(m["received_at"]) for m in messages)
    span = (times[-1] - times[0]).total_seconds() if len(times) > 1 else 0.0

    print()
    print(f"events       {len(states)}")
    print(f"sent         {len(per_event)}  (distinct messages in the sandbox)")
    print(f"  recorded sent in the database: {counts[NotificationState.SENT]}")
    print(f"skipped      {skipped}")
    print(f"failed       {counts[NotificationState.FAILED]}")
    for reason, n in reasons.most_common():
        print(f"  {n} × {reason}")
    if failed_but_delivered:
        print(f"  of which WeChat (the sandbox) had received: {failed_but_delivered}")
    print(f"sent twice   {sent_twice}")
    print(
        f"lost         {lost}  (left open: {open_left};"
        f" recorded sent, not received: {sent_missing})"
    )
    print(
        f"throughput   {len(messages) / span if span else 0:.0f} msgs/s "
        f"({len(messages)} messages in {span:.1f}s; all settled after {finished_in:.1f}s)"
    )
    print(f"worker killed midway: {'yes' if killed else 'no'}")
    if sent_twice or lost:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
