"""The WeChat gateway: the only module that imports wechatpy.

Every call to WeChat (mini-program API and WeChat Pay API v2) goes through the functions here,
which turn WeChat's failures into the API's errors (backend.exceptions):

- invalid login or phone code (40029, 40163) → WeChatInvalidCodeError (400 ``wechat_invalid_code``);
- rate limited (45011, pay ``FREQUENCY_LIMITED``) → WeChatRateLimitedError (429);
- timeout, refused or dropped connection, 5xx, an unreadable answer, WeChat busy (-1, pay
  ``SYSTEMERROR``) → WeChatUnavailableError (503);
- closing or re-creating an order the shopper has paid (pay ``ORDERPAID``) →
  WeChatPayOrderPaidError (409, a WeChatError);
- anything else → WeChatError with ``errcode`` (an int for the mini-program API, WeChat Pay's
  ``err_code`` string for pay).

The clients talk to ``settings.WECHAT_API_ROOT`` (the local sandbox in development and tests).
The access token lives in Redis when ``REDIS_URL`` is set, shared by every web and Celery
process, and in this process's memory otherwise; a lock (Redis or in-process) makes a cold
start fetch one token, not one per process. wechatpy's ``auto_retry`` is off: a rejected token
(40001, 40014, 42001) is refreshed once and the call retried once; Celery tasks retry the rest.

The calls a shopper's request waits for (sign-in: code2session and the phone number; WeChat
Pay's unified order) sit behind per-process circuit breakers: after ``WECHAT_BREAKER_FAILURES``
of them in a row failed for lack of WeChat, new ones are refused at once (503
``wechat_unavailable``) for ``WECHAT_BREAKER_SECONDS``, so a WeChat outage in the middle of a
sale does not hold every web worker for the timeout, the tills' requests included. Subscribe
messages are sent by Celery, which retries on its own schedule, and have no breaker.

Nothing here logs an openid, unionid, session key, access token or secret.
"""

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

import redis
import requests
from django.conf import settings
from wechatpy import WeChatClient
from wechatpy.exceptions import (
    InvalidSignatureException,
    WeChatClientException,
    WeChatPayException,
)
from wechatpy.pay import WeChatPay
from wechatpy.session.memorystorage import MemoryStorage
from wechatpy.session.redisstorage import RedisStorage

from backend.exceptions import (
    ApplicationError,
    WeChatError,
    WeChatInvalidCodeError,
    WeChatPayNotificationInvalidError,
    WeChatPayOrderPaidError,
    WeChatRateLimitedError,
    WeChatUnavailableError,
)

logger = logging.getLogger(__name__)

TOKEN_REJECTED_ERRCODES = frozenset({40001, 40014, 42001})
INVALID_CODE_ERRCODES = frozenset({40029, 40163})
RATE_LIMITED_ERRCODE = 45011
BUSY_ERRCODE = -1
PAY_UNAVAILABLE_ERR_CODES = frozenset({"SYSTEMERROR", "BANKERROR"})
PAY_BODY_MAX_BYTES = 128
CHINA = ZoneInfo("Asia/Shanghai")


@dataclass(frozen=True)
class WeChatSession:
    openid: str
    unionid: str | None
    session_key: str

    def __repr__(self) -> str:  # keep identifiers out of logs and tracebacks
        return "WeChatSession(openid=…, unionid=…, session_key=…)"


# --- Mini-program API ---------------------------------------------------------------------------
def wechat_code_to_session(code: str) -> WeChatSession:
    """Exchange a ``wx.login`` code for the member's openid (code2session).

    Raises WeChatInvalidCodeError for a wrong, used or expired code.
    """
    result = _sign_in_breaker.run(
        lambda: _mini_program_call("code2session", lambda client: client.wxa.code_to_session(code))
    )
    if not result.get("openid") or not result.get("session_key"):
        logger.warning("WeChat code2session answered without an openid or session key")
        raise WeChatUnavailableError()
    return WeChatSession(
        openid=result["openid"],
        unionid=result.get("unionid") or None,
        session_key=result["session_key"],
    )


def wechat_phone_number(code: str) -> str:
    """The phone number behind a ``getPhoneNumber`` button's code (digits only, no country code).

    Raises WeChatInvalidCodeError for a wrong, used or expired code.
    """
    result = _sign_in_breaker.run(
        lambda: _mini_program_call("phone number", lambda client: client.wxa.get_phone_number(code))
    )
    phone = (result.get("phone_info") or {}).get("purePhoneNumber")
    if not phone:
        logger.warning("WeChat getuserphonenumber answered without a phone number")
        raise WeChatUnavailableError()
    return str(phone)


def wechat_subscribe_message_send(
    *, openid: str, template_id: str, data: dict, page: str | None = None
) -> None:
    """Send one subscribe message. Raises WeChatError with ``errcode`` 43101 when refused.

    ``data`` maps the template's fields to values, either already in WeChat's shape
    (``{"thing1": {"value": "..."}}``) or plain (``{"thing1": "..."}``, wrapped here).
    The message opens ``page`` in the mini-program version ``settings.WECHAT_MINIPROGRAM_STATE``.
    """
    body = {
        "touser": openid,
        "template_id": template_id,
        "data": {
            name: value if isinstance(value, dict) else {"value": value}
            for name, value in data.items()
        },
        "miniprogram_state": _miniprogram_state(),
        "lang": "zh_CN",
    }
    if page:
        body["page"] = page
    _mini_program_call(
        "subscribe message",
        lambda client: client.wxa._post("cgi-bin/message/subscribe/send", data=body),
    )


def wechat_clients_reset() -> None:
    """Forget the cached clients and the stored access token (tests; after rotating secrets).

    The next call fetches a new token.
    """
    with _clients_lock:
        _mini_program_clients.clear()
        _pay_clients.clear()
    client = _mini_program_client()
    client.session.delete(client.access_token_key)
    client.session.delete(client.access_token_expires_at_key)


class _MiniProgramClient(WeChatClient):
    """wechatpy's client pointed at ``api_root``, refreshing its token under a lock."""

    def __init__(self, *, api_root, appid, secret, timeout, session, refresh_lock):
        super().__init__(appid, secret, session=session, timeout=timeout, auto_retry=False)
        self.api_root = api_root
        self.API_BASE_URL = f"{api_root}cgi-bin/"
        self.wxa.API_BASE_URL = api_root
        self._refresh_lock = refresh_lock
        _http_session_settle(self._http, api_root=api_root)

    def fetch_access_token(self):
        # wechatpy calls this when the stored token is missing or about to expire.
        self.refresh_access_token()

    def refresh_access_token(self, *, rejected_token: str | None = None) -> str:
        """A usable token: the stored one unless it is stale or ``rejected_token``.

        One process (or thread) at a time fetches; the others wait for the lock and then find
        the token it stored.
        """
        with self._refresh_lock():
            stored = self._stored_token()
            if stored and stored != rejected_token:
                return stored
            return self._fetch_token()

    def _stored_token(self) -> str | None:
        token = self.session.get(self.access_token_key)
        expires_at = self.expires_at
        if token and expires_at and expires_at - time.time() > 60:
            return token
        return None

    def _fetch_token(self) -> str:
        # wechatpy's own _fetch_access_token sends no timeout: a hung WeChat would hang us.
        logger.info("Fetching a WeChat access token")
        response = self._http.get(
            f"{self.api_root}cgi-bin/token",
            params={"grant_type": "client_credential", "appid": self.appid, "secret": self.secret},
            timeout=self.timeout,
        )
        response.raise_for_status()
        result = response.json()
        if not isinstance(result, dict):
            raise WeChatClientException(None, "unreadable token answer", client=self)
        if result.get("errcode"):
            raise WeChatClientException(
                int(result["errcode"]), result.get("errmsg"), client=self, response=response
            )
        if not result.get("access_token"):
            raise WeChatClientException(None, "token answer without a token", client=self)
        expires_in = int(result.get("expires_in") or 7200)
        self.session.set(self.access_token_key, result["access_token"], expires_in)
        self.expires_at = int(time.time()) + expires_in
        return result["access_token"]


def _mini_program_call(action: str, operation: Callable[[_MiniProgramClient], dict]) -> dict:
    """Run ``operation`` with the process's client; a rejected token is refreshed once."""
    client = _mini_program_client()
    try:
        token = client.access_token
        try:
            result = operation(client)
        except WeChatClientException as exc:
            if exc.errcode not in TOKEN_REJECTED_ERRCODES:
                raise
            logger.info("WeChat rejected the access token (%s); refreshing it once", exc.errcode)
            client.refresh_access_token(rejected_token=token)
            result = operation(client)
    except WeChatClientException as exc:
        raise _mini_program_error(action, exc) from exc
    except requests.RequestException as exc:
        # The exception's text holds the URL with secrets and codes: log its kind only.
        logger.warning("WeChat %s failed: %s", action, type(exc).__name__)
        raise WeChatUnavailableError() from None
    except redis.RedisError as exc:
        logger.error("WeChat %s: token storage or lock failed: %s", action, type(exc).__name__)
        raise WeChatUnavailableError() from None
    if not isinstance(result, dict):
        logger.warning("WeChat %s answered something that is not JSON", action)
        raise WeChatUnavailableError()
    return result


def _mini_program_error(action: str, exc: WeChatClientException) -> Exception:
    errcode = exc.errcode
    if errcode is None:
        status = getattr(exc.response, "status_code", None)
        logger.warning("WeChat %s failed: HTTP %s", action, status)
        return WeChatUnavailableError()
    if errcode in INVALID_CODE_ERRCODES:
        logger.info("WeChat %s: invalid code (%s)", action, errcode)
        return WeChatInvalidCodeError()
    if errcode == RATE_LIMITED_ERRCODE:
        logger.warning("WeChat %s: rate limited (45011)", action)
        return WeChatRateLimitedError()
    if errcode == BUSY_ERRCODE:
        logger.warning("WeChat %s: WeChat busy (-1)", action)
        return WeChatUnavailableError()
    logger.warning("WeChat %s refused: errcode %s, %s", action, errcode, exc.errmsg)
    return WeChatError(errcode=errcode)


def _miniprogram_state() -> str:
    return getattr(settings, "WECHAT_MINIPROGRAM_STATE", None) or (
        "developer" if settings.DEBUG else "formal"
    )


# --- WeChat Pay (API v2) ------------------------------------------------------------------------
def wechat_pay_order_create(
    *,
    out_trade_no: str,
    total_fee: int,
    body: str,
    openid: str,
    notify_url: str,
    client_ip: str,
    expires_at: datetime | None = None,
) -> dict:
    """Place a JSAPI unified order and answer what ``wx.requestPayment`` needs.

    Returns ``{"appId", "timeStamp", "nonceStr", "package", "signType", "paySign"}``
    (``package`` is ``prepay_id=...``). Placing the same ``out_trade_no`` again with the same
    amount gives the same prepay id. ``expires_at`` (aware) is when WeChat stops accepting the
    payment (at least a minute ahead). ``body`` is cut to WeChat's 128 bytes.
    Raises WeChatPayOrderPaidError when that order is already paid.
    """
    pay = _pay_client()
    result = _pay_breaker.run(
        lambda: _pay_call(
            "unified order",
            pay,
            lambda: pay.order.create(
                trade_type="JSAPI",
                body=_truncate_utf8(body, PAY_BODY_MAX_BYTES),
                total_fee=int(total_fee),
                notify_url=notify_url,
                client_ip=client_ip,
                user_id=openid,
                out_trade_no=out_trade_no,
                time_expire=expires_at,
            ),
        )
    )
    prepay_id = result.get("prepay_id")
    if not prepay_id:
        logger.warning("WeChat Pay unified order %s answered without a prepay id", out_trade_no)
        raise WeChatUnavailableError()
    return dict(pay.jsapi.get_jsapi_params(prepay_id))


def wechat_pay_available() -> bool:
    """False while the unified-order circuit breaker is open: WeChat Pay failed
    ``WECHAT_BREAKER_FAILURES`` times in a row less than ``WECHAT_BREAKER_SECONDS`` ago.

    A grab asks before it takes a unit, so an outage costs no stock movement either.
    """
    return _pay_breaker.allows()


def wechat_breakers_reset() -> None:
    """Close the circuit breakers and forget their failures (tests)."""
    _pay_breaker.reset()
    _sign_in_breaker.reset()


class _CircuitBreaker:
    """Counts calls that failed for lack of WeChat (timeout, refused or dropped connection, 5xx,
    an unreadable answer, WeChat busy; not WeChat refusing the request itself).

    Closed: every call goes through. ``WECHAT_BREAKER_FAILURES`` failures in a row open it for
    ``WECHAT_BREAKER_SECONDS``: calls are refused with WeChatUnavailableError without reaching
    WeChat. Then calls go through again; the first success closes it, another failure opens it
    again at once. A threshold of 0 turns it off. One per process and kind of call, shared by
    the process's threads.
    """

    def __init__(self, name: str, clock: Callable[[], float] = time.monotonic):
        self.name = name
        self.clock = clock
        self._lock = threading.Lock()
        self._failures = 0
        self._open_until = 0.0

    def allows(self) -> bool:
        return self._open_until <= self.clock()

    def run(self, operation: Callable[[], dict]) -> dict:
        if not self.allows():
            raise WeChatUnavailableError()
        try:
            result = operation()
        except WeChatUnavailableError:
            self._failed()
            raise
        except ApplicationError:
            self._succeeded()  # WeChat answered, even if it refused
            raise
        self._succeeded()
        return result

    def reset(self) -> None:
        with self._lock:
            self._failures = 0
            self._open_until = 0.0

    def _succeeded(self) -> None:
        if self._failures:
            with self._lock:
                self._failures = 0
                self._open_until = 0.0

    def _failed(self) -> None:
        threshold = settings.WECHAT_BREAKER_FAILURES
        with self._lock:
            self._failures += 1
            if threshold <= 0 or self._failures < threshold:
                return
            seconds = settings.WECHAT_BREAKER_SECONDS
            self._open_until = self.clock() + seconds
        logger.error(
            "%s failed %d times in a row: refused at once for %.0f s before trying again",
            self.name,
            self._failures,
            seconds,
        )


_pay_breaker = _CircuitBreaker("WeChat Pay unified order")
_sign_in_breaker = _CircuitBreaker("WeChat sign-in (code2session, phone number)")


def wechat_pay_order_query(*, out_trade_no: str) -> dict:
    """The order's state at WeChat Pay.

    Returns ``{"out_trade_no", "trade_state", "total_fee" (int), "transaction_id" (str or
    None), "paid_at" (aware datetime or None)}``. ``trade_state`` is WeChat's: ``NOTPAY``,
    ``SUCCESS``, ``CLOSED``, ``REFUND``, ``USERPAYING``, ``PAYERROR``, ``REVOKED``, or
    ``NOTEXIST`` when WeChat has no such order (the unified order never went through).
    """
    pay = _pay_client()
    try:
        result = _pay_call("order query", pay, lambda: pay.order.query(out_trade_no=out_trade_no))
    except WeChatError as exc:
        if exc.errcode == "ORDERNOTEXIST":
            return {
                "out_trade_no": out_trade_no,
                "trade_state": "NOTEXIST",
                "total_fee": 0,
                "transaction_id": None,
                "paid_at": None,
            }
        raise
    return {
        "out_trade_no": result.get("out_trade_no") or out_trade_no,
        "trade_state": result.get("trade_state") or "NOTPAY",
        "total_fee": int(result.get("total_fee") or 0),
        "transaction_id": result.get("transaction_id") or None,
        "paid_at": _pay_time(result.get("time_end")),
    }


def wechat_pay_order_close(*, out_trade_no: str) -> None:
    """Close an unpaid order so that it can no longer be paid.

    Closing an order that is already closed, or that WeChat never had, succeeds (nothing can
    pay it). Raises WeChatPayOrderPaidError when the shopper has paid it: treat the order as
    paid, not cancelled.
    """
    pay = _pay_client()
    try:
        _pay_call("close order", pay, lambda: pay.order.close(out_trade_no))
    except WeChatPayOrderPaidError:
        raise
    except WeChatError as exc:
        if exc.errcode not in ("ORDERCLOSED", "ORDERNOTEXIST"):
            raise


def wechat_pay_refund(
    *, out_trade_no: str, out_refund_no: str, total_fee: int, refund_fee: int
) -> dict:
    """Refund ``refund_fee`` of a paid order. Repeating an ``out_refund_no`` refunds once.

    Returns ``{"refund_id", "out_refund_no", "out_trade_no", "transaction_id", "refund_fee"
    (int), "total_fee" (int)}``.
    """
    pay = _pay_client()
    result = _pay_call(
        "refund",
        pay,
        lambda: pay.refund.apply(
            int(total_fee), int(refund_fee), out_refund_no, out_trade_no=out_trade_no
        ),
    )
    return {
        "refund_id": result.get("refund_id"),
        "out_refund_no": result.get("out_refund_no") or out_refund_no,
        "out_trade_no": result.get("out_trade_no") or out_trade_no,
        "transaction_id": result.get("transaction_id") or None,
        "refund_fee": int(result.get("refund_fee") or refund_fee),
        "total_fee": int(result.get("total_fee") or total_fee),
    }


def wechat_pay_notification_parse(xml_body: bytes) -> dict:
    """Verify and read a WeChat Pay payment callback.

    Checks the signature with the merchant key, that ``appid`` and ``mch_id`` are ours and that
    ``return_code`` is SUCCESS. Returns WeChat's fields with amounts as int (``total_fee``,
    ``cash_fee``), plus ``paid`` (``result_code == "SUCCESS"``) and ``paid_at`` (aware datetime
    from ``time_end``). The caller still checks ``out_trade_no`` and ``total_fee`` against its
    order. Raises WeChatPayNotificationInvalidError otherwise.
    """
    pay = _pay_client()
    try:
        data = dict(pay.parse_payment_result(xml_body))
    except InvalidSignatureException:
        logger.warning("WeChat Pay callback refused: bad signature or XML")
        raise WeChatPayNotificationInvalidError() from None
    except (AttributeError, TypeError, ValueError):
        logger.warning("WeChat Pay callback refused: unreadable")
        raise WeChatPayNotificationInvalidError() from None
    data.pop("sign", None)
    if data.get("appid") != settings.WECHAT_APPID:
        logger.warning("WeChat Pay callback refused: another appid")
        raise WeChatPayNotificationInvalidError()
    if data.get("mch_id") != settings.WECHAT_PAY_MCH_ID:
        logger.warning("WeChat Pay callback refused: another merchant")
        raise WeChatPayNotificationInvalidError()
    if data.get("return_code") != "SUCCESS" or not data.get("out_trade_no"):
        logger.warning("WeChat Pay callback refused: not a payment result")
        raise WeChatPayNotificationInvalidError()
    if not isinstance(data.get("total_fee"), int):
        logger.warning("WeChat Pay callback refused: no amount")
        raise WeChatPayNotificationInvalidError()
    data["paid"] = data.get("result_code") == "SUCCESS"
    data["paid_at"] = _pay_time(data.get("time_end"))
    return data


def wechat_pay_notification_reply(*, success: bool, message: str = "OK") -> str:
    """The XML body answering a payment callback (content type ``text/xml``).

    WeChat retries the callback until it is answered with ``success=True``.
    """
    code = "SUCCESS" if success else "FAIL"
    text = message.replace("]]>", "]]]]><![CDATA[>")
    return (
        f"<xml><return_code><![CDATA[{code}]]></return_code>"
        f"<return_msg><![CDATA[{text}]]></return_msg></xml>"
    )


def _pay_call(action: str, pay: WeChatPay, operation: Callable[[], object]) -> dict:
    try:
        result = operation()
    except WeChatPayException as exc:
        raise _pay_error(action, exc) from exc
    except requests.RequestException as exc:
        logger.warning("WeChat Pay %s failed: %s", action, type(exc).__name__)
        raise WeChatUnavailableError() from None
    if not isinstance(result, dict):
        logger.warning("WeChat Pay %s answered something that is not XML", action)
        raise WeChatUnavailableError()
    if not pay.check_signature(dict(result)):
        logger.error("WeChat Pay %s: the answer's signature does not match", action)
        raise WeChatError(errcode="INVALID_RESPONSE_SIGNATURE")
    return result


def _pay_error(action: str, exc: WeChatPayException) -> Exception:
    if exc.return_code is None:
        status = getattr(exc.response, "status_code", None)
        logger.warning("WeChat Pay %s failed: HTTP %s", action, status)
        return WeChatUnavailableError()
    if exc.return_code != "SUCCESS":
        # WeChat could not read the request (signature, merchant, parameters): configuration.
        logger.error("WeChat Pay %s refused: %s", action, exc.return_msg)
        return WeChatError(errcode=exc.return_code)
    err_code = exc.errcode
    if err_code == "ORDERPAID":
        logger.info("WeChat Pay %s: the order is already paid", action)
        return WeChatPayOrderPaidError(errcode=err_code)
    if err_code == "FREQUENCY_LIMITED":
        logger.warning("WeChat Pay %s: rate limited", action)
        return WeChatRateLimitedError()
    if err_code in PAY_UNAVAILABLE_ERR_CODES:
        logger.warning("WeChat Pay %s: %s", action, err_code)
        return WeChatUnavailableError()
    logger.warning("WeChat Pay %s refused: %s, %s", action, err_code, exc.errmsg)
    return WeChatError(errcode=err_code)


def _pay_time(time_end: str | None) -> datetime | None:
    if not time_end:
        return None
    try:
        return datetime.strptime(time_end, "%Y%m%d%H%M%S").replace(tzinfo=CHINA)
    except ValueError:
        return None


def _truncate_utf8(text: str, max_bytes: int) -> str:
    return text.encode("utf-8")[:max_bytes].decode("utf-8", "ignore")


# --- Clients, built once per process and settings ----------------------------------------------
_clients_lock = threading.Lock()
_mini_program_clients: dict[tuple, _MiniProgramClient] = {}
_pay_clients: dict[tuple, WeChatPay] = {}
_redis_clients: dict[str, redis.Redis] = {}
_memory_storage = MemoryStorage()  # one per process, shared by all its clients
_memory_refresh_lock = threading.Lock()


def _api_root() -> str:
    root = settings.WECHAT_API_ROOT
    return root if root.endswith("/") else root + "/"


def _mini_program_client_key() -> tuple:
    return (
        _api_root(),
        settings.WECHAT_APPID,
        settings.WECHAT_SECRET,
        float(settings.WECHAT_TIMEOUT_SECONDS),
        settings.REDIS_URL or "",
    )


def _mini_program_client() -> _MiniProgramClient:
    key = _mini_program_client_key()
    client = _mini_program_clients.get(key)
    if client is None:
        with _clients_lock:
            client = _mini_program_clients.get(key)
            if client is None:
                client = _mini_program_clients[key] = _mini_program_client_build(key)
    return client


def _mini_program_client_build(key: tuple) -> _MiniProgramClient:
    api_root, appid, secret, timeout, redis_url = key
    if redis_url:
        redis_client = _redis_client(redis_url)
        session = RedisStorage(redis_client, prefix="wechatpy")

        def refresh_lock():
            return redis_client.lock(
                f"wechat:token-refresh:{appid}", timeout=10, blocking_timeout=5
            )
    else:
        session = _memory_storage

        def refresh_lock():
            return _memory_refresh_lock

    return _MiniProgramClient(
        api_root=api_root,
        appid=appid,
        secret=secret,
        timeout=timeout,
        session=session,
        refresh_lock=refresh_lock,
    )


def _http_session_settle(session: requests.Session, *, api_root: str) -> None:
    """Read the proxy settings for ``api_root`` from the environment once, not per call.

    By default requests looks up proxy variables and ~/.netrc on every request, which costs
    more CPU than building and signing the call itself on the grab path.
    """
    session.proxies = requests.utils.get_environ_proxies(api_root)
    session.trust_env = False


def _redis_client(url: str) -> redis.Redis:
    client = _redis_clients.get(url)
    if client is None:
        # Short socket timeouts: a stuck Redis must not hang a request any more than WeChat.
        client = redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=2)
        _redis_clients[url] = client
    return client


def _pay_client() -> WeChatPay:
    key = (
        _api_root(),
        settings.WECHAT_APPID,
        settings.WECHAT_PAY_MCH_ID,
        settings.WECHAT_PAY_API_KEY,
        float(settings.WECHAT_TIMEOUT_SECONDS),
        getattr(settings, "WECHAT_PAY_MCH_CERT", None),
        getattr(settings, "WECHAT_PAY_MCH_KEY", None),
    )
    pay = _pay_clients.get(key)
    if pay is None:
        with _clients_lock:
            pay = _pay_clients.get(key)
            if pay is None:
                api_root, appid, mch_id, api_key, timeout, mch_cert, mch_key = key
                pay = WeChatPay(
                    appid=appid,
                    api_key=api_key,
                    mch_id=mch_id,
                    mch_cert=mch_cert,
                    mch_key=mch_key,
                    timeout=timeout,
                )
                pay.API_BASE_URL = api_root
                _http_session_settle(pay._http, api_root=api_root)
                _pay_clients[key] = pay
    return pay
