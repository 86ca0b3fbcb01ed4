"""Flash-deal events reach the member through the notification outbox."""

import datetime

import pytest
from django.utils import timezone

from coupons.services.flash_deals import (
    deal_grab,
    deal_remind,
    deal_start_reminders_enqueue,
    flash_order_expire,
    flash_order_payment_record,
)
from members.models import Notification, NotificationEvent
from tests.factories import FlashDealFactory, MemberFactory

pytestmark = pytest.mark.usefixtures("fresh_deals")


def _held_order(deal, member):
    """An order held through the real grab, its payment order opened in the WeChat sandbox."""
    return deal_grab(member_id=member.pk, deal_id=deal.pk, client_ip="10.0.0.8")


@pytest.mark.django_db
def test_a_paid_order_notifies_the_member_once():
    deal = FlashDealFactory()
    member = MemberFactory()
    order = _held_order(deal, member)

    for _ in range(2):  # WeChat Pay repeats its callback
        flash_order_payment_record(
            order_no=order.order_no, transaction_id="wx-tx-1", total_fee=deal.price_fen
        )

    notifications = Notification.objects.filter(member=member)
    assert [n.event for n in notifications] == [NotificationEvent.DEAL_ORDER_PAID]
    assert notifications[0].payload["deal_title"] == deal.title


@pytest.mark.django_db
def test_an_order_cancelled_at_the_end_of_its_window_notifies_the_member():
    deal = FlashDealFactory()
    member = MemberFactory()
    order = _held_order(deal, member)
    now = order.expires_at + datetime.timedelta(seconds=1)

    assert flash_order_expire(order_id=order.pk, now=now) == "cancelled"
    assert flash_order_expire(order_id=order.pk, now=now) != "cancelled"

    events = list(Notification.objects.filter(member=member).values_list("event", flat=True))
    assert events == [NotificationEvent.DEAL_ORDER_CANCELLED]


@pytest.mark.django_db
def test_deal_start_reminders_go_once_to_those_who_asked_within_five_minutes():
    now = timezone.now()
    soon = FlashDealFactory(starts_at=now + datetime.timedelta(minutes=4))
    later = FlashDealFactory(starts_at=now + datetime.timedelta(minutes=30))
    asked, other = MemberFactory(), MemberFactory()
    deal_remind(member_id=asked.pk, deal_id=soon.pk)
    deal_remind(member_id=asked.pk, deal_id=later.pk)
    MemberFactory()  # did not ask

    first = deal_start_reminders_enqueue(now=now)
    second = deal_start_reminders_enqueue(now=now + datetime.timedelta(minutes=1))

    assert (first, second) == (1, 0)
    [notification] = Notification.objects.all()
    assert notification.member_id == asked.pk
    assert notification.event == NotificationEvent.DEAL_STARTING
    assert notification.payload["deal_id"] == soon.pk
    assert not Notification.objects.filter(member=other).exists()
