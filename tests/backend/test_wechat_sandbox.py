"""The WeChat sandbox itself: it answers like WeChat, so the gateway's tests mean something."""

import socket
import subprocess
import sys
import time

import pytest
import requests

from backend.wechat_sandbox.pay import pay_signature, to_xml


def get_token(root, **overrides):
    params = {"grant_type": "client_credential", "appid": "wx-sandbox-appid"}
    params["secret"] = "sandbox-secret"
    return requests.get(f"{root}cgi-bin/token", params={**params, **overrides}, timeout=5).json()


def test_health(wechat_sandbox):
    assert wechat_sandbox.health() == {"status": "ok"}


def test_token_is_new_each_time_and_lasts_two_hours(wechat_sandbox):
    first, second = get_token(wechat_sandbox.root), get_token(wechat_sandbox.root)

    assert first["expires_in"] == 7200
    assert first["access_token"] != second["access_token"]
    assert wechat_sandbox.tokens_issued() == 2


def test_token_for_a_wrong_secret_is_refused(wechat_sandbox):
    assert get_token(wechat_sandbox.root, secret="nope")["errcode"] == 40125


def test_unknown_access_token_is_an_invalid_credential(wechat_sandbox):
    answer = requests.post(
        f"{wechat_sandbox.root}wxa/business/getuserphonenumber",
        params={"access_token": "never-issued"},
        json={"code": "phone-13800138000"},
        timeout=5,
    ).json()

    assert answer == {"errcode": 40001, "errmsg": "invalid credential"}


def test_login_needs_no_access_token(wechat_sandbox):
    answer = requests.get(
        f"{wechat_sandbox.root}sns/jscode2session",
        params={
            "appid": "wx-sandbox-appid",
            "secret": "sandbox-secret",
            "js_code": "abc",
            "grant_type": "authorization_code",
        },
        timeout=5,
    ).json()

    assert answer["openid"] == "sandbox-openid-abc"


def test_fault_without_a_path_spares_the_token_endpoint(wechat_sandbox):
    wechat_sandbox.fault("rate_limited")

    assert "access_token" in get_token(wechat_sandbox.root)
    assert len(wechat_sandbox.stats()["faults"]) == 1


def test_unknown_fault_mode_is_refused(wechat_sandbox):
    answer = requests.post(
        f"{wechat_sandbox.root}sandbox/faults", json={"mode": "explode"}, timeout=5
    )

    assert answer.status_code == 400
    assert "drop" in answer.json()["modes"]


def test_faults_and_messages_can_be_cleared(wechat_sandbox):
    wechat_sandbox.fault("drop", count=5)
    requests.delete(f"{wechat_sandbox.root}sandbox/faults", timeout=5)

    assert wechat_sandbox.stats()["faults"] == []
    assert requests.delete(f"{wechat_sandbox.root}sandbox/messages", timeout=5).ok


def test_dropped_call_gets_no_answer(wechat_sandbox):
    wechat_sandbox.fault("drop", path="/cgi-bin/token")

    with pytest.raises(requests.ConnectionError):
        get_token(wechat_sandbox.root)


def test_pay_request_with_a_bad_signature_is_refused(wechat_sandbox):
    params = {"appid": "wx-sandbox-appid", "mch_id": "1900000109", "out_trade_no": "x"}
    params["nonce_str"] = "n"
    body = to_xml({**params, "sign": pay_signature(params, "some-other-key")})

    answer = requests.post(f"{wechat_sandbox.root}pay/orderquery", data=body, timeout=5)

    assert "<return_code><![CDATA[FAIL]]></return_code>" in answer.text


def test_pay_answers_are_signed(wechat_sandbox):
    params = {"appid": "wx-sandbox-appid", "mch_id": "1900000109", "out_trade_no": "x"}
    params["nonce_str"] = "n"
    key = "sandbox-pay-api-key-0123456789abcd"
    body = to_xml({**params, "sign": pay_signature(params, key)})

    answer = requests.post(f"{wechat_sandbox.root}pay/orderquery", data=body, timeout=5)

    assert "ORDERNOTEXIST" in answer.text
    assert "<sign>" in answer.text


def test_paying_an_unknown_order_is_404(wechat_sandbox):
    answer = requests.post(f"{wechat_sandbox.root}sandbox/pay/nope", timeout=5)

    assert answer.status_code == 404


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_runs_from_the_command_line():
    port = _free_port()
    process = subprocess.Popen(  # noqa: S603 (our own module)
        [sys.executable, "-m", "backend.wechat_sandbox", "--port", str(port), "--quiet"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 15
        while True:
            try:
                answer = requests.get(f"http://127.0.0.1:{port}/sandbox/health", timeout=1)
                break
            except requests.ConnectionError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        assert answer.json() == {"status": "ok"}
    finally:
        process.terminate()
        process.wait(timeout=10)
