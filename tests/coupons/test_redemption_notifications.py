"""Redeeming a coupon tells the member, through the notification outbox."""

import pytest
from django.db import transaction

from coupons.models import Redemption
from coupons.services.coupons import redemption_create
from members.models import Notification, NotificationEvent, NotificationState
from tests.coupons.conftest import code_for
from tests.factories import CouponFactory, SubscriptionGrantFactory


def _redeem(staff, coupon, key="k1"):
    return redemption_create(
        staff=staff,
        code=code_for(coupon),
        order_amount_fen=6000,
        receipt_no="R1",
        idempotency_key=key,
    )


@pytest.mark.django_db
def test_redemption_writes_its_notification_and_sends_it_after_commit(
    staff, member, store, wechat_sandbox, django_capture_on_commit_callbacks
):
    SubscriptionGrantFactory(member=member, template_id="tmpl-coupon-redeemed", remaining=1)
    coupon = CouponFactory(member=member)

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        _redeem(staff, coupon)
    notification = Notification.objects.get(member=member)

    assert notification.event == NotificationEvent.COUPON_REDEEMED
    assert notification.payload["store_name"] == store.name
    assert notification.state == NotificationState.PENDING
    assert wechat_sandbox.messages(touser=member.openid) == []
    assert len(callbacks) == 1

    callbacks[0]()

    notification.refresh_from_db()
    assert notification.state == NotificationState.SENT
    [message] = wechat_sandbox.messages(touser=member.openid)
    assert message["template_id"] == "tmpl-coupon-redeemed"
    assert message["data"]["thing2"]["value"] == store.name


@pytest.mark.django_db
def test_a_redemption_that_rolls_back_leaves_no_notification(staff, member):
    coupon = CouponFactory(member=member)

    with pytest.raises(RuntimeError), transaction.atomic():
        _redeem(staff, coupon)
        raise RuntimeError("the till lost power")

    assert Redemption.objects.count() == 0
    assert Notification.objects.count() == 0


@pytest.mark.django_db
def test_a_replayed_redemption_does_not_notify_twice(staff, member):
    SubscriptionGrantFactory(member=member, template_id="tmpl-coupon-redeemed", remaining=5)
    coupon = CouponFactory(member=member)
    code = code_for(coupon)

    for _ in range(2):
        redemption_create(
            staff=staff, code=code, order_amount_fen=6000, receipt_no="R1", idempotency_key="k1"
        )

    assert Notification.objects.filter(member=member).count() == 1
