"""The WeChat gateway: the only module that imports wechatpy.

Every call to WeChat (mini-program API and WeChat Pay) goes through the functions here, which
turn WeChat's failures into the API's errors (backend.exceptions):
invalid login or phone code → WeChatInvalidCodeError (400 ``wechat_invalid_code``),
rate limited (45011) → WeChatRateLimitedError (429), timeout, refused connection or 5xx →
WeChatUnavailableError (503), anything else → WeChatError.
"""

from dataclasses import dataclass


@dataclass(frozen=True)
class WeChatSession:
    openid: str
    unionid: str | None
    session_key: str


def wechat_code_to_session(code: str) -> WeChatSession:
    """Exchange a ``wx.login`` code for the member's openid (code2session)."""
    raise NotImplementedError


def wechat_phone_number(code: str) -> str:
    """The phone number behind a ``getPhoneNumber`` button's code (digits only)."""
    raise NotImplementedError


def wechat_subscribe_message_send(
    *, openid: str, template_id: str, data: dict, page: str | None = None
) -> None:
    """Send one subscribe message. Raises WeChatError with ``errcode`` 43101 when refused."""
    raise NotImplementedError
