import datetime
import threading

import pytest
import time_machine
from django.db import connection, transaction
from django.utils import timezone

from backend import wechat
from backend.exceptions import WeChatError
from members.models import Notification, NotificationState, SubscriptionGrant
from members.services.notifications import (
    NotificationPayloadError,
    NotificationRetryLater,
    coupons_expiring_digest_enqueue,
    notification_dispatch_pending,
    notification_enqueue,
    notification_message,
    notification_retry_failed,
    notification_send,
    subscription_answer_record,
)
from tests.factories import CampaignFactory, MemberFactory, SubscriptionGrantFactory
from tests.markers import requires_postgresql

REDEEMED_TEMPLATE = "tmpl-coupon-redeemed"
EXPIRING_TEMPLATE = "tmpl-coupons-expiring"
SEND_PATH = "/cgi-bin/message/subscribe/send"


def sends(wechat_sandbox):
    """How many subscribe-message calls reached the sandbox."""
    return wechat_sandbox.calls(SEND_PATH)


def redeemed_payload(**overrides):
    return {
        "coupon_id": 7,
        "campaign_name": "50 off 200",
        "store_name": "Futian Central",
        "discount_fen": 5000,
        "redeemed_at": datetime.datetime(2026, 3, 1, 2, 30, tzinfo=datetime.UTC),
        **overrides,
    }


def enqueue_redeemed(member, **payload):
    with transaction.atomic():
        return notification_enqueue(
            member_id=member.pk, event="coupon_redeemed", payload=redeemed_payload(**payload)
        )


@pytest.mark.django_db
def test_enqueue_writes_a_pending_row_with_the_event_and_payload(
    django_capture_on_commit_callbacks,
):
    member = MemberFactory()

    with django_capture_on_commit_callbacks():
        notification = enqueue_redeemed(member)

    notification.refresh_from_db()
    assert notification.state == NotificationState.PENDING
    assert notification.event == "coupon_redeemed"
    assert notification.template_id == REDEEMED_TEMPLATE
    assert notification.payload["store_name"] == "Futian Central"
    assert notification.payload["redeemed_at"] == "2026-03-01T02:30:00Z"


@pytest.mark.django_db
def test_notification_rolls_back_with_its_event(wechat_sandbox, django_capture_on_commit_callbacks):
    member = MemberFactory()
    SubscriptionGrantFactory(member=member, template_id=REDEEMED_TEMPLATE)

    with (
        django_capture_on_commit_callbacks(execute=True) as callbacks,
        pytest.raises(RuntimeError),
        transaction.atomic(),
    ):
        notification_enqueue(
            member_id=member.pk, event="coupon_redeemed", payload=redeemed_payload()
        )
        raise RuntimeError("the redemption failed after the notification was written")

    assert not Notification.objects.exists()
    assert callbacks == []
    assert sends(wechat_sandbox) == 0


@pytest.mark.django_db
def test_sending_waits_for_the_commit(wechat_sandbox, django_capture_on_commit_callbacks):
    member = MemberFactory()
    SubscriptionGrantFactory(member=member, template_id=REDEEMED_TEMPLATE)

    with django_capture_on_commit_callbacks() as callbacks:
        notification = enqueue_redeemed(member)
    assert sends(wechat_sandbox) == 0
    assert len(callbacks) == 1

    callbacks[0]()

    notification.refresh_from_db()
    assert notification.state == NotificationState.SENT
    assert notification.sent_at is not None
    [message] = wechat_sandbox.messages(touser=member.openid)
    assert message["template_id"] == REDEEMED_TEMPLATE
    assert message["data"]["thing2"] == {"value": "Futian Central"}
    assert message["data"]["amount3"] == {"value": "¥50.00"}
    assert message["data"]["time4"] == {"value": "2026-03-01 10:30"}


@pytest.mark.django_db(transaction=True)
def test_enqueue_outside_a_transaction_is_refused():
    member = MemberFactory()

    with pytest.raises(RuntimeError, match="inside the transaction"):
        notification_enqueue(member_id=member.pk, event="coupon_redeemed", payload={})

    assert not Notification.objects.exists()


@pytest.mark.django_db
def test_enqueue_refuses_a_payload_missing_a_template_key():
    member = MemberFactory()
    payload = redeemed_payload()
    del payload["store_name"]

    with pytest.raises(NotificationPayloadError, match="store_name"), transaction.atomic():
        notification_enqueue(member_id=member.pk, event="coupon_redeemed", payload=payload)


@pytest.mark.django_db
def test_enqueue_refuses_an_unknown_event():
    member = MemberFactory()

    with pytest.raises(ValueError), transaction.atomic():
        notification_enqueue(member_id=member.pk, event="birthday", payload={})


def test_message_fits_wechat_field_limits():
    _, data, page = notification_message(
        event="deal_order_paid",
        payload={
            "order_no": "D20260301000123",
            "deal_title": "One-cent eggs, a tray of thirty, while stocks last",
            "paid_fen": 1,
            "paid_at": "2026-03-01T02:30:00+00:00",
        },
    )

    assert data["thing2"]["value"] == "One-cent eggs, a tr…"
    assert len(data["thing2"]["value"]) == 20
    assert data["amount3"]["value"] == "¥0.01"
    assert data["time4"]["value"] == "2026-03-01 10:30"
    assert page == "pages/deals/order?order_no=D20260301000123"


@pytest.mark.django_db
def test_no_grant_left_skips_without_calling_wechat(
    wechat_sandbox, django_capture_on_commit_callbacks
):
    member = MemberFactory()

    with django_capture_on_commit_callbacks(execute=True):
        notification = enqueue_redeemed(member)

    notification.refresh_from_db()
    assert notification.state == NotificationState.SKIPPED_NO_GRANT
    assert "no grant" in notification.last_error
    assert sends(wechat_sandbox) == 0


@pytest.mark.django_db
def test_a_grant_is_used_by_one_message_only(wechat_sandbox, django_capture_on_commit_callbacks):
    member = MemberFactory()
    SubscriptionGrantFactory(member=member, template_id=REDEEMED_TEMPLATE, remaining=1)

    with django_capture_on_commit_callbacks(execute=True):
        first = enqueue_redeemed(member)
        second = enqueue_redeemed(member, coupon_id=8)

    states = set(
        Notification.objects.filter(pk__in=[first.pk, second.pk]).values_list("state", flat=True)
    )
    assert states == {NotificationState.SENT, NotificationState.SKIPPED_NO_GRANT}
    assert len(wechat_sandbox.messages()) == 1
    assert SubscriptionGrant.objects.get(member=member).remaining == 0


@pytest.mark.django_db
def test_sending_again_does_not_send_twice(wechat_sandbox, django_capture_on_commit_callbacks):
    member = MemberFactory()
    SubscriptionGrantFactory(member=member, template_id=REDEEMED_TEMPLATE, remaining=5)
    with django_capture_on_commit_callbacks(execute=True):
        notification = enqueue_redeemed(member)

    assert notification_send(notification_id=notification.pk) is None

    assert len(wechat_sandbox.messages()) == 1
    assert SubscriptionGrant.objects.get(member=member).remaining == 4


@pytest.mark.django_db
def test_user_refusal_is_recorded_not_retried_and_the_grant_given_back(wechat_sandbox):
    member = MemberFactory()
    SubscriptionGrantFactory(member=member, template_id=REDEEMED_TEMPLATE, remaining=1)
    notification = enqueue_redeemed(member)
    wechat_sandbox.fault("user_refused")

    state = notification_send(notification_id=notification.pk)

    notification.refresh_from_db()
    assert state == notification.state == NotificationState.SKIPPED_USER_REFUSED
    assert "43101" in notification.last_error
    assert notification.attempts == 1
    assert sends(wechat_sandbox) == 1
    assert SubscriptionGrant.objects.get(member=member).remaining == 1


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("fault", "code"),
    [
        ("rate_limited", "wechat_rate_limited"),
        ("http_500", "wechat_unavailable"),
        ("drop", "wechat_unavailable"),
    ],
)
def test_retryable_failure_puts_the_row_back_to_pending_with_a_later_attempt(
    wechat_sandbox, fault, code
):
    member = MemberFactory()
    SubscriptionGrantFactory(member=member, template_id=REDEEMED_TEMPLATE, remaining=1)
    notification = enqueue_redeemed(member)
    wechat_sandbox.fault(fault)

    with pytest.raises(NotificationRetryLater) as retry:
        notification_send(notification_id=notification.pk)

    notification.refresh_from_db()
    assert notification.state == NotificationState.PENDING
    assert notification.attempts == 1
    assert code in notification.last_error
    assert notification.next_attempt_at > timezone.now()
    assert retry.value.countdown > 0
    assert SubscriptionGrant.objects.get(member=member).remaining == 1


@pytest.mark.django_db
def test_gives_up_after_the_last_attempt(wechat_sandbox, settings):
    settings.NOTIFICATION_MAX_ATTEMPTS = 2
    member = MemberFactory()
    SubscriptionGrantFactory(member=member, template_id=REDEEMED_TEMPLATE, remaining=1)
    notification = enqueue_redeemed(member)
    wechat_sandbox.fault("http_500", count=2)

    with pytest.raises(NotificationRetryLater):
        notification_send(notification_id=notification.pk)
    state = notification_send(notification_id=notification.pk)

    notification.refresh_from_db()
    assert state == notification.state == NotificationState.FAILED
    assert notification.last_error.startswith("gave up after 2 attempts")
    assert sends(wechat_sandbox) == 2
    assert SubscriptionGrant.objects.get(member=member).remaining == 1


@pytest.mark.django_db
def test_unexpected_wechat_error_fails_without_retry(monkeypatch):
    member = MemberFactory()
    SubscriptionGrantFactory(member=member, template_id=REDEEMED_TEMPLATE, remaining=1)
    notification = enqueue_redeemed(member)

    def template_deleted_in_the_console(**kwargs):
        raise WeChatError(errcode=40037)

    monkeypatch.setattr(wechat, "wechat_subscribe_message_send", template_deleted_in_the_console)

    state = notification_send(notification_id=notification.pk)

    notification.refresh_from_db()
    assert state == notification.state == NotificationState.FAILED
    assert "40037" in notification.last_error
    assert SubscriptionGrant.objects.get(member=member).remaining == 1


@pytest.mark.django_db
def test_dispatcher_closes_a_send_abandoned_by_a_dead_worker_without_resending(
    wechat_sandbox, settings
):
    member = MemberFactory()
    SubscriptionGrantFactory(member=member, template_id=REDEEMED_TEMPLATE, remaining=0)
    notification = enqueue_redeemed(member)
    claimed_at = timezone.now() - datetime.timedelta(
        seconds=settings.NOTIFICATION_SENDING_TIMEOUT_SECONDS + 1
    )
    Notification.objects.filter(pk=notification.pk).update(
        state=NotificationState.SENDING, claimed_at=claimed_at, attempts=1
    )

    result = notification_dispatch_pending()

    notification.refresh_from_db()
    assert result.abandoned == 1
    assert notification.state == NotificationState.FAILED
    assert "unknown" in notification.last_error
    assert sends(wechat_sandbox) == 0
    assert SubscriptionGrant.objects.get(member=member).remaining == 1


@pytest.mark.django_db
def test_dispatcher_leaves_a_send_in_progress_alone(wechat_sandbox):
    member = MemberFactory()
    notification = enqueue_redeemed(member)
    Notification.objects.filter(pk=notification.pk).update(
        state=NotificationState.SENDING, claimed_at=timezone.now()
    )

    result = notification_dispatch_pending()

    notification.refresh_from_db()
    assert result.abandoned == 0
    assert notification.state == NotificationState.SENDING


@pytest.mark.django_db
def test_dispatcher_sends_pending_rows_only_after_the_grace_period(wechat_sandbox, settings):
    member = MemberFactory()
    SubscriptionGrantFactory(member=member, template_id=REDEEMED_TEMPLATE, remaining=1)
    notification = enqueue_redeemed(member)  # no commit callbacks: its message never left
    later = timezone.now() + datetime.timedelta(
        seconds=settings.NOTIFICATION_DISPATCH_GRACE_SECONDS + 1
    )

    early = notification_dispatch_pending()
    on_time = notification_dispatch_pending(now=later)
    again = notification_dispatch_pending(now=later)

    notification.refresh_from_db()
    assert (early.published, on_time.published, again.published) == (0, 1, 0)
    assert notification.state == NotificationState.SENT
    assert len(wechat_sandbox.messages()) == 1


@pytest.mark.django_db
def test_retry_failed_sends_failed_ones_again(wechat_sandbox, django_capture_on_commit_callbacks):
    member = MemberFactory()
    SubscriptionGrantFactory(member=member, template_id=REDEEMED_TEMPLATE, remaining=2)
    failed = enqueue_redeemed(member)
    sent = enqueue_redeemed(member)
    Notification.objects.filter(pk=failed.pk).update(state=NotificationState.FAILED, attempts=5)
    Notification.objects.filter(pk=sent.pk).update(state=NotificationState.SENT)

    with django_capture_on_commit_callbacks(execute=True):
        count = notification_retry_failed(notification_ids=[failed.pk, sent.pk])

    failed.refresh_from_db()
    assert count == 1
    assert failed.state == NotificationState.SENT
    assert failed.attempts == 1
    assert len(wechat_sandbox.messages()) == 1


# --- Grants --------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_each_acceptance_adds_one_grant():
    member = MemberFactory()

    subscription_answer_record(member_id=member.pk, accepted=[REDEEMED_TEMPLATE])
    subscription_answer_record(
        member_id=member.pk, accepted=[REDEEMED_TEMPLATE], rejected=[EXPIRING_TEMPLATE]
    )

    grant = SubscriptionGrant.objects.get(member=member)
    assert (grant.template_id, grant.remaining, grant.accepted_total) == (REDEEMED_TEMPLATE, 2, 2)


@pytest.mark.django_db
def test_unknown_template_ids_are_refused_and_nothing_recorded():
    from django.core.exceptions import ValidationError

    member = MemberFactory()

    with pytest.raises(ValidationError) as error:
        subscription_answer_record(member_id=member.pk, accepted=[REDEEMED_TEMPLATE, "forged"])

    assert "forged" in str(error.value.message_dict["accepted"])
    assert not SubscriptionGrant.objects.exists()


# --- Coupons-expiring digest -------------------------------------------------------------------


def claim_coupon(member, *, valid_until, name="Fresh fruit 10 off"):
    from coupons.models import Coupon, CouponSource

    campaign = CampaignFactory(name=name)
    return Coupon.objects.create(
        campaign=campaign,
        member=member,
        source=CouponSource.CLAIM,
        valid_from=valid_until - datetime.timedelta(days=7),
        valid_until=valid_until,
    )


@pytest.mark.django_db
@time_machine.travel(datetime.datetime(2026, 3, 1, 2, 0, tzinfo=datetime.UTC), tick=False)
def test_digest_is_one_message_per_member_per_day(
    wechat_sandbox, django_capture_on_commit_callbacks
):
    now = timezone.now()
    member, other, no_grant, far = MemberFactory.create_batch(4)
    for m in (member, other, far):
        SubscriptionGrantFactory(member=m, template_id=EXPIRING_TEMPLATE, remaining=3)
    claim_coupon(member, valid_until=now + datetime.timedelta(days=2), name="Later")
    claim_coupon(member, valid_until=now + datetime.timedelta(days=1), name="Soonest")
    claim_coupon(member, valid_until=now + datetime.timedelta(days=3, hours=-1))
    claim_coupon(member, valid_until=now - datetime.timedelta(hours=1))  # already expired
    claim_coupon(other, valid_until=now + datetime.timedelta(hours=5))
    claim_coupon(no_grant, valid_until=now + datetime.timedelta(hours=5))
    claim_coupon(far, valid_until=now + datetime.timedelta(days=10))

    with django_capture_on_commit_callbacks(execute=True):
        written = coupons_expiring_digest_enqueue(now=now)
        written_again = coupons_expiring_digest_enqueue(now=now + datetime.timedelta(hours=2))

    assert (written, written_again) == (2, 0)
    digest = Notification.objects.get(member=member)
    assert digest.payload["count"] == 3
    assert digest.payload["campaign_name"] == "Soonest and 2 more"
    assert digest.state == NotificationState.SENT
    assert {m["touser"] for m in wechat_sandbox.messages()} == {member.openid, other.openid}


@pytest.mark.django_db
def test_digest_comes_again_the_next_day(wechat_sandbox, django_capture_on_commit_callbacks):
    member = MemberFactory()
    SubscriptionGrantFactory(member=member, template_id=EXPIRING_TEMPLATE, remaining=3)
    with time_machine.travel(datetime.datetime(2026, 3, 1, 2, 0, tzinfo=datetime.UTC), tick=False):
        now = timezone.now()
        claim_coupon(member, valid_until=now + datetime.timedelta(days=2))
        with django_capture_on_commit_callbacks(execute=True):
            first = coupons_expiring_digest_enqueue(now=now)
            second = coupons_expiring_digest_enqueue(now=now + datetime.timedelta(days=1))

    assert (first, second) == (1, 1)
    assert set(Notification.objects.values_list("dedupe_key", flat=True)) == {
        "2026-03-01",
        "2026-03-02",
    }


# --- Races (PostgreSQL) --------------------------------------------------------------------------


def run_in_threads(count, target):
    barrier = threading.Barrier(count)
    results, errors = [], []

    def run():
        try:
            barrier.wait()
            results.append(target())
        except Exception as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    return results


@requires_postgresql
@pytest.mark.django_db(transaction=True)
def test_two_workers_picking_the_same_notification_send_it_once(wechat_sandbox):
    member = MemberFactory()
    SubscriptionGrantFactory(member=member, template_id=REDEEMED_TEMPLATE, remaining=5)
    # Rows written directly: enqueueing would send them at commit, before the race.
    notifications = [
        Notification.objects.create(
            member=member,
            event="coupon_redeemed",
            template_id=REDEEMED_TEMPLATE,
            payload=redeemed_payload(coupon_id=coupon_id),
        )
        for coupon_id in range(10)
    ]

    for notification in notifications:
        run_in_threads(2, lambda n=notification: notification_send(notification_id=n.pk))

    states = list(Notification.objects.values_list("state", flat=True))
    assert states.count(NotificationState.SENT) == 5
    assert states.count(NotificationState.SKIPPED_NO_GRANT) == 5
    assert len(wechat_sandbox.messages()) == 5
    assert SubscriptionGrant.objects.get(member=member).remaining == 0


@requires_postgresql
@pytest.mark.django_db(transaction=True)
def test_concurrent_acceptances_are_all_counted():
    member = MemberFactory()

    run_in_threads(
        8,
        lambda: subscription_answer_record(member_id=member.pk, accepted=[REDEEMED_TEMPLATE]),
    )

    assert SubscriptionGrant.objects.get(member=member).remaining == 8


@pytest.mark.django_db
def test_demo_seed_tops_grants_up_without_lowering_them():
    from members import demo as notification_demo

    member = MemberFactory()
    SubscriptionGrantFactory(member=member, template_id=REDEEMED_TEMPLATE, remaining=9)

    notification_demo.seed()
    notification_demo.seed()

    grants = dict(
        SubscriptionGrant.objects.filter(member=member).values_list("template_id", "remaining")
    )
    assert grants[REDEEMED_TEMPLATE] == 9
    assert grants[EXPIRING_TEMPLATE] == notification_demo.GRANTS
