"""WeChat Pay through the gateway: the real wechatpy pay client over HTTP to the sandbox."""

import hashlib
import re
import threading
import time
import uuid
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.utils import timezone

from backend.exceptions import (
    WeChatError,
    WeChatPayNotificationInvalidError,
    WeChatPayOrderPaidError,
    WeChatRateLimitedError,
    WeChatUnavailableError,
)
from backend.wechat import (
    wechat_pay_notification_parse,
    wechat_pay_notification_reply,
    wechat_pay_order_close,
    wechat_pay_order_create,
    wechat_pay_order_query,
    wechat_pay_refund,
)

SUCCESS = wechat_pay_notification_reply(success=True)
FAIL = wechat_pay_notification_reply(success=False, message="not yet")


def md5_sign(params: dict, key: str) -> str:
    """WeChat Pay v2's signature, written out independently of the code under test."""
    text = "&".join(f"{k}={params[k]}" for k in sorted(params) if params[k] != "")
    return hashlib.md5(f"{text}&key={key}".encode()).hexdigest().upper()  # noqa: S324 (WeChat's)


def xml_fields(xml: bytes) -> dict:
    pattern = r"<(?!xml>)(\w+)>(?:<!\[CDATA\[)?(.*?)(?:\]\]>)?</\1>"
    return {m.group(1): m.group(2) for m in re.finditer(pattern, xml.decode())}


def to_xml(fields: dict) -> bytes:
    return ("<xml>" + "".join(f"<{k}>{v}</{k}>" for k, v in fields.items()) + "</xml>").encode()


class NotifyReceiver:
    """A stand-in for the shop's notify endpoint: answers from a script, keeps what it got."""

    def __init__(self, answers):
        self.answers = list(answers)
        self.bodies: list[bytes] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                receiver.bodies.append(body)
                answer = (
                    receiver.answers.pop(0) if len(receiver.answers) > 1 else receiver.answers[0]
                )
                payload = answer.encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/xml")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/api/payments/wechat/notify"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def notify_receiver():
    receivers = []

    def start(answers=(SUCCESS,)):
        receiver = NotifyReceiver(answers)
        receivers.append(receiver)
        return receiver

    yield start
    for receiver in receivers:
        receiver.stop()


def wait_for(condition, timeout=15.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = condition()
        if result:
            return result
        time.sleep(0.05)
    raise AssertionError("condition not met in time")


def place_order(*, notify_url="http://127.0.0.1:1/notify", total_fee=1, out_trade_no=None):
    out_trade_no = out_trade_no or uuid.uuid4().hex
    params = wechat_pay_order_create(
        out_trade_no=out_trade_no,
        total_fee=total_fee,
        body="一分钱爆款 · gift voucher",
        openid="sandbox-openid-buyer",
        notify_url=notify_url,
        client_ip="127.0.0.1",
        expires_at=timezone.now() + timedelta(minutes=5),
    )
    return out_trade_no, params


# --- Orders -------------------------------------------------------------------------------------
def test_order_create_answers_signed_request_payment_params(settings, wechat_sandbox):
    out_trade_no, params = place_order()

    assert set(params) == {"appId", "timeStamp", "nonceStr", "package", "signType", "paySign"}
    assert params["appId"] == settings.WECHAT_APPID
    assert params["signType"] == "MD5"
    prepay_id = params["package"].removeprefix("prepay_id=")
    assert prepay_id == wechat_sandbox.order(out_trade_no)["prepay_id"]
    unsigned = {k: v for k, v in params.items() if k != "paySign"}
    assert params["paySign"] == md5_sign(unsigned, settings.WECHAT_PAY_API_KEY)


def test_order_create_records_amount_notify_url_and_openid(wechat_sandbox):
    out_trade_no, _ = place_order(total_fee=250, notify_url="http://127.0.0.1:9/n")

    order = wechat_sandbox.order(out_trade_no)
    assert order["total_fee"] == 250
    assert order["notify_url"] == "http://127.0.0.1:9/n"
    assert order["openid"] == "sandbox-openid-buyer"
    assert order["trade_state"] == "NOTPAY"


def test_order_created_twice_keeps_its_prepay_id():
    out_trade_no, first = place_order()
    _, second = place_order(out_trade_no=out_trade_no)

    assert second["package"] == first["package"]


def test_order_number_reused_with_another_amount_is_refused():
    out_trade_no, _ = place_order(total_fee=1)

    with pytest.raises(WeChatError) as raised:
        place_order(out_trade_no=out_trade_no, total_fee=2)

    assert raised.value.errcode == "OUT_TRADE_NO_USED"


def test_order_query_follows_payment(wechat_sandbox):
    out_trade_no, _ = place_order(total_fee=1)

    unpaid = wechat_pay_order_query(out_trade_no=out_trade_no)
    wechat_sandbox.pay(out_trade_no)
    paid = wechat_pay_order_query(out_trade_no=out_trade_no)

    assert unpaid["trade_state"] == "NOTPAY"
    assert unpaid["transaction_id"] is None
    assert paid["trade_state"] == "SUCCESS"
    assert paid["total_fee"] == 1
    assert paid["transaction_id"] == wechat_sandbox.order(out_trade_no)["transaction_id"]
    assert paid["paid_at"] is not None


def test_order_query_for_an_order_wechat_never_had_is_notexist():
    assert wechat_pay_order_query(out_trade_no="never-placed")["trade_state"] == "NOTEXIST"


def test_close_unpaid_order_then_it_cannot_be_paid(wechat_sandbox):
    out_trade_no, _ = place_order()

    wechat_pay_order_close(out_trade_no=out_trade_no)
    wechat_pay_order_close(out_trade_no=out_trade_no)  # closing again is harmless

    assert wechat_pay_order_query(out_trade_no=out_trade_no)["trade_state"] == "CLOSED"
    with pytest.raises(WeChatError):
        place_order(out_trade_no=out_trade_no)


def test_close_paid_order_says_it_is_paid(wechat_sandbox):
    out_trade_no, _ = place_order()
    wechat_sandbox.pay(out_trade_no)

    with pytest.raises(WeChatPayOrderPaidError):
        wechat_pay_order_close(out_trade_no=out_trade_no)

    assert wechat_pay_order_query(out_trade_no=out_trade_no)["trade_state"] == "SUCCESS"


def test_refund_of_a_paid_order_is_recorded_once(wechat_sandbox):
    out_trade_no, _ = place_order(total_fee=100)
    wechat_sandbox.pay(out_trade_no)

    first = wechat_pay_refund(
        out_trade_no=out_trade_no, out_refund_no="R-1", total_fee=100, refund_fee=100
    )
    again = wechat_pay_refund(
        out_trade_no=out_trade_no, out_refund_no="R-1", total_fee=100, refund_fee=100
    )

    assert first["refund_id"] and again["refund_id"] == first["refund_id"]
    assert first["refund_fee"] == 100
    assert len(wechat_sandbox.order(out_trade_no)["refunds"]) == 1
    assert wechat_pay_order_query(out_trade_no=out_trade_no)["trade_state"] == "REFUND"


def test_refund_above_the_amount_paid_is_refused(wechat_sandbox):
    out_trade_no, _ = place_order(total_fee=100)
    wechat_sandbox.pay(out_trade_no)
    wechat_pay_refund(out_trade_no=out_trade_no, out_refund_no="R-1", total_fee=100, refund_fee=60)

    with pytest.raises(WeChatError) as raised:
        wechat_pay_refund(
            out_trade_no=out_trade_no, out_refund_no="R-2", total_fee=100, refund_fee=50
        )

    assert raised.value.errcode == "INVALID_REQUEST"


def test_refund_of_an_unpaid_order_is_refused():
    out_trade_no, _ = place_order()

    with pytest.raises(WeChatError) as raised:
        wechat_pay_refund(out_trade_no=out_trade_no, out_refund_no="R-1", total_fee=1, refund_fee=1)

    assert raised.value.errcode == "TRADE_STATE_ERROR"


def test_wrong_merchant_key_is_refused_by_wechat(settings):
    settings.WECHAT_PAY_API_KEY = "not-the-merchant-key-000000000000"

    with pytest.raises(WeChatError) as raised:
        place_order()

    assert raised.value.errcode == "FAIL"


@pytest.mark.parametrize(
    ("mode", "error"),
    [
        ("drop", WeChatUnavailableError),
        ("http_500", WeChatUnavailableError),
        ("rate_limited", WeChatRateLimitedError),
        ("user_refused", WeChatUnavailableError),  # pay's SYSTEMERROR: retry later
    ],
)
def test_pay_faults_map_to_the_api_errors(wechat_sandbox, mode, error):
    wechat_sandbox.fault(mode, path="/pay/unifiedorder")

    with pytest.raises(error):
        place_order()


def test_slow_pay_answer_is_unavailable(wechat_sandbox):
    wechat_sandbox.fault("delay", path="/pay/orderquery", delay_s=3)

    with pytest.raises(WeChatUnavailableError):
        wechat_pay_order_query(out_trade_no="anything")


# --- Payment callback ---------------------------------------------------------------------------
def test_sandbox_payment_callback_is_accepted(notify_receiver, wechat_sandbox, settings):
    receiver = notify_receiver()
    out_trade_no, _ = place_order(notify_url=receiver.url, total_fee=1)

    wechat_sandbox.pay(out_trade_no)
    body = wait_for(lambda: receiver.bodies and receiver.bodies[0])
    result = wechat_pay_notification_parse(body)

    assert result["out_trade_no"] == out_trade_no
    assert result["total_fee"] == 1
    assert result["cash_fee"] == 1
    assert result["paid"] is True
    assert result["paid_at"] is not None
    assert result["transaction_id"] == wechat_sandbox.order(out_trade_no)["transaction_id"]
    assert result["appid"] == settings.WECHAT_APPID


def test_callback_is_retried_until_answered_success(notify_receiver, wechat_sandbox):
    receiver = notify_receiver(answers=[FAIL, "<html>busy</html>", SUCCESS])
    out_trade_no, _ = place_order(notify_url=receiver.url)

    wechat_sandbox.pay(out_trade_no)
    callbacks = wait_for(
        lambda: (
            [c for c in wechat_sandbox.order(out_trade_no)["callbacks"] if c["accepted"]]
            and wechat_sandbox.order(out_trade_no)["callbacks"]
        )
    )

    assert [c["accepted"] for c in callbacks] == [False, False, True]
    assert len(receiver.bodies) == 3
    assert len(set(receiver.bodies)) == 1  # the same signed notification each time


def test_callback_waits_for_the_requested_delay(notify_receiver, wechat_sandbox):
    receiver = notify_receiver()
    out_trade_no, _ = place_order(notify_url=receiver.url)

    answer = wechat_sandbox.pay(out_trade_no, delay_s=30)

    assert answer["trade_state"] == "SUCCESS"
    assert wechat_pay_order_query(out_trade_no=out_trade_no)["trade_state"] == "SUCCESS"
    assert receiver.bodies == []


def _signed_callback(notify_receiver, wechat_sandbox) -> dict:
    receiver = notify_receiver()
    out_trade_no, _ = place_order(notify_url=receiver.url, total_fee=1)
    wechat_sandbox.pay(out_trade_no)
    return xml_fields(wait_for(lambda: receiver.bodies and receiver.bodies[0]))


def test_tampered_amount_is_rejected(notify_receiver, wechat_sandbox):
    fields = _signed_callback(notify_receiver, wechat_sandbox)
    fields["total_fee"] = "100"

    with pytest.raises(WeChatPayNotificationInvalidError):
        wechat_pay_notification_parse(to_xml(fields))


@pytest.mark.parametrize(
    ("field", "value"), [("mch_id", "1900000999"), ("appid", "wx-another-app")]
)
def test_callback_for_another_merchant_or_app_is_rejected_even_if_signed(
    notify_receiver, wechat_sandbox, settings, field, value
):
    fields = _signed_callback(notify_receiver, wechat_sandbox)
    fields[field] = value
    unsigned = {k: v for k, v in fields.items() if k != "sign"}
    fields["sign"] = md5_sign(unsigned, settings.WECHAT_PAY_API_KEY)

    with pytest.raises(WeChatPayNotificationInvalidError):
        wechat_pay_notification_parse(to_xml(fields))


@pytest.mark.parametrize("body", [b"", b"not xml", b"<xml>text</xml>", b"<xml><a>1</a></xml>"])
def test_unreadable_callback_is_rejected(body):
    with pytest.raises(WeChatPayNotificationInvalidError):
        wechat_pay_notification_parse(body)


def test_notification_reply_is_wechat_xml():
    assert xml_fields(wechat_pay_notification_reply(success=True).encode()) == {
        "return_code": "SUCCESS",
        "return_msg": "OK",
    }
    assert xml_fields(wechat_pay_notification_reply(success=False, message="bad").encode()) == {
        "return_code": "FAIL",
        "return_msg": "bad",
    }
