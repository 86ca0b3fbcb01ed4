"""The admin dashboard in a real headless Chromium: a marketer signs in and sees the charts."""

import datetime

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone

from coupons.models import (
    Campaign,
    CampaignKind,
    Coupon,
    CouponStatus,
    FlashDeal,
    FlashOrder,
    FlashOrderStatus,
    Redemption,
)
from members.models import Member, Notification, NotificationEvent, NotificationState
from stores.models import StaffProfile, StaffRole, Store
from stores.permissions import ensure_staff_groups
from stores.services import staff_groups_sync
from tests import browser
from tests.browser import DESKTOP, PHONE, screenshot

chromium = browser.chromium

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _two_weeks_of_figures():
    """Claims every day for 14 days, about half of them redeemed, at three stores."""
    stores = [
        Store.objects.create(
            code=f"S00{n}", name=name, address="深圳", city="深圳", latitude=22.5, longitude=114.0
        )
        for n, name in enumerate(["福田中心店", "南山海岸城店", "罗湖东门店"], start=1)
    ]
    cashier = get_user_model().objects.create_user(username="cashier1")
    now = timezone.now()
    campaign = Campaign.objects.create(
        name="满50减10",
        kind=CampaignKind.AMOUNT_OFF,
        amount_off_fen=1000,
        min_spend_fen=5000,
        claim_starts_at=now - datetime.timedelta(days=30),
        claim_ends_at=now + datetime.timedelta(days=30),
        valid_days=7,
        total_stock=1000,
        remaining_stock=1000,
    )
    n = 0
    for days_ago in range(14):
        day = now - datetime.timedelta(days=days_ago)
        for i in range(3 + (days_ago * 7) % 9):
            n += 1
            member = Member.objects.create(member_no=f"66{n:08d}", openid=f"dash-browser-{n}")
            coupon = Coupon.objects.create(
                campaign=campaign,
                member=member,
                valid_from=day,
                valid_until=day + datetime.timedelta(days=7),
            )
            Coupon.objects.filter(pk=coupon.pk).update(claimed_at=day)
            if i % 2 == 0:
                Coupon.objects.filter(pk=coupon.pk).update(status=CouponStatus.USED)
                Redemption.objects.create(
                    coupon=coupon,
                    campaign=campaign,
                    store=stores[i % 3 if i % 3 != 2 else 0],
                    cashier=cashier,
                    redeemed_at=day,
                    order_amount_fen=6800,
                    discount_fen=1000,
                    receipt_no=f"R{n}",
                    idempotency_key=f"k{n}",
                    request_fingerprint="browser-test",
                )
    _deals_and_notifications(now)
    return n


def _deals_and_notifications(now):
    """Three one-cent deals this week, two sold out; a fortnight of notifications."""
    for index, (title, total, sold, minutes) in enumerate(
        [
            ("一分钱鸡蛋 10 枚", 200, 200, 3.2),
            ("一分钱鲜牛奶", 300, 300, 11.5),
            ("一分钱大米", 500, 320, 0),
        ]
    ):
        starts_at = now - datetime.timedelta(days=2 + index * 2, hours=1)
        voucher = Campaign.objects.create(
            name=f"{title} 兑换券",
            kind=CampaignKind.GIFT,
            gift_description=title,
            claimable_online=False,
            claim_starts_at=starts_at,
            claim_ends_at=starts_at + datetime.timedelta(days=30),
            valid_days=7,
            total_stock=total,
            remaining_stock=total,
        )
        deal = FlashDeal.objects.create(
            campaign=voucher,
            title=title,
            starts_at=starts_at,
            ends_at=starts_at + datetime.timedelta(hours=2),
            total_stock=total,
            remaining_stock=total - sold,
        )
        statuses = (
            [FlashOrderStatus.PAID] * 8
            + [FlashOrderStatus.CANCELLED]
            + [FlashOrderStatus.AWAITING_PAYMENT]
        )
        for k in range(10):
            at = starts_at + datetime.timedelta(minutes=minutes * (k + 1) / 10)
            FlashOrder.objects.create(
                order_no=f"D{index}{k:04d}",
                deal=deal,
                member=Member.objects.create(member_no=f"44{index}{k:07d}", openid=f"d{index}-{k}"),
                status=statuses[k] if k < 9 else FlashOrderStatus.PAID,
                price_fen=1,
                created_at=at,
                expires_at=at + datetime.timedelta(minutes=5),
            )
    member = Member.objects.first()
    for days_ago in range(14):
        for k in range(6 + days_ago % 4):
            state = NotificationState.SENT if k % 4 else NotificationState.SKIPPED_NO_GRANT
            notification = Notification.objects.create(
                member=member, event=NotificationEvent.COUPON_REDEEMED, template_id="t", state=state
            )
            Notification.objects.filter(pk=notification.pk).update(
                created_at=now - datetime.timedelta(days=days_ago)
            )


def test_marketer_opens_the_dashboard_from_the_admin_index_and_sees_its_charts(
    chromium, live_server
):
    # given two weeks of claims and redemptions, and a marketer
    claimed = _two_weeks_of_figures()
    user = get_user_model().objects.create_user(
        username="marketer1", password="marketer1", is_staff=True
    )
    StaffProfile.objects.create(user=user, role=StaffRole.MARKETER)
    ensure_staff_groups()
    staff_groups_sync(user=user)

    for viewport, name in ((DESKTOP, "dashboard-desktop"), (PHONE, "dashboard-360")):
        page = chromium.new_page(viewport=viewport, locale="zh-CN")
        # when the marketer signs in to admin and follows the dashboard link
        page.goto(f"{live_server.url}/admin/login/?next=/admin/")
        page.fill("#id_username", "marketer1")
        page.fill("#id_password", "marketer1")
        page.click("input[type=submit]")
        page.click("#dashboard-link")
        page.wait_for_selector("#dashboard")

        # then the charts are drawn with a point per day and a bar per store
        assert page.locator("#chart-coupons-per-day svg.chart").is_visible()
        assert page.locator("#chart-coupons-per-day circle.point").count() == 2 * 14
        assert page.locator("#chart-redemptions-per-store rect.bar").count() == 2
        assert page.inner_text("#kpi-claimed") == str(claimed)
        assert page.locator("#chart-flash-orders rect.bar").count() == 4
        assert page.locator("#chart-sellout-times rect.bar").count() == 2
        assert page.locator("#chart-notifications rect.bar").count() == 3 * 14
        assert page.inner_text("#dashboard-scope")
        screenshot(page, name)
        page.close()
