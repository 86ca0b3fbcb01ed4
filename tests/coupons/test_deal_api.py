"""The shopper API of flash deals, with WeChat Pay answered by the sandbox over HTTP."""

import datetime
import time

import pytest
from django.utils import timezone
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import RefreshToken

from backend import wechat
from coupons.models import Coupon, DealReminder, FlashDeal, FlashOrder, FlashOrderStatus
from coupons.services import flash_deals as flash_deal_services
from tests.factories import FlashDealFactory, MemberFactory, TagFactory

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fresh_deals")]

PAY_PARAM_KEYS = {"appId", "timeStamp", "nonceStr", "package", "signType", "paySign"}


def _client(member):
    client = APIClient()
    token = str(RefreshToken.for_user(member).access_token)
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client


def _grab(client, deal):
    return client.post(f"/api/deals/{deal.pk}/grab", REMOTE_ADDR="203.0.113.7")


def _remaining(deal):
    return FlashDeal.objects.values_list("remaining_stock", flat=True).get(pk=deal.pk)


def test_grab_answers_the_order_and_wechat_pay_params(wechat_sandbox, settings):
    # given
    deal = FlashDealFactory(total_stock=5)
    member = MemberFactory()
    # when
    response = _grab(_client(member), deal)
    # then
    assert response.status_code == 201
    body = response.json()
    assert set(body) == {"order_no", "status", "pay_params", "expires_at"}
    assert body["status"] == "awaiting_payment"
    assert set(body["pay_params"]) == PAY_PARAM_KEYS
    assert body["pay_params"]["appId"] == settings.WECHAT_APPID
    order = FlashOrder.objects.get(order_no=body["order_no"])
    assert datetime.datetime.fromisoformat(body["expires_at"]) == order.expires_at
    at_wechat = wechat_sandbox.order(body["order_no"])
    assert at_wechat["total_fee"] == 1
    assert at_wechat["trade_state"] == "NOTPAY"
    assert at_wechat["notify_url"] == settings.WECHAT_PAY_NOTIFY_URL
    assert _remaining(deal) == 4


def test_grab_of_a_free_deal_answers_paid_with_the_coupon(wechat_sandbox):
    deal = FlashDealFactory(price_fen=0, requires_phone=True)
    member = MemberFactory(phone="13800138000")
    response = _grab(_client(member), deal)
    assert response.status_code == 201
    body = response.json()
    assert body["status"] == "paid"
    assert body["pay_params"] is None
    coupon = Coupon.objects.get(member=member)
    assert body["coupon"]["id"] == coupon.pk
    assert body["coupon"]["kind"] == "gift"
    assert wechat_sandbox.calls("/pay/unifiedorder") == 0


def _deal_for(case, now):
    if case == "paused":
        return FlashDealFactory(is_paused=True)
    if case == "not_started":
        return FlashDealFactory(starts_at=now + datetime.timedelta(hours=1))
    if case == "ended":
        return FlashDealFactory(starts_at=now - datetime.timedelta(hours=2), ends_at=now)
    if case == "sold_out":
        deal = FlashDealFactory(total_stock=1)
        _grab(_client(MemberFactory()), deal)
        return deal
    if case == "phone_required":
        return FlashDealFactory(requires_phone=True)
    if case == "not_eligible":
        return FlashDealFactory(required_tag=TagFactory())
    raise AssertionError(case)


@pytest.mark.parametrize(
    ("case", "status"),
    [
        ("sold_out", 409),
        ("not_started", 409),
        ("ended", 409),
        ("paused", 409),
        ("phone_required", 403),
        ("not_eligible", 403),
    ],
)
def test_grab_refusals_have_their_code_and_status(wechat_sandbox, case, status):
    deal = _deal_for(case, timezone.now())
    response = _grab(_client(MemberFactory()), deal)
    assert response.status_code == status
    assert response.json()["code"] == case
    assert response.json()["detail"]


def test_grab_twice_is_limit_reached(wechat_sandbox):
    deal = FlashDealFactory()
    client = _client(MemberFactory())
    assert _grab(client, deal).status_code == 201
    response = _grab(client, deal)
    assert (response.status_code, response.json()["code"]) == (409, "limit_reached")


def test_grab_of_an_unknown_deal_is_404(wechat_sandbox):
    response = _grab(_client(MemberFactory()), FlashDeal(pk=987654))
    assert (response.status_code, response.json()["code"]) == (404, "not_found")


def test_grab_needs_a_member_token():
    deal = FlashDealFactory()
    response = APIClient().post(f"/api/deals/{deal.pk}/grab")
    assert response.status_code == 401


def test_a_deal_seen_sold_out_is_refused_before_the_token_is_read(
    wechat_sandbox, settings, django_assert_num_queries
):
    # given: this process has seen the deal sell out
    settings.FLASH_DEAL_CACHE_SECONDS = 60
    deal = FlashDealFactory(total_stock=1)
    assert _grab(_client(MemberFactory()), deal).status_code == 201
    assert _grab(_client(MemberFactory()), deal).json()["code"] == "sold_out"
    # when: the crowd keeps pressing, even with a token that is no longer valid
    with django_assert_num_queries(0):
        response = APIClient().post(
            f"/api/deals/{deal.pk}/grab", HTTP_AUTHORIZATION="Bearer expired.or.forged"
        )
    # then
    assert (response.status_code, response.json()["code"]) == (409, "sold_out")


@pytest.mark.parametrize("mode", ["drop", "http_500"])
def test_grab_while_wechat_pay_is_down_is_503_and_gives_the_unit_back(wechat_sandbox, mode):
    # given
    deal = FlashDealFactory(total_stock=1)
    member = MemberFactory()
    wechat_sandbox.fault(mode, path="/pay/unifiedorder")
    # when
    response = _grab(_client(member), deal)
    # then
    assert (response.status_code, response.json()["code"]) == (503, "wechat_unavailable")
    assert FlashOrder.objects.get(member=member).status == FlashOrderStatus.CANCELLED
    assert _remaining(deal) == 1


def _grabs_failing_for_lack_of_wechat(wechat_sandbox, deal, count):
    wechat_sandbox.fault("http_500", count=count, path="/pay/unifiedorder")
    for _ in range(count):
        response = _grab(_client(MemberFactory()), deal)
        assert (response.status_code, response.json()["code"]) == (503, "wechat_unavailable")


def test_after_wechat_pay_failed_in_a_row_grabs_answer_503_without_calling_it(
    wechat_sandbox, settings
):
    # given: WeChat Pay failed the last three unified orders
    settings.WECHAT_BREAKER_FAILURES = 3
    settings.WECHAT_BREAKER_SECONDS = 60
    deal = FlashDealFactory(total_stock=10)
    _grabs_failing_for_lack_of_wechat(wechat_sandbox, deal, 3)
    calls = wechat_sandbox.calls("/pay/unifiedorder")
    orders = FlashOrder.objects.count()
    # when: WeChat Pay would answer again, but the breaker is open
    member = MemberFactory()
    response = _grab(_client(member), deal)
    # then: refused at once, WeChat not asked, no unit taken, no order written
    assert (response.status_code, response.json()["code"]) == (503, "wechat_unavailable")
    assert wechat_sandbox.calls("/pay/unifiedorder") == calls
    assert FlashOrder.objects.count() == orders
    assert _remaining(deal) == 10
    # and a free deal does not need WeChat Pay
    free = FlashDealFactory(price_fen=0)
    assert _grab(_client(member), free).json()["status"] == "paid"


def test_once_the_breaker_has_waited_a_grab_tries_wechat_pay_again_and_closes_it(
    wechat_sandbox, settings, monkeypatch
):
    # given: the breaker opened
    settings.WECHAT_BREAKER_FAILURES = 2
    settings.WECHAT_BREAKER_SECONDS = 30
    deal = FlashDealFactory(total_stock=10)
    _grabs_failing_for_lack_of_wechat(wechat_sandbox, deal, 2)
    assert _grab(_client(MemberFactory()), deal).status_code == 503
    # when: its 30 seconds have passed, and WeChat Pay answers again
    later = time.monotonic() + 31
    monkeypatch.setattr(wechat._pay_breaker, "clock", lambda: later)
    first, second = (_grab(_client(MemberFactory()), deal) for _ in range(2))
    # then
    assert (first.status_code, second.status_code) == (201, 201)
    assert _remaining(deal) == 8


def test_the_breaker_counts_failures_in_a_row_only(wechat_sandbox, settings):
    # given: two failures, a success, two failures, with a threshold of three
    settings.WECHAT_BREAKER_FAILURES = 3
    deal = FlashDealFactory(total_stock=10)
    _grabs_failing_for_lack_of_wechat(wechat_sandbox, deal, 2)
    assert _grab(_client(MemberFactory()), deal).status_code == 201
    _grabs_failing_for_lack_of_wechat(wechat_sandbox, deal, 2)
    # when
    response = _grab(_client(MemberFactory()), deal)
    # then: still closed
    assert response.status_code == 201


def test_a_breaker_threshold_of_zero_never_opens(wechat_sandbox, settings):
    settings.WECHAT_BREAKER_FAILURES = 0
    deal = FlashDealFactory(total_stock=10)
    _grabs_failing_for_lack_of_wechat(wechat_sandbox, deal, 6)
    assert _grab(_client(MemberFactory()), deal).status_code == 201


def test_deal_list_shows_live_and_upcoming_with_this_members_standing(wechat_sandbox):
    # given
    now = timezone.now()
    live = FlashDealFactory(title="live", total_stock=3)
    FlashDealFactory(title="upcoming", starts_at=now + datetime.timedelta(hours=1))
    FlashDealFactory(title="over", starts_at=now - datetime.timedelta(hours=2), ends_at=now)
    member = MemberFactory()
    client = _client(member)
    _grab(client, live)
    # when
    response = client.get("/api/deals")
    # then
    assert response.status_code == 200
    rows = {row["title"]: row for row in response.json()}
    assert set(rows) == {"live", "upcoming"}
    assert rows["live"]["remaining_stock"] == 2
    assert rows["live"]["my_count"] == 1
    assert (rows["live"]["can_grab"], rows["live"]["reason"]) == (False, "limit_reached")
    assert (rows["upcoming"]["can_grab"], rows["upcoming"]["reason"]) == (False, "not_started")
    assert rows["upcoming"]["starts_at"]


def test_order_detail_is_the_members_own_and_shows_the_coupon_once_paid(wechat_sandbox):
    # given
    deal = FlashDealFactory()
    member = MemberFactory()
    client = _client(member)
    order_no = _grab(client, deal).json()["order_no"]
    # when / then: unpaid
    body = client.get(f"/api/deals/orders/{order_no}").json()
    assert (body["status"], body["coupon"]) == ("awaiting_payment", None)
    # someone else's
    other = _client(MemberFactory()).get(f"/api/deals/orders/{order_no}")
    assert (other.status_code, other.json()["code"]) == (404, "not_found")
    # once paid
    flash_deal_services.flash_order_payment_record(
        order_no=order_no, transaction_id="42", total_fee=1
    )
    body = client.get(f"/api/deals/orders/{order_no}").json()
    assert body["status"] == "paid"
    assert body["coupon"]["id"] == Coupon.objects.get(member=member).pk
    assert body["coupon"]["gift_description"] == deal.campaign.gift_description


def test_remind_is_idempotent(wechat_sandbox):
    deal = FlashDealFactory(starts_at=timezone.now() + datetime.timedelta(hours=1))
    client = _client(MemberFactory())
    first = client.post(f"/api/deals/{deal.pk}/remind")
    again = client.post(f"/api/deals/{deal.pk}/remind")
    assert (first.status_code, again.status_code) == (201, 200)
    assert first.json()["deal_id"] == deal.pk
    assert DealReminder.objects.count() == 1
    assert client.get("/api/deals").json()[0]["reminded"] is True


def test_remind_of_an_unknown_deal_is_404():
    response = _client(MemberFactory()).post("/api/deals/987654/remind")
    assert (response.status_code, response.json()["code"]) == (404, "not_found")
