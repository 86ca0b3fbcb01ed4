"""The WeChat gateway, through the real wechatpy client over HTTP to the sandbox."""

import threading
import time

import pytest

from backend import wechat
from backend.exceptions import (
    WeChatError,
    WeChatInvalidCodeError,
    WeChatRateLimitedError,
    WeChatUnavailableError,
)
from backend.wechat import (
    wechat_clients_reset,
    wechat_code_to_session,
    wechat_phone_number,
    wechat_subscribe_message_send,
)
from tests.markers import requires_redis

LOGIN = "/sns/jscode2session"
TOKEN = "/cgi-bin/token"
SUBSCRIBE = "/cgi-bin/message/subscribe/send"


# --- Login, phone, messages ---------------------------------------------------------------------
def test_login_code_gives_the_sandbox_openid():
    session = wechat_code_to_session("abc123")

    assert session.openid == "sandbox-openid-abc123"
    assert session.unionid is None
    assert session.session_key


def test_login_code_for_an_open_platform_app_gives_a_unionid():
    session = wechat_code_to_session("unionid-7")

    assert session.openid == "sandbox-openid-unionid-7"
    assert session.unionid == "sandbox-unionid-unionid-7"


def test_session_repr_never_shows_identifiers():
    session = wechat_code_to_session("secret-code")

    assert "sandbox-openid" not in repr(session)
    assert session.session_key not in repr(session)


def test_bad_login_code_is_an_invalid_code():
    with pytest.raises(WeChatInvalidCodeError):
        wechat_code_to_session("bad-code")


def test_phone_code_gives_the_phone_number():
    assert wechat_phone_number("phone-13800138000") == "13800138000"


@pytest.mark.parametrize("code", ["phone-1380013800", "phone-138001380001", "13800138000", ""])
def test_malformed_phone_code_is_an_invalid_code(code):
    with pytest.raises(WeChatInvalidCodeError):
        wechat_phone_number(code)


def test_subscribe_message_arrives_with_state_and_language(wechat_sandbox, settings):
    settings.WECHAT_MINIPROGRAM_STATE = "developer"

    wechat_subscribe_message_send(
        openid="sandbox-openid-m1",
        template_id="tpl-redeemed",
        data={"thing1": {"value": "Store 1"}, "amount2": "5.00"},
        page="pages/coupons/index",
    )

    [message] = wechat_sandbox.messages(touser="sandbox-openid-m1")
    assert message["template_id"] == "tpl-redeemed"
    assert message["page"] == "pages/coupons/index"
    assert message["data"] == {"thing1": {"value": "Store 1"}, "amount2": {"value": "5.00"}}
    assert message["miniprogram_state"] == "developer"
    assert message["lang"] == "zh_CN"
    assert wechat_sandbox.messages(touser="someone-else") == []


def test_subscribe_message_refused_by_the_user_is_errcode_43101(wechat_sandbox):
    wechat_sandbox.fault("user_refused", path=SUBSCRIBE)

    with pytest.raises(WeChatError) as raised:
        wechat_subscribe_message_send(openid="o", template_id="t", data={"a": "b"})

    assert raised.value.errcode == 43101
    assert wechat_sandbox.messages() == []


# --- Failures -----------------------------------------------------------------------------------
def test_dropped_connection_is_unavailable(wechat_sandbox):
    wechat_sandbox.fault("drop", path=LOGIN)

    with pytest.raises(WeChatUnavailableError):
        wechat_code_to_session("abc")


def test_answer_slower_than_the_timeout_is_unavailable_without_waiting_for_it(wechat_sandbox):
    # tests/settings.py sets WECHAT_TIMEOUT_SECONDS = 1
    wechat_code_to_session("warm-the-token")
    wechat_sandbox.fault("delay", path=LOGIN, delay_s=3)
    started = time.monotonic()

    with pytest.raises(WeChatUnavailableError):
        wechat_code_to_session("abc")

    assert time.monotonic() - started < 3


def test_hanging_token_endpoint_times_out_too(wechat_sandbox):
    wechat_clients_reset()
    wechat_sandbox.fault("delay", path=TOKEN, delay_s=3)
    started = time.monotonic()

    with pytest.raises(WeChatUnavailableError):
        wechat_code_to_session("abc")

    assert time.monotonic() - started < 3


def test_http_500_is_unavailable(wechat_sandbox):
    wechat_sandbox.fault("http_500", path="/wxa/")

    with pytest.raises(WeChatUnavailableError):
        wechat_phone_number("phone-13800138000")


def test_unreachable_wechat_is_unavailable(settings):
    settings.WECHAT_API_ROOT = "http://127.0.0.1:1/"

    with pytest.raises(WeChatUnavailableError):
        wechat_code_to_session("abc")


def test_rate_limit_is_rate_limited(wechat_sandbox):
    wechat_sandbox.fault("rate_limited", path=LOGIN)

    with pytest.raises(WeChatRateLimitedError):
        wechat_code_to_session("abc")


def test_fault_is_used_up_after_count_calls(wechat_sandbox):
    wechat_sandbox.fault("rate_limited", count=2, path=LOGIN)

    for _ in range(2):
        with pytest.raises(WeChatRateLimitedError):
            wechat_code_to_session("abc")

    assert wechat_code_to_session("abc").openid == "sandbox-openid-abc"


def test_rejected_token_is_refreshed_once_and_the_call_retried(wechat_sandbox):
    wechat_code_to_session("warm-the-token")
    tokens_before = wechat_sandbox.tokens_issued()
    wechat_sandbox.fault("invalid_token", path=LOGIN)

    session = wechat_code_to_session("abc")

    assert session.openid == "sandbox-openid-abc"
    assert wechat_sandbox.tokens_issued() == tokens_before + 1


def test_token_the_sandbox_never_issued_is_replaced(wechat_sandbox):
    client = wechat._mini_program_client()
    client.session.set(client.access_token_key, "forged-token", 7200)
    client.expires_at = int(time.time()) + 7200

    assert wechat_phone_number("phone-13900139000") == "13900139000"
    assert client.session.get(client.access_token_key) != "forged-token"


def test_token_rejected_every_time_fails_after_one_retry(wechat_sandbox):
    wechat_code_to_session("warm-the-token")
    wechat_sandbox.fault("invalid_token", count=100, path=LOGIN)
    calls_before = wechat_sandbox.calls(LOGIN)

    with pytest.raises(WeChatError) as raised:
        wechat_code_to_session("abc")

    assert raised.value.errcode == 40001
    assert wechat_sandbox.calls(LOGIN) - calls_before == 2


def test_wrong_secret_is_a_wechat_error_not_a_retry_loop(wechat_sandbox, settings):
    settings.WECHAT_SECRET = "not-the-secret"
    wechat_clients_reset()

    with pytest.raises(WeChatError) as raised:
        wechat_code_to_session("abc")

    assert raised.value.errcode == 40125
    assert wechat_sandbox.tokens_issued() == 0


# --- Access token -------------------------------------------------------------------------------
def test_token_is_fetched_once_and_reused(wechat_sandbox):
    wechat_clients_reset()

    wechat_code_to_session("one")
    wechat_phone_number("phone-13800138000")
    wechat_subscribe_message_send(openid="o", template_id="t", data={"a": "b"})

    assert wechat_sandbox.tokens_issued() == 1


def test_cold_start_of_many_threads_fetches_one_token(wechat_sandbox):
    wechat_clients_reset()
    start = threading.Barrier(8)
    failures = []

    def log_in(index):
        start.wait()
        try:
            wechat_code_to_session(f"thread-{index}")
        except Exception as exc:  # collected and asserted below
            failures.append(exc)

    threads = [threading.Thread(target=log_in, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert failures == []
    assert wechat_sandbox.tokens_issued() == 1


@requires_redis
def test_cold_start_of_many_processes_sharing_redis_fetches_one_token(wechat_sandbox):
    # Each thread builds its own client, as separate web and Celery processes would: only
    # the token in Redis and the Redis lock are shared.
    wechat_clients_reset()
    key = wechat._mini_program_client_key()
    clients = [wechat._mini_program_client_build(key) for _ in range(8)]
    start = threading.Barrier(len(clients))
    tokens, failures = [], []

    def fetch(client):
        start.wait()
        try:
            tokens.append(client.access_token)
        except Exception as exc:  # collected and asserted below
            failures.append(exc)

    threads = [threading.Thread(target=fetch, args=(client,)) for client in clients]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert failures == []
    assert wechat_sandbox.tokens_issued() == 1
    assert len(set(tokens)) == 1


@requires_redis
def test_token_in_redis_survives_a_new_process(wechat_sandbox):
    wechat_clients_reset()
    wechat_code_to_session("first-process")

    wechat._mini_program_clients.clear()  # what a fresh process starts with
    wechat_code_to_session("second-process")

    assert wechat_sandbox.tokens_issued() == 1
