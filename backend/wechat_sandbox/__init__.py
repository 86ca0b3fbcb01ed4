"""A local stand-in for WeChat's mini-program API and WeChat Pay (API v2).

Development, the demo and the tests run against it so that the real wechatpy client code runs
end to end over HTTP. Conventions (see README.md):

- login code ``X`` → openid ``sandbox-openid-X``; a code starting ``bad`` → errcode 40029; a
  code starting ``unionid-`` also gets unionid ``sandbox-unionid-X``;
- phone code ``phone-13800138000`` → phone number 13800138000, anything else → 40029;
- subscribe messages are kept in memory: ``GET /sandbox/messages?touser=``;
- ``POST /sandbox/faults {"mode", "count", "path", "delay_s"}`` makes the next calls fail
  (drop, delay, rate_limited, invalid_token, http_500, user_refused);
- WeChat Pay: ``/pay/unifiedorder``, ``/pay/orderquery``, ``/pay/closeorder``,
  ``/secapi/pay/refund``; ``POST /sandbox/pay/{out_trade_no}[?delay_s=N]`` pays an order and
  sends the signed callback to its notify URL; ``GET /sandbox/pay/orders/{out_trade_no}``.

Run it with ``python -m backend.wechat_sandbox --port 8765`` or in-process with
``start_sandbox()``. It needs nothing from Django.
"""

from .control import SandboxControl
from .server import SandboxServer, start_sandbox
from .state import SandboxConfig

__all__ = ["SandboxConfig", "SandboxControl", "SandboxServer", "start_sandbox"]
