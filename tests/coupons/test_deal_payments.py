"""Paying a flash order with WeChat Pay, end to end through the sandbox over HTTP.

The sandbox's control endpoint pays an order and delivers WeChat's signed callback to the
notify URL, which the live server answers. Forged callbacks are built and signed here with the
test merchant key, or deliberately not.
"""

import datetime
import secrets
import time

import pytest
from django.utils import timezone
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import RefreshToken

from backend.wechat_sandbox.pay import pay_signature, to_xml
from coupons.models import (
    Coupon,
    CouponSource,
    FlashDeal,
    FlashOrder,
    FlashOrderStatus,
    FlashRefund,
    FlashRefundStatus,
)
from coupons.services import flash_deals as flash_deal_services
from tests.factories import FlashDealFactory, MemberFactory

NOTIFY_PATH = "/api/payments/wechat/notify"


def _grab(deal, member):
    client = APIClient()
    token = str(RefreshToken.for_user(member).access_token)
    response = client.post(
        f"/api/deals/{deal.pk}/grab", HTTP_AUTHORIZATION=f"Bearer {token}", REMOTE_ADDR="10.1.1.1"
    )
    assert response.status_code == 201, response.content
    return FlashOrder.objects.get(order_no=response.json()["order_no"])


def _wait_for(condition, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = condition()
        if result:
            return result
        time.sleep(0.05)
    raise AssertionError("condition not met in time")


def _status(order):
    return FlashOrder.objects.values_list("status", flat=True).get(pk=order.pk)


def _remaining(deal):
    return FlashDeal.objects.values_list("remaining_stock", flat=True).get(pk=deal.pk)


@pytest.fixture
def notify_here(live_server, settings):
    """WeChat Pay's callbacks go to this test's live server."""
    settings.WECHAT_PAY_NOTIFY_URL = live_server.url + NOTIFY_PATH
    return settings.WECHAT_PAY_NOTIFY_URL


# --- The happy path and lost callbacks -----------------------------------------------------------


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("fresh_deals")
def test_member_pays_through_the_sandbox_and_gets_the_voucher(wechat_sandbox, notify_here):
    # given
    deal = FlashDealFactory(total_stock=5)
    member = MemberFactory()
    order = _grab(deal, member)
    # when
    wechat_sandbox.pay(order.order_no)
    # then
    _wait_for(lambda: _status(order) == FlashOrderStatus.PAID)
    order.refresh_from_db()
    coupon = Coupon.objects.get(member=member)
    assert order.coupon == coupon
    assert coupon.source == CouponSource.DEAL
    assert order.transaction_id == wechat_sandbox.order(order.order_no)["transaction_id"]
    callbacks = _wait_for(lambda: wechat_sandbox.order(order.order_no)["callbacks"])
    assert callbacks[-1]["accepted"] is True
    assert _remaining(deal) == 4


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("fresh_deals")
def test_payment_whose_callback_was_lost_is_found_at_expiry(wechat_sandbox, settings):
    # given a payment whose callback cannot reach us
    settings.WECHAT_PAY_NOTIFY_URL = "http://127.0.0.1:9/unreachable"
    deal = FlashDealFactory(total_stock=5)
    order = _grab(deal, MemberFactory())
    wechat_sandbox.pay(order.order_no)
    # when the payment window ends
    outcome = flash_deal_services.flash_order_expire(
        order_id=order.pk, now=order.expires_at + datetime.timedelta(seconds=1)
    )
    # then it is paid, not cancelled
    assert outcome == "paid"
    assert _status(order) == FlashOrderStatus.PAID
    assert Coupon.objects.count() == 1
    assert _remaining(deal) == 4


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("fresh_deals")
def test_expiry_closes_the_wechat_order_and_returns_the_unit(wechat_sandbox):
    deal = FlashDealFactory(total_stock=5)
    order = _grab(deal, MemberFactory())
    outcome = flash_deal_services.flash_order_expire(
        order_id=order.pk, now=order.expires_at + datetime.timedelta(seconds=1)
    )
    assert outcome == "cancelled"
    assert wechat_sandbox.order(order.order_no)["trade_state"] == "CLOSED"
    assert _remaining(deal) == 5


# --- Late payments -------------------------------------------------------------------------------


def _expire(order):
    return flash_deal_services.flash_order_expire(
        order_id=order.pk, now=order.expires_at + datetime.timedelta(seconds=1)
    )


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("fresh_deals")
def test_payment_after_the_window_is_honoured_while_stock_remains(wechat_sandbox, notify_here):
    # given an order cancelled at the end of its window
    deal = FlashDealFactory(total_stock=2)
    order = _grab(deal, MemberFactory())
    assert _expire(order) == "cancelled"
    # when the member's payment, racing the close, arrives after it
    wechat_sandbox.pay(order.order_no, delay_s=0.2, force=True)
    # then (on SQLite the live server shares the test's connection, so its transaction can be
    # seen half done: wait for the whole of it)
    _wait_for(lambda: _status(order) == FlashOrderStatus.PAID and _remaining(deal) == 1)
    assert _remaining(deal) == 1
    assert Coupon.objects.count() == 1


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("fresh_deals")
def test_payment_after_the_window_is_refunded_when_sold_out(wechat_sandbox, notify_here):
    # given an order cancelled and its unit sold to someone else
    deal = FlashDealFactory(total_stock=1)
    order = _grab(deal, MemberFactory())
    assert _expire(order) == "cancelled"
    _grab(deal, MemberFactory())
    # when the late payment arrives
    wechat_sandbox.pay(order.order_no, force=True)
    # then it is refunded through WeChat Pay, recorded, and nothing is oversold
    _wait_for(lambda: _status(order) == FlashOrderStatus.REFUNDED)
    refund = _wait_for(
        lambda: FlashRefund.objects.filter(order=order, status=FlashRefundStatus.SUCCEEDED).first()
    )
    assert refund.refund_fee == 1
    assert refund.refund_id
    assert wechat_sandbox.order(order.order_no)["refunded_fee"] == 1
    assert _remaining(deal) == 0
    assert Coupon.objects.count() == 0


# --- Forged and replayed callbacks ---------------------------------------------------------------


def _notice(settings, order_no, total_fee=1, **overrides):
    fields = {
        "return_code": "SUCCESS",
        "return_msg": "OK",
        "result_code": "SUCCESS",
        "appid": settings.WECHAT_APPID,
        "mch_id": settings.WECHAT_PAY_MCH_ID,
        "nonce_str": secrets.token_hex(16),
        "openid": "sandbox-openid-x",
        "out_trade_no": order_no,
        "transaction_id": "4200000000202612040000000001",
        "total_fee": total_fee,
        "cash_fee": total_fee,
        "fee_type": "CNY",
        "time_end": timezone.localtime().strftime("%Y%m%d%H%M%S"),
        "trade_type": "JSAPI",
        "bank_type": "OTHERS",
    } | overrides
    fields["sign"] = pay_signature(fields, settings.WECHAT_PAY_API_KEY)
    return to_xml(fields)


def _post_notice(xml):
    response = APIClient().post(NOTIFY_PATH, data=xml, content_type="text/xml")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/xml")
    return "SUCCESS" if "<![CDATA[SUCCESS]]>" in response.content.decode() else "FAIL"


@pytest.fixture
def held_order(db, fresh_deals, wechat_sandbox):
    deal = FlashDealFactory(total_stock=3)
    return _grab(deal, MemberFactory())


def _forged(settings, order, case):
    if case == "bad_signature":
        xml = _notice(settings, order.order_no)
        return xml.replace("<sign><![CDATA[", "<sign><![CDATA[0")
    if case == "wrong_amount":
        return _notice(settings, order.order_no, total_fee=100)
    if case == "wrong_order":
        return _notice(settings, "FDNOSUCHORDER0000000000")
    if case == "other_merchant":
        return _notice(settings, order.order_no, mch_id="1900000999")
    if case == "other_app":
        return _notice(settings, order.order_no, appid="wx-another-app")
    raise AssertionError(case)


@pytest.mark.parametrize(
    "case", ["bad_signature", "wrong_amount", "wrong_order", "other_merchant", "other_app"]
)
def test_forged_callback_is_refused_and_changes_nothing(settings, held_order, case):
    # when
    answer = _post_notice(_forged(settings, held_order, case))
    # then
    assert answer == "FAIL"
    held_order.refresh_from_db()
    assert held_order.status == FlashOrderStatus.AWAITING_PAYMENT
    assert held_order.transaction_id == ""
    assert Coupon.objects.count() == 0


def test_replayed_callback_issues_one_coupon(settings, held_order):
    xml = _notice(settings, held_order.order_no)
    assert _post_notice(xml) == "SUCCESS"
    assert _post_notice(xml) == "SUCCESS"
    held_order.refresh_from_db()
    assert held_order.status == FlashOrderStatus.PAID
    assert Coupon.objects.count() == 1


def test_callback_of_a_failed_payment_is_acknowledged_and_changes_nothing(settings, held_order):
    xml = _notice(settings, held_order.order_no, result_code="FAIL")
    assert _post_notice(xml) == "SUCCESS"
    held_order.refresh_from_db()
    assert held_order.status == FlashOrderStatus.AWAITING_PAYMENT
