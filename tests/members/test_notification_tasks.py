"""The Celery tasks, run eagerly (the embedded default): retries, dispatcher, digest."""

import datetime

import pytest
import time_machine
from celery.schedules import crontab
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from backend.celery import app as celery_app
from coupons.models import Coupon
from members.models import Notification, NotificationState, SubscriptionGrant
from members.services.notifications import notification_enqueue
from members.tasks import (
    coupons_expiring_digest_task,
    notification_dispatch_pending_task,
    notification_send_task,
)
from tests.factories import CampaignFactory, MemberFactory, SubscriptionGrantFactory

SEND_PATH = "/cgi-bin/message/subscribe/send"
PAYLOAD = {
    "coupon_id": 1,
    "campaign_name": "10 off 50",
    "store_name": "Nanshan",
    "discount_fen": 1000,
    "redeemed_at": "2026-03-01T10:00:00+08:00",
}


def pending_notification(member):
    with transaction.atomic():
        return notification_enqueue(member_id=member.pk, event="coupon_redeemed", payload=PAYLOAD)


@pytest.fixture
def granted_member():
    member = MemberFactory()
    SubscriptionGrantFactory(member=member, template_id="tmpl-coupon-redeemed", remaining=1)
    return member


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("fault", "attempts", "calls"),
    [
        ("rate_limited", 3, 3),  # 45011
        ("http_500", 3, 3),
        ("drop", 3, 3),  # the connection is lost before WeChat answers
        ("invalid_token", 2, 3),  # the gateway refreshes the token and tries once more itself
    ],
)
def test_send_task_retries_a_passing_failure_then_sends(
    wechat_sandbox, granted_member, fault, attempts, calls
):
    notification = pending_notification(granted_member)
    wechat_sandbox.fault(fault, count=2)

    notification_send_task.delay(notification.pk)

    notification.refresh_from_db()
    assert notification.state == NotificationState.SENT
    assert notification.attempts == attempts
    assert wechat_sandbox.calls(SEND_PATH) == calls
    assert len(wechat_sandbox.messages(touser=granted_member.openid)) == 1
    assert SubscriptionGrant.objects.get(member=granted_member).remaining == 0


@pytest.mark.django_db
def test_send_task_does_not_retry_a_refusal(wechat_sandbox, granted_member):
    notification = pending_notification(granted_member)
    wechat_sandbox.fault("user_refused", count=3)

    notification_send_task.delay(notification.pk)

    notification.refresh_from_db()
    assert notification.state == NotificationState.SKIPPED_USER_REFUSED
    assert wechat_sandbox.calls(SEND_PATH) == 1


@pytest.mark.django_db
def test_send_task_fails_with_the_reason_after_the_last_attempt(wechat_sandbox, granted_member):
    notification = pending_notification(granted_member)
    wechat_sandbox.fault("http_500", count=settings.NOTIFICATION_MAX_ATTEMPTS)

    notification_send_task.delay(notification.pk)

    notification.refresh_from_db()
    assert notification.state == NotificationState.FAILED
    assert notification.attempts == settings.NOTIFICATION_MAX_ATTEMPTS
    assert "wechat_unavailable" in notification.last_error
    assert wechat_sandbox.messages() == []


@pytest.mark.django_db
def test_send_task_for_a_missing_row_does_nothing(wechat_sandbox):
    assert notification_send_task.delay(987654).get() is None
    assert wechat_sandbox.calls(SEND_PATH) == 0


@pytest.mark.django_db
def test_dispatch_task_sends_what_was_left_pending(wechat_sandbox, granted_member):
    notification = pending_notification(granted_member)  # its commit callback never ran
    Notification.objects.filter(pk=notification.pk).update(
        next_attempt_at=timezone.now() - datetime.timedelta(minutes=5)
    )

    result = notification_dispatch_pending_task.delay().get()

    notification.refresh_from_db()
    assert result == {"abandoned": 0, "published": 1}
    assert notification.state == NotificationState.SENT


@pytest.mark.django_db
@time_machine.travel(datetime.datetime(2026, 3, 1, 2, 0, tzinfo=datetime.UTC), tick=False)
def test_digest_task_writes_todays_digests(wechat_sandbox, django_capture_on_commit_callbacks):
    member = MemberFactory()
    SubscriptionGrantFactory(member=member, template_id="tmpl-coupons-expiring", remaining=1)
    now = timezone.now()
    Coupon.objects.create(
        campaign=CampaignFactory(),
        member=member,
        valid_from=now,
        valid_until=now + datetime.timedelta(days=1),
    )

    with django_capture_on_commit_callbacks(execute=True):
        written = coupons_expiring_digest_task.delay().get()

    assert written == 1
    assert Notification.objects.get().dedupe_key == "2026-03-01"
    assert len(wechat_sandbox.messages(touser=member.openid)) == 1


def test_every_periodic_task_is_registered_with_a_schedule():
    # What a worker does at start: import every app's tasks module (autodiscovery).
    celery_app.loader.import_default_modules()
    schedule = settings.CELERY_BEAT_SCHEDULE

    for entry in schedule.values():
        assert entry["task"] in celery_app.tasks
    assert schedule["notifications-dispatch-pending"]["schedule"] == 60.0
    digest = schedule["notifications-coupons-expiring-digest"]["schedule"]
    assert digest == crontab(hour=10, minute=0)
    assert settings.CELERY_TIMEZONE == "Asia/Shanghai"


def test_send_task_survives_a_worker_crash_and_has_time_limits():
    assert notification_send_task.acks_late is True
    assert notification_send_task.reject_on_worker_lost is True
    assert notification_send_task.time_limit < settings.NOTIFICATION_SENDING_TIMEOUT_SECONDS
