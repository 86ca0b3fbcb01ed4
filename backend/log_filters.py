"""Logging filters named in ``settings.LOGGING``."""

import logging


class SkipServiceUnavailable(logging.Filter):
    """Drop django.request's line for a 503 answer.

    A 503 is this API telling a client that something it depends on is down (WeChat Pay for a
    grab, a backing service for ``/api/ready``). The failure itself is logged where it happens:
    each failed WeChat call by the gateway, an open WeChat Pay circuit breaker once, each failed
    readiness check by the check. Without this filter, a sale running into a WeChat outage would
    log one more ERROR line for every grab the breaker refuses.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        return getattr(record, "status_code", None) != 503
