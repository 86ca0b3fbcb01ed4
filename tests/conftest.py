"""Fixtures shared by every test. App-specific fixtures live in tests/<app>/conftest.py."""

import contextlib

import pytest
import redis
from django.conf import settings
from rest_framework.test import APIClient

from backend.wechat import wechat_breakers_reset, wechat_clients_reset
from backend.wechat_sandbox import SandboxConfig, SandboxControl, SandboxServer, start_sandbox

pytest_plugins = ["tests.coupons.deal_fixtures"]


@pytest.fixture
def api_client():
    return APIClient()


@pytest.fixture(scope="session", autouse=True)
def wechat_sandbox_server():
    """One WeChat sandbox for the whole test session, on a free port.

    ``settings.WECHAT_API_ROOT`` points at it for every test, so the real wechatpy client
    code runs over HTTP. It accepts this project's test app id, secret, merchant and key.
    """
    server = start_sandbox(
        config=SandboxConfig(
            appid=settings.WECHAT_APPID,
            secret=settings.WECHAT_SECRET,
            mch_id=settings.WECHAT_PAY_MCH_ID,
            pay_api_key=settings.WECHAT_PAY_API_KEY,
        )
    )
    previous_root = settings.WECHAT_API_ROOT
    settings.WECHAT_API_ROOT = server.root
    # A token left in Redis by an earlier run was issued by another sandbox.
    with contextlib.suppress(redis.RedisError):
        wechat_clients_reset()
    yield server
    settings.WECHAT_API_ROOT = previous_root
    server.stop()


@pytest.fixture(autouse=True)
def _wechat_sandbox_clean(wechat_sandbox_server: SandboxServer):
    """Each test starts with no faults, messages, payment orders or call counts, and with
    the WeChat circuit breakers (sign-in, unified order) closed."""
    wechat_sandbox_server.state.reset()
    wechat_breakers_reset()
    yield
    wechat_sandbox_server.state.reset()
    wechat_breakers_reset()


@pytest.fixture
def wechat_sandbox(wechat_sandbox_server: SandboxServer) -> SandboxControl:
    """Drives the session's sandbox: ``.root``, ``.messages(touser=None)``,
    ``.fault(mode, count=1, path=None, delay_s=None)``, ``.clear()``, ``.stats()``,
    ``.calls(path)``, ``.tokens_issued()``, ``.pay(out_trade_no, delay_s=0, force=False)``,
    ``.order(out_trade_no)``.
    """
    return SandboxControl(wechat_sandbox_server.root)
