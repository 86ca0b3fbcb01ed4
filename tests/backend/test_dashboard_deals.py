"""Dashboard figures for flash deals and notifications, against known rows."""

import datetime

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone

from backend import dashboard
from coupons.models import Campaign, CampaignKind, FlashDeal, FlashOrder, FlashOrderStatus
from members.models import Member, Notification, NotificationEvent, NotificationState
from stores.models import StaffProfile, StaffRole

pytestmark = pytest.mark.django_db

SHANGHAI = datetime.timezone(datetime.timedelta(hours=8))
DAY1 = datetime.date(2026, 3, 1)
DAY2 = datetime.date(2026, 3, 2)


def _at(day, hour, minute=0, second=0):
    return datetime.datetime.combine(day, datetime.time(hour, minute, second), tzinfo=SHANGHAI)


_seq = iter(range(1, 100_000))


def _member():
    n = next(_seq)
    return Member.objects.create(member_no=f"55{n:08d}", openid=f"deal-dash-{n}")


def _deal(title, starts_at, *, total, remaining):
    voucher = Campaign.objects.create(
        name=f"{title} voucher",
        kind=CampaignKind.GIFT,
        gift_description="鸡蛋 10 枚",
        claimable_online=False,
        claim_starts_at=starts_at,
        claim_ends_at=starts_at + datetime.timedelta(days=30),
        valid_days=7,
        total_stock=total,
        remaining_stock=total,
    )
    return FlashDeal.objects.create(
        campaign=voucher,
        title=title,
        price_fen=1,
        starts_at=starts_at,
        ends_at=starts_at + datetime.timedelta(hours=2),
        total_stock=total,
        remaining_stock=remaining,
    )


def _order(deal, created_at, status):
    return FlashOrder.objects.create(
        order_no=f"F{next(_seq):010d}",
        deal=deal,
        member=_member(),
        status=status,
        price_fen=deal.price_fen,
        created_at=created_at,
        expires_at=created_at + datetime.timedelta(minutes=5),
    )


@pytest.fixture
def deals():
    """A deal sold out 3 min 12 s after its 10:00 start (a cancelled grab came later and does
    not count), one with stock left, and one that started before the range."""
    sold_out = _deal("一分钱鸡蛋", _at(DAY1, 10), total=2, remaining=0)
    _order(sold_out, _at(DAY1, 10, 0, 5), FlashOrderStatus.PAID)
    _order(sold_out, _at(DAY1, 10, 3, 12), FlashOrderStatus.AWAITING_PAYMENT)
    _order(sold_out, _at(DAY1, 10, 9), FlashOrderStatus.CANCELLED)
    left = _deal("一分钱牛奶", _at(DAY2, 20), total=5, remaining=4)
    _order(left, _at(DAY2, 20, 1), FlashOrderStatus.PAID)
    _order(left, _at(DAY2, 20, 2), FlashOrderStatus.REFUNDED)
    earlier = _deal("上周爆款", _at(DAY1 - datetime.timedelta(days=7), 10), total=1, remaining=0)
    _order(earlier, _at(DAY1 - datetime.timedelta(days=7), 10, 1), FlashOrderStatus.PAID)
    return {"sold_out": sold_out, "left": left}


def test_flash_orders_by_status_counts_orders_placed_in_the_range(deals):
    assert dashboard.flash_orders_by_status(start=DAY1, end=DAY2) == {
        FlashOrderStatus.AWAITING_PAYMENT: 1,
        FlashOrderStatus.PAID: 2,
        FlashOrderStatus.CANCELLED: 1,
        FlashOrderStatus.REFUNDED: 1,
    }
    assert set(dashboard.flash_orders_by_status(start=DAY2, end=DAY2).items()) == {
        (FlashOrderStatus.AWAITING_PAYMENT, 0),
        (FlashOrderStatus.PAID, 1),
        (FlashOrderStatus.CANCELLED, 0),
        (FlashOrderStatus.REFUNDED, 1),
    }


def test_deal_sellout_time_runs_to_the_last_live_grab(deals):
    rows = dashboard.deal_sellout_times(start=DAY1, end=DAY2)

    assert [(r.title, r.sold, r.total_stock, r.sold_out_after) for r in rows] == [
        ("一分钱鸡蛋", 2, 2, datetime.timedelta(minutes=3, seconds=12)),
        ("一分钱牛奶", 1, 5, None),
    ]


def _notification(day, hour, state):
    notification = Notification.objects.create(
        member=_member(), event=NotificationEvent.COUPON_REDEEMED, template_id="t", state=state
    )
    Notification.objects.filter(pk=notification.pk).update(created_at=_at(day, hour))


def test_notifications_per_day_split_sent_skipped_and_failed():
    _notification(DAY1, 9, NotificationState.SENT)
    _notification(DAY1, 23, NotificationState.SENT)
    _notification(DAY1, 12, NotificationState.SKIPPED_NO_GRANT)
    _notification(DAY2, 1, NotificationState.SKIPPED_USER_REFUSED)
    _notification(DAY2, 2, NotificationState.FAILED)
    _notification(DAY2, 3, NotificationState.PENDING)

    rows = dashboard.notifications_per_day(start=DAY1, end=DAY2)

    assert [(r.date, r.sent, r.skipped, r.failed) for r in rows] == [
        (DAY1, 2, 1, 0),
        (DAY2, 0, 1, 1),
    ]


def test_dashboard_page_draws_deal_and_notification_charts(client, deals):
    user = get_user_model().objects.create_user(username="marketer1", is_staff=True)
    StaffProfile.objects.create(user=user, role=StaffRole.MARKETER)
    client.force_login(user)
    _notification(DAY1, 9, NotificationState.SENT)

    response = client.get("/admin/dashboard/", {"start": "2026-03-01", "end": "2026-03-02"})

    html = response.content.decode()
    assert response.context["orders_total"] == 5
    # claims per day, orders by state, sell-out times, notifications (no redemptions here)
    assert html.count('<svg class="chart ') == 4
    assert "3m 12s" in html
    assert response.context["notification_totals"] == {"sent": 1, "skipped": 0, "failed": 0}
    assert timezone.localdate(response.context["sellouts"][0]["deal"].starts_at) == DAY1
