"""Notifications through a real broker and a real Celery worker process.

The broker is ``CELERY_TEST_BROKER_URL`` (default: RabbitMQ on this machine); these tests skip
when nothing answers there. The worker runs ``celery -A backend worker`` against the test
database (PostgreSQL: a separate process cannot see SQLite's in-memory test database) and the
session's WeChat sandbox.
"""

import contextlib
import datetime
import os
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from backend.celery import app as celery_app
from members.models import Notification, NotificationState
from members.services import notifications as notification_services
from members.services.notifications import notification_dispatch_pending, notification_enqueue
from tests.factories import MemberFactory, SubscriptionGrantFactory
from tests.markers import requires_postgresql

BROKER_URL = os.environ.get("CELERY_TEST_BROKER_URL", "amqp://guest:guest@127.0.0.1:5672//")
DEAD_BROKER_URL = "redis://127.0.0.1:1/0"  # nothing listens on port 1
ROOT = Path(__file__).resolve().parents[2]
PAYLOAD = {
    "coupon_id": 1,
    "campaign_name": "10 off 50",
    "store_name": "Nanshan",
    "discount_fen": 1000,
    "redeemed_at": "2026-03-01T10:00:00+08:00",
}


def _broker_answers(url: str) -> bool:
    parts = urlsplit(url)
    default_port = {"amqp": 5672, "pyamqp": 5672, "redis": 6379}.get(parts.scheme, 0)
    try:
        with socket.create_connection((parts.hostname, parts.port or default_port), timeout=0.5):
            return True
    except OSError:
        return False


requires_broker = pytest.mark.skipif(
    not _broker_answers(BROKER_URL),
    reason=f"needs a Celery broker at {BROKER_URL} (set CELERY_TEST_BROKER_URL)",
)


def _forget_broker_connections():
    # Not closed: kombu shares pools between apps per connection, and reuses closed ones.
    celery_app._pool = None
    celery_app.amqp._producer_pool = None


def _route_tasks_to(queue: str | None):
    celery_app.conf.task_routes = {"members.tasks.*": {"queue": queue}} if queue else None
    celery_app.amqp.__dict__.pop("router", None)  # a cached property, built from task_routes
    celery_app.amqp._rtable = None


@contextlib.contextmanager
def publishing_to(broker_url: str, queue: str | None = None):
    """Make this process publish tasks to ``broker_url`` (and ``queue``), not run them eagerly."""
    conf = celery_app.conf
    saved = (conf.broker_url, conf.task_always_eager)
    conf.broker_url, conf.task_always_eager = broker_url, False
    _forget_broker_connections()
    _route_tasks_to(queue)
    try:
        yield
    finally:
        conf.broker_url, conf.task_always_eager = saved
        _forget_broker_connections()
        _route_tasks_to(None)
        notification_services._broker_down_until = 0.0


def enqueue_redeemed(member):
    with transaction.atomic():
        return notification_enqueue(member_id=member.pk, event="coupon_redeemed", payload=PAYLOAD)


def granted_members(count):
    members = MemberFactory.create_batch(count)
    for member in members:
        SubscriptionGrantFactory(member=member, template_id="tmpl-coupon-redeemed", remaining=1)
    return members


def after_grace():
    return timezone.now() + datetime.timedelta(
        seconds=settings.NOTIFICATION_DISPATCH_GRACE_SECONDS + 1
    )


def wait_until_finished(ids, timeout=45.0):
    deadline = time.monotonic() + timeout
    open_states = (NotificationState.PENDING, NotificationState.SENDING)
    while time.monotonic() < deadline:
        if not Notification.objects.filter(pk__in=ids, state__in=open_states).exists():
            return
        time.sleep(0.2)
    states = dict(Notification.objects.filter(pk__in=ids).values_list("pk", "state"))
    pytest.fail(f"notifications not finished after {timeout}s: {states}")


@pytest.fixture
def worker_queue():
    """A queue of this test's own: a shared broker may hold other runs' tasks."""
    return f"test-notifications-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def celery_worker_process(wechat_sandbox, tmp_path, worker_queue):
    """A real ``celery -A backend worker`` on the test broker, the test database and sandbox."""
    db = connection.settings_dict
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "backend.settings",
        "DJANGO_DEBUG": "true",
        "DATABASE_URL": (
            f"postgres://{db['USER']}:{db['PASSWORD'] or ''}@{db['HOST'] or '127.0.0.1'}:"
            f"{db['PORT'] or 5432}/{db['NAME']}"
        ),
        "CELERY_BROKER_URL": BROKER_URL,
        "CELERY_TASK_DEFAULT_QUEUE": worker_queue,
        "WECHAT_API_ROOT": wechat_sandbox.root,
        "WECHAT_TIMEOUT_SECONDS": "2",
        "REDIS_URL": settings.REDIS_URL,
        "DATABASE_CONN_MAX_AGE": "0",
    }
    log = (tmp_path / "worker.log").open("wb")
    worker = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "backend",
            "worker",
            "--pool=threads",
            "--concurrency=2",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
            "--loglevel=WARNING",
        ],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        yield worker
    finally:
        worker.terminate()
        try:
            worker.wait(timeout=15)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait()
        log.close()
        output = (tmp_path / "worker.log").read_text(errors="replace")
        if "Traceback" in output:
            print(output[-4000:], file=sys.stderr)  # the worker's errors, in pytest's report


@pytest.mark.django_db
def test_events_while_the_broker_is_down_stay_pending_then_the_dispatcher_sends_each_once(
    wechat_sandbox, django_capture_on_commit_callbacks
):
    members = granted_members(3)

    with publishing_to(DEAD_BROKER_URL), django_capture_on_commit_callbacks(execute=True):
        notifications = [enqueue_redeemed(member) for member in members]

    ids = [n.pk for n in notifications]
    assert set(Notification.objects.filter(pk__in=ids).values_list("state", flat=True)) == {
        NotificationState.PENDING
    }
    assert wechat_sandbox.messages() == []

    # The broker is back (eager here: the next test uses a real one).
    first = notification_dispatch_pending(now=after_grace())
    second = notification_dispatch_pending(now=after_grace())

    assert (first.published, second.published) == (3, 0)
    assert set(Notification.objects.filter(pk__in=ids).values_list("state", flat=True)) == {
        NotificationState.SENT
    }
    received = sorted(m["touser"] for m in wechat_sandbox.messages())
    assert received == sorted(m.openid for m in members)


@requires_postgresql
@requires_broker
@pytest.mark.django_db(transaction=True)
def test_a_real_worker_sends_an_enqueued_notification(
    wechat_sandbox, celery_worker_process, worker_queue
):
    [member] = granted_members(1)

    with publishing_to(BROKER_URL, worker_queue):
        notification = enqueue_redeemed(member)
        wait_until_finished([notification.pk])

    notification.refresh_from_db()
    assert notification.state == NotificationState.SENT
    [message] = wechat_sandbox.messages(touser=member.openid)
    assert message["template_id"] == "tmpl-coupon-redeemed"
    assert message["data"]["thing2"] == {"value": "Nanshan"}


@requires_postgresql
@requires_broker
@pytest.mark.django_db(transaction=True)
def test_broker_down_then_back_every_notification_sent_once_by_a_real_worker(
    wechat_sandbox, celery_worker_process, worker_queue
):
    members = granted_members(5)

    with publishing_to(DEAD_BROKER_URL):
        notifications = [enqueue_redeemed(member) for member in members]
    ids = [n.pk for n in notifications]
    assert Notification.objects.filter(pk__in=ids, state=NotificationState.PENDING).count() == 5

    with publishing_to(BROKER_URL, worker_queue):
        result = notification_dispatch_pending(now=after_grace())
        wait_until_finished(ids)
        again = notification_dispatch_pending(now=after_grace())

    assert (result.published, again.published) == (5, 0)
    assert Notification.objects.filter(pk__in=ids, state=NotificationState.SENT).count() == 5
    received = sorted(m["touser"] for m in wechat_sandbox.messages())
    assert received == sorted(m.openid for m in members)
