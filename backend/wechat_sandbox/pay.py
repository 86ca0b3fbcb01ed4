"""WeChat Pay API v2: XML bodies signed with MD5 over the sorted parameters and the API key.

Endpoints: unified order, order query, close order and refund, plus the sandbox's control to
pay an order, which then delivers WeChat's signed payment callback to the order's notify URL
in a background thread, retrying with a growing pause until it is answered SUCCESS.
"""

import hashlib
import logging
import secrets
import threading
import time
import urllib.error
import urllib.request
from datetime import UTC, datetime, timedelta, timezone
from xml.parsers.expat import ExpatError

import xmltodict

from .responses import Response, json_response, xml_response
from .state import SandboxState

logger = logging.getLogger(__name__)

CHINA = timezone(timedelta(hours=8), "Asia/Shanghai")


# --- Signatures and XML -------------------------------------------------------------------------
def pay_signature(params: dict, api_key: str) -> str:
    """WeChat Pay's MD5 signature: non-empty params sorted by name, ``k=v&...&key=API_KEY``."""
    pairs = [f"{key}={params[key]}" for key in sorted(params) if params[key] not in (None, "")]
    pairs.append(f"key={api_key}")
    return hashlib.md5("&".join(pairs).encode("utf-8")).hexdigest().upper()


def signature_is_valid(params: dict, api_key: str) -> bool:
    unsigned = {key: value for key, value in params.items() if key != "sign"}
    return secrets.compare_digest(str(params.get("sign", "")), pay_signature(unsigned, api_key))


def to_xml(params: dict) -> str:
    parts = ["<xml>"]
    for key in sorted(params):
        value = params[key]
        if value is None:
            continue
        text = str(value)
        if text.isdigit():
            parts.append(f"<{key}>{text}</{key}>")
        else:
            parts.append(f"<{key}><![CDATA[{text.replace(']]>', ']]]]><![CDATA[>')}]]></{key}>")
    parts.append("</xml>")
    return "".join(parts)


def parse_xml(body: bytes) -> dict | None:
    try:
        document = xmltodict.parse(body)
    except (ExpatError, ValueError):
        return None
    root = document.get("xml") if isinstance(document, dict) else None
    if not isinstance(root, dict):
        return None
    return {key: ("" if value is None else str(value)) for key, value in root.items()}


def signed_xml(state: SandboxState, params: dict) -> str:
    params = {key: value for key, value in params.items() if value is not None}
    params["sign"] = pay_signature(params, state.config.pay_api_key)
    return to_xml(params)


# --- Answers ------------------------------------------------------------------------------------
def _fail(return_msg: str) -> Response:
    """A request WeChat could not even read (bad signature, bad XML): return_code FAIL."""
    return xml_response(to_xml({"return_code": "FAIL", "return_msg": return_msg}))


def _business_error(state: SandboxState, err_code: str, err_code_des: str) -> Response:
    return xml_response(
        signed_xml(
            state,
            {
                "return_code": "SUCCESS",
                "return_msg": "OK",
                "appid": state.config.appid,
                "mch_id": state.config.mch_id,
                "nonce_str": secrets.token_hex(16),
                "result_code": "FAIL",
                "err_code": err_code,
                "err_code_des": err_code_des,
            },
        )
    )


def _success(state: SandboxState, fields: dict) -> Response:
    return xml_response(
        signed_xml(
            state,
            {
                "return_code": "SUCCESS",
                "return_msg": "OK",
                "appid": state.config.appid,
                "mch_id": state.config.mch_id,
                "nonce_str": secrets.token_hex(16),
                "result_code": "SUCCESS",
                **fields,
            },
        )
    )


def fault_answer(state: SandboxState, mode: str) -> Response:
    """The pay flavour of an errcode fault (pay has no access token and no subscriptions)."""
    if mode == "rate_limited":
        return _business_error(state, "FREQUENCY_LIMITED", "rate limited, slow down")
    if mode == "invalid_token":
        return _fail("签名错误")  # the pay analogue of a rejected credential
    return _business_error(state, "SYSTEMERROR", "system error, please retry")


def _authenticated_request(state: SandboxState, body: bytes) -> tuple[dict | None, Response | None]:
    params = parse_xml(body)
    if params is None:
        return None, _fail("XML格式错误")
    if not signature_is_valid(params, state.config.pay_api_key):
        return None, _fail("签名错误")
    if params.get("mch_id") != state.config.mch_id:
        return None, _fail("mch_id参数格式错误")
    if params.get("appid") != state.config.appid:
        return None, _business_error(state, "APPID_MCHID_NOT_MATCH", "appid和mch_id不匹配")
    return params, None


# --- Endpoints ----------------------------------------------------------------------------------
def unified_order(state: SandboxState, body: bytes) -> Response:
    params, refusal = _authenticated_request(state, body)
    if refusal:
        return refusal
    missing = [
        name
        for name in ("body", "out_trade_no", "total_fee", "spbill_create_ip", "notify_url")
        if not params.get(name)
    ]
    if params.get("trade_type") == "JSAPI" and not params.get("openid"):
        missing.append("openid")
    if missing:
        return _fail(f"missing parameter: {', '.join(missing)}")
    if not params["total_fee"].isdigit() or int(params["total_fee"]) <= 0:
        return _business_error(state, "INVALID_REQUEST", "total_fee must be a positive integer")
    out_trade_no = params["out_trade_no"]
    total_fee = int(params["total_fee"])
    with state.lock:
        order = state.orders.get(out_trade_no)
        if order is not None:
            if order["trade_state"] in ("SUCCESS", "REFUND"):
                return _business_error(state, "ORDERPAID", "该订单已支付")
            if order["trade_state"] == "CLOSED":
                return _business_error(state, "ORDERCLOSED", "该订单已关闭")
            if order["total_fee"] != total_fee or order["openid"] != params.get("openid"):
                return _business_error(state, "OUT_TRADE_NO_USED", "商户订单号重复")
            prepay_id = order["prepay_id"]
        else:
            prepay_id = "wx" + datetime.now(CHINA).strftime("%d%H%M%S") + secrets.token_hex(12)
            state.orders[out_trade_no] = {
                "out_trade_no": out_trade_no,
                "prepay_id": prepay_id,
                "trade_state": "NOTPAY",
                "total_fee": total_fee,
                "refunded_fee": 0,
                "body": params["body"],
                "attach": params.get("attach") or None,
                "openid": params.get("openid"),
                "notify_url": params["notify_url"],
                "trade_type": params.get("trade_type", "JSAPI"),
                "time_start": params.get("time_start"),
                "time_expire": params.get("time_expire"),
                "transaction_id": None,
                "time_end": None,
                "created_at": datetime.now(UTC).isoformat(),
                "callbacks": [],
            }
    return _success(
        state, {"trade_type": params.get("trade_type", "JSAPI"), "prepay_id": prepay_id}
    )


def order_query(state: SandboxState, body: bytes) -> Response:
    params, refusal = _authenticated_request(state, body)
    if refusal:
        return refusal
    with state.lock:
        order = _find_order(state, params)
        if order is None:
            return _business_error(state, "ORDERNOTEXIST", "此交易订单号不存在")
        fields = {
            "out_trade_no": order["out_trade_no"],
            "trade_state": order["trade_state"],
            "trade_state_desc": _TRADE_STATE_DESC[order["trade_state"]],
            "total_fee": order["total_fee"],
            "fee_type": "CNY",
            "openid": order["openid"],
            "trade_type": order["trade_type"],
            "attach": order["attach"],
        }
        if order["transaction_id"]:
            fields.update(
                transaction_id=order["transaction_id"],
                cash_fee=order["total_fee"],
                time_end=order["time_end"],
                bank_type="OTHERS",
                is_subscribe="N",
            )
    return _success(state, fields)


def close_order(state: SandboxState, body: bytes) -> Response:
    params, refusal = _authenticated_request(state, body)
    if refusal:
        return refusal
    with state.lock:
        order = state.orders.get(params.get("out_trade_no", ""))
        if order is None:
            return _business_error(state, "ORDERNOTEXIST", "此交易订单号不存在")
        if order["trade_state"] in ("SUCCESS", "REFUND"):
            return _business_error(state, "ORDERPAID", "订单已支付，不能发起关单")
        if order["trade_state"] == "CLOSED":
            return _business_error(state, "ORDERCLOSED", "订单已关闭，无法重复关闭")
        order["trade_state"] = "CLOSED"
    return _success(state, {})


def refund(state: SandboxState, body: bytes) -> Response:
    params, refusal = _authenticated_request(state, body)
    if refusal:
        return refusal
    out_refund_no = params.get("out_refund_no", "")
    if not out_refund_no:
        return _fail("missing parameter: out_refund_no")
    try:
        total_fee, refund_fee = int(params.get("total_fee", "")), int(params.get("refund_fee", ""))
    except ValueError:
        return _business_error(state, "INVALID_REQUEST", "total_fee and refund_fee are required")
    with state.lock:
        order = _find_order(state, params)
        if order is None:
            return _business_error(state, "ORDERNOTEXIST", "此交易订单号不存在")
        existing = state.refunds.get(out_refund_no)
        if existing is None:
            if order["trade_state"] not in ("SUCCESS", "REFUND"):
                return _business_error(state, "TRADE_STATE_ERROR", "订单状态错误")
            if total_fee != order["total_fee"]:
                return _business_error(
                    state, "INVALID_REQUEST", "订单金额或退款金额与之前请求不一致"
                )
            if refund_fee <= 0 or refund_fee > order["total_fee"] - order["refunded_fee"]:
                return _business_error(state, "INVALID_REQUEST", "退款金额大于支付金额")
            existing = {
                "refund_id": "5" + secrets.token_hex(14),
                "out_refund_no": out_refund_no,
                "out_trade_no": order["out_trade_no"],
                "transaction_id": order["transaction_id"],
                "refund_fee": refund_fee,
                "total_fee": total_fee,
                "refunded_at": datetime.now(UTC).isoformat(),
            }
            state.refunds[out_refund_no] = existing
            order["refunded_fee"] += refund_fee
            order["trade_state"] = "REFUND"
        elif (
            existing["refund_fee"] != refund_fee
            or existing["out_trade_no"] != order["out_trade_no"]
        ):
            return _business_error(state, "INVALID_REQUEST", "同一退款单号多次请求参数不一致")
        fields = {key: value for key, value in existing.items() if key != "refunded_at"}
    return _success(
        state, {**fields, "cash_fee": fields["total_fee"], "cash_refund_fee": refund_fee}
    )


_TRADE_STATE_DESC = {
    "NOTPAY": "订单未支付",
    "SUCCESS": "支付成功",
    "CLOSED": "订单已关闭",
    "REFUND": "订单转入退款",
}


def _find_order(state: SandboxState, params: dict) -> dict | None:
    if params.get("out_trade_no"):
        return state.orders.get(params["out_trade_no"])
    transaction_id = params.get("transaction_id")
    if transaction_id:
        for order in state.orders.values():
            if order["transaction_id"] == transaction_id:
                return order
    return None


# --- Sandbox controls ---------------------------------------------------------------------------
def order_view(state: SandboxState, out_trade_no: str) -> Response:
    with state.lock:
        order = state.orders.get(out_trade_no)
        if order is None:
            return json_response({"error": "no such order"}, status=404)
        view = {**order, "callbacks": [dict(attempt) for attempt in order["callbacks"]]}
        view["refunds"] = [r for r in state.refunds.values() if r["out_trade_no"] == out_trade_no]
    return json_response(view)


def pay_order(
    state: SandboxState, out_trade_no: str, *, delay_s: float = 0.0, force: bool = False
) -> Response:
    """Mark an order paid (as if the shopper paid) and deliver the callback in the background.

    Paying an order again re-sends its callback (a replay). A closed order is refused unless
    ``force`` (a payment that raced the merchant's close).
    """
    with state.lock:
        order = state.orders.get(out_trade_no)
        if order is None:
            return json_response({"error": "no such order"}, status=404)
        if order["trade_state"] == "CLOSED" and not force:
            return json_response({"error": "the order is closed; pass force=1"}, status=409)
        if order["transaction_id"] is None:
            order["transaction_id"] = (
                "42"
                + datetime.now(CHINA).strftime("%Y%m%d")
                + ("".join(str(secrets.randbelow(10)) for _ in range(18)))
            )
            order["time_end"] = datetime.now(CHINA).strftime("%Y%m%d%H%M%S")
        if order["trade_state"] in ("NOTPAY", "CLOSED"):
            order["trade_state"] = "SUCCESS"
        notification = signed_xml(
            state,
            {
                "return_code": "SUCCESS",
                "return_msg": "OK",
                "result_code": "SUCCESS",
                "appid": state.config.appid,
                "mch_id": state.config.mch_id,
                "nonce_str": secrets.token_hex(16),
                "openid": order["openid"],
                "is_subscribe": "N",
                "out_trade_no": out_trade_no,
                "transaction_id": order["transaction_id"],
                "total_fee": order["total_fee"],
                "cash_fee": order["total_fee"],
                "fee_type": "CNY",
                "time_end": order["time_end"],
                "trade_type": order["trade_type"],
                "bank_type": "OTHERS",
                "attach": order["attach"],
            },
        )
        generation = state.generation
        answer = {
            "out_trade_no": out_trade_no,
            "trade_state": order["trade_state"],
            "transaction_id": order["transaction_id"],
            "notify_url": order["notify_url"],
        }
    thread = threading.Thread(
        target=_deliver_callback,
        args=(state, out_trade_no, order["notify_url"], notification, delay_s, generation),
        name=f"sandbox-callback-{out_trade_no}",
        daemon=True,
    )
    thread.start()
    return json_response(answer)


def _deliver_callback(
    state: SandboxState,
    out_trade_no: str,
    notify_url: str,
    notification: str,
    delay_s: float,
    generation: int,
) -> None:
    pauses = (delay_s, *state.config.callback_backoff)
    for attempt_number, pause in enumerate(pauses, start=1):
        if pause and state.stopping.wait(pause):
            return
        with state.lock:
            if state.generation != generation:
                return  # the sandbox was reset: this order is gone
        attempt = {"attempt": attempt_number, "at": datetime.now(UTC).isoformat()}
        started = time.monotonic()
        try:
            status, answer = _post_xml(notify_url, notification, state.config.callback_timeout_s)
            attempt.update(status=status, answer=answer[:500])
            parsed = parse_xml(answer.encode("utf-8")) if status == 200 else None
            accepted = bool(parsed) and parsed.get("return_code") == "SUCCESS"
        except (OSError, urllib.error.URLError) as exc:
            attempt.update(status=None, error=f"{type(exc).__name__}: {exc}")
            accepted = False
        attempt.update(accepted=accepted, duration_ms=round((time.monotonic() - started) * 1000))
        with state.lock:
            order = state.orders.get(out_trade_no)
            if order is None or state.generation != generation:
                return
            order["callbacks"].append(attempt)
        if accepted:
            return
    logger.info("Payment callback for %s not accepted after %d tries", out_trade_no, len(pauses))


def _post_xml(url: str, body: str, timeout: float) -> tuple[int, str]:
    if not url.startswith(("http://", "https://")):
        raise urllib.error.URLError(f"not an http(s) URL: {url}")
    request = urllib.request.Request(  # noqa: S310 (scheme checked above)
        url, data=body.encode("utf-8"), headers={"Content-Type": "text/xml"}, method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            return response.status, response.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode("utf-8", "replace")
