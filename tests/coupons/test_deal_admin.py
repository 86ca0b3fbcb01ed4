import datetime

import pytest
from django.utils import timezone

from coupons.models import FlashDeal
from coupons.services import flash_deals as flash_deal_services
from tests.factories import CampaignFactory, FlashDealFactory, MemberFactory

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fresh_deals")]


def _orders(deal, count):
    orders = [
        flash_deal_services.deal_grab(
            member_id=MemberFactory().pk, deal_id=deal.pk, client_ip="1.1.1.1"
        )
        for _ in range(count)
    ]
    return orders


def test_deal_list_shows_live_figures_in_one_query(
    admin_client, fake_pay, django_assert_max_num_queries
):
    # given
    for _ in range(3):
        deal = FlashDealFactory(total_stock=10)
        _held, paid, cancelled = _orders(deal, 3)
        flash_deal_services.flash_order_payment_record(
            order_no=paid.order_no, transaction_id="42", total_fee=1
        )
        flash_deal_services.flash_order_cancel(order=cancelled, now=timezone.now())
    # when
    with django_assert_max_num_queries(8):
        response = admin_client.get("/admin/coupons/flashdeal/")
    # then
    assert response.status_code == 200
    row = response.context["cl"].result_list[0]
    assert (row.held_count, row.paid_count, row.cancelled_count, row.refunded_count) == (1, 1, 1, 0)
    assert row.remaining_stock == 8


def test_orders_filter_by_state_and_export_as_csv(admin_client, fake_pay):
    deal = FlashDealFactory()
    orders = _orders(deal, 2)
    response = admin_client.get(
        f"/admin/coupons/flashorder/?status=awaiting_payment&deal__id__exact={deal.pk}"
    )
    assert response.status_code == 200
    assert len(response.context["cl"].result_list) == 2
    export = admin_client.post(
        "/admin/coupons/flashorder/",
        {"action": "export_csv", "_selected_action": [order.pk for order in orders]},
    )
    assert export.status_code == 200
    assert export.streaming
    lines = b"".join(export.streaming_content).decode("utf-8-sig").strip().splitlines()
    assert len(lines) == 3
    assert {line.split(",")[0] for line in lines[1:]} == {order.order_no for order in orders}


def test_creating_a_deal_in_admin_sets_its_remaining_stock(admin_client):
    campaign = CampaignFactory(claimable_online=False)
    now = timezone.localtime()
    response = admin_client.post(
        "/admin/coupons/flashdeal/add/",
        {
            "title": "Admin deal",
            "image_url": "",
            "campaign": campaign.pk,
            "price_fen": 1,
            "starts_at_0": now.strftime("%Y-%m-%d"),
            "starts_at_1": now.strftime("%H:%M:%S"),
            "ends_at_0": (now + datetime.timedelta(days=1)).strftime("%Y-%m-%d"),
            "ends_at_1": now.strftime("%H:%M:%S"),
            "payment_window": "00:05:00",
            "total_stock": 40,
            "per_member_limit": 1,
        },
    )
    assert response.status_code == 302, response.context["adminform"].form.errors
    deal = FlashDeal.objects.get(title="Admin deal")
    assert (deal.total_stock, deal.remaining_stock) == (40, 40)
