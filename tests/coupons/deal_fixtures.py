"""Fixtures for the flash-deal tests; test modules import the ones they use."""

import itertools

import pytest
from django.conf import settings as django_settings

from backend import wechat
from backend.exceptions import WeChatUnavailableError
from coupons.selectors.flash_deals import deal_snapshot_cache_clear
from coupons.services.flash_deals import expiry_batches_forget


@pytest.fixture(autouse=False)
def fresh_deals(settings):
    """No deal cached from an earlier test, no gate left in Redis from an earlier run."""
    settings.FLASH_DEAL_CACHE_SECONDS = 0
    deal_snapshot_cache_clear()
    expiry_batches_forget()
    if settings.REDIS_URL:
        from django_redis import get_redis_connection

        client = get_redis_connection("default")
        for key in client.scan_iter("flash:*"):
            client.delete(key)
    yield
    deal_snapshot_cache_clear()
    expiry_batches_forget()


def redis_flush_gates():
    from django_redis import get_redis_connection

    client = get_redis_connection("default")
    for key in client.scan_iter("flash:*"):
        client.delete(key)


class FakeWeChatPay:
    """WeChat Pay as the services see it, for the tests that are about our side only.

    The end-to-end payment tests (test_deal_payments.py) use the sandbox over HTTP instead.
    """

    def __init__(self):
        self.created = []
        self.closed = []
        self.refunds = []
        self.trade_states = {}
        self.fail_create = False
        self.fail_query = False
        self.fail_refund = False
        self._ids = itertools.count(1)

    def order_create(self, **kwargs):
        if self.fail_create:
            raise WeChatUnavailableError()
        self.created.append(kwargs)
        return {
            "appId": django_settings.WECHAT_APPID,
            "timeStamp": "1700000000",
            "nonceStr": "nonce",
            "package": f"prepay_id=wx{next(self._ids)}",
            "signType": "MD5",
            "paySign": "SIGN",
        }

    def order_query(self, *, out_trade_no):
        if self.fail_query:
            raise WeChatUnavailableError()
        state = self.trade_states.get(out_trade_no, "NOTPAY")
        return {"trade_state": state, "total_fee": 1, "transaction_id": f"tx-{out_trade_no}"}

    def order_close(self, *, out_trade_no):
        self.closed.append(out_trade_no)

    def refund(self, **kwargs):
        if self.fail_refund:
            raise WeChatUnavailableError()
        self.refunds.append(kwargs)
        return {"refund_id": f"refund-{kwargs['out_refund_no']}"}


@pytest.fixture
def fake_pay(monkeypatch):
    fake = FakeWeChatPay()
    monkeypatch.setattr(wechat, "wechat_pay_order_create", fake.order_create, raising=False)
    monkeypatch.setattr(wechat, "wechat_pay_order_query", fake.order_query, raising=False)
    monkeypatch.setattr(wechat, "wechat_pay_order_close", fake.order_close, raising=False)
    monkeypatch.setattr(wechat, "wechat_pay_refund", fake.refund, raising=False)
    return fake
