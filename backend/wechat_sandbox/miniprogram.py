"""The mini-program API: access token, login, phone number and subscribe messages."""

import json
import re
import secrets
import time
from datetime import UTC, datetime

from .responses import Response, json_response, wechat_error
from .state import SandboxState

PHONE_CODE = re.compile(r"^phone-(\d{11})$")


def token(state: SandboxState, query: dict[str, str]) -> Response:
    if query.get("grant_type") != "client_credential":
        return wechat_error(40002, "invalid grant_type")
    if query.get("appid") != state.config.appid:
        return wechat_error(40013, "invalid appid")
    if query.get("secret") != state.config.secret:
        return wechat_error(40125, "invalid appsecret")
    access_token = "sandbox-token-" + secrets.token_urlsafe(24)
    with state.lock:
        state.tokens.add(access_token)
        state.tokens_issued += 1
    return json_response({"access_token": access_token, "expires_in": 7200})


def access_token_is_valid(state: SandboxState, query: dict[str, str]) -> bool:
    with state.lock:
        return query.get("access_token", "") in state.tokens


def code_to_session(state: SandboxState, query: dict[str, str]) -> Response:
    # WeChat ignores access_token here (wechatpy sends one anyway).
    if query.get("appid") != state.config.appid:
        return wechat_error(40013, "invalid appid")
    if query.get("secret") != state.config.secret:
        return wechat_error(40125, "invalid appsecret")
    if query.get("grant_type") != "authorization_code":
        return wechat_error(40002, "invalid grant_type")
    code = query.get("js_code", "")
    if not code or code.startswith("bad"):
        return wechat_error(40029, "invalid code")
    answer = {"openid": f"sandbox-openid-{code}", "session_key": secrets.token_urlsafe(16)}
    if code.startswith("unionid-"):
        answer["unionid"] = f"sandbox-unionid-{code}"
    return json_response(answer)


def phone_number(state: SandboxState, body: bytes) -> Response:
    payload = _json_body(body)
    match = PHONE_CODE.match(str(payload.get("code", ""))) if payload is not None else None
    if match is None:
        return wechat_error(40029, "invalid code")
    number = match.group(1)
    return json_response(
        {
            "errcode": 0,
            "errmsg": "ok",
            "phone_info": {
                "phoneNumber": number,
                "purePhoneNumber": number,
                "countryCode": "86",
                "watermark": {"timestamp": int(time.time()), "appid": state.config.appid},
            },
        }
    )


def subscribe_message_send(state: SandboxState, body: bytes) -> Response:
    payload = _json_body(body)
    if payload is None:
        return wechat_error(47001, "data format error")
    if not payload.get("touser"):
        return wechat_error(40003, "invalid openid")
    if not payload.get("template_id"):
        return wechat_error(40037, "invalid template_id")
    if not isinstance(payload.get("data"), dict):
        return wechat_error(47003, "argument invalid! data is empty")
    message = {
        "touser": payload["touser"],
        "template_id": payload["template_id"],
        "page": payload.get("page"),
        "data": payload["data"],
        "miniprogram_state": payload.get("miniprogram_state", "formal"),
        "lang": payload.get("lang", "zh_CN"),
        "received_at": datetime.now(UTC).isoformat(),
    }
    with state.lock:
        state.messages.append(message)
    return json_response({"errcode": 0, "errmsg": "ok", "msgid": secrets.randbelow(10**12)})


def messages(state: SandboxState, touser: str | None) -> list[dict]:
    with state.lock:
        return [dict(m) for m in state.messages if touser is None or m["touser"] == touser]


def _json_body(body: bytes) -> dict | None:
    try:
        payload = json.loads(body.decode("utf-8") or "{}")
    except (UnicodeDecodeError, ValueError):
        return None
    return payload if isinstance(payload, dict) else None
