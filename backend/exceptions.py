"""Domain errors. Every error a client can see has a stable machine-readable code."""

from django.utils.translation import gettext_lazy as _


class ApplicationError(Exception):
    """A refusal the API reports as ``{"code": ..., "detail": ...}`` with ``status``.

    Subclasses set ``code``, ``status`` and ``default_detail``; a call site may pass a more
    specific ``detail``.
    """

    code = "error"
    status = 400
    default_detail = _("The request could not be completed.")

    def __init__(self, detail=None, *, extra=None):
        self.detail = detail if detail is not None else self.default_detail
        self.extra = extra or {}
        super().__init__(str(self.detail))


class InvalidCodeError(ApplicationError):
    code = "invalid_code"
    status = 400
    default_detail = _("This code is not valid.")


class CodeExpiredError(ApplicationError):
    code = "code_expired"
    status = 400
    default_detail = _("This code has expired; ask the shopper to refresh it.")


class WeChatInvalidCodeError(ApplicationError):
    code = "wechat_invalid_code"
    status = 400
    default_detail = _("WeChat did not accept this code; please try again.")


class WeChatRateLimitedError(ApplicationError):
    code = "wechat_rate_limited"
    status = 429
    default_detail = _("WeChat is busy; please try again shortly.")


class WeChatUnavailableError(ApplicationError):
    code = "wechat_unavailable"
    status = 503
    default_detail = _("WeChat cannot be reached right now; please try again.")


class WeChatError(ApplicationError):
    """WeChat answered with an error this service does not expect."""

    code = "wechat_error"
    status = 502
    default_detail = _("WeChat refused the request.")

    def __init__(self, detail=None, *, errcode=None, extra=None):
        self.errcode = errcode
        super().__init__(detail, extra=extra)


class WeChatPayOrderPaidError(WeChatError):
    """WeChat Pay refused to close (or re-create) an order because the shopper has paid it.

    The caller should treat the order as paid (query it, or wait for the payment callback)
    rather than cancel it.
    """

    code = "wechat_order_paid"
    status = 409
    default_detail = _("This order has already been paid.")


class WeChatPayNotificationInvalidError(ApplicationError):
    """A payment callback that is not WeChat's: bad signature, other merchant or app, bad XML."""

    code = "wechat_pay_notification_invalid"
    status = 400
    default_detail = _("The payment notification could not be verified.")
