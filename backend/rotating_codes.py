"""Short-lived, unforgeable codes that a shopper shows and a cashier scans.

A code names one object (a member, a coupon), the minute it was issued and an HMAC-SHA256
tag truncated to 64 bits under a key derived from ``SECRET_KEY``; it is checked without a
database query and issuing one writes nothing. Codes use only QR's alphanumeric set (digits,
upper-case letters and ``-``) and stay within 32 characters, so a small QR code in
alphanumeric mode holds one and a handheld scanner reads it quickly::

    M3F9K-T0ZQ4-MFRGGZDFMZTWQ2LK
    ^ ^    ^     ^ 64-bit tag, base32
    | |    issue step (minutes since the epoch), base 36
    | object id, base 36
    kind

A new code is issued every ``ROTATING_CODE_STEP_SECONDS`` (60 s) and each is accepted for
``ROTATING_CODE_TTL_SECONDS`` (120 s) from the start of its step.
"""

import base64
import hmac
import string
from dataclasses import dataclass

from django.conf import settings
from django.utils import timezone
from django.utils.crypto import salted_hmac

from backend.exceptions import CodeExpiredError, InvalidCodeError

MAX_CODE_LENGTH = 32
_DIGITS36 = string.digits + string.ascii_uppercase
_TAG_BYTES = 8


@dataclass(frozen=True)
class IssuedCode:
    code: str
    expires_in: int


def _to_base36(number: int) -> str:
    if number == 0:
        return "0"
    digits = []
    while number:
        number, remainder = divmod(number, 36)
        digits.append(_DIGITS36[remainder])
    return "".join(reversed(digits))


def _tag(kind: str, object_id: int, step: int) -> str:
    mac = salted_hmac(
        f"backend.rotating_codes.{kind}", f"{kind}:{object_id}:{step}", algorithm="sha256"
    ).digest()[:_TAG_BYTES]
    return base64.b32encode(mac).decode("ascii").rstrip("=")


def _now_seconds() -> int:
    return int(timezone.now().timestamp())


def rotating_code_issue(*, kind: str, object_id: int) -> IssuedCode:
    """Return the current code for ``object_id`` and how many seconds it stays valid."""
    step_seconds = settings.ROTATING_CODE_STEP_SECONDS
    now = _now_seconds()
    step = now // step_seconds
    code = f"{kind}{_to_base36(object_id)}-{_to_base36(step)}-{_tag(kind, object_id, step)}"
    if len(code) > MAX_CODE_LENGTH:
        raise ValueError(
            f"object id {object_id} is too large for a {MAX_CODE_LENGTH}-character code"
        )
    expires_in = step * step_seconds + settings.ROTATING_CODE_TTL_SECONDS - now
    return IssuedCode(code=code, expires_in=expires_in)


def rotating_code_verify(*, kind: str, code: str) -> int:
    """Return the object id behind ``code``.

    Raises ``InvalidCodeError`` for anything not issued by this service for ``kind``
    (tampered, truncated, another kind) and ``CodeExpiredError`` for a genuine code past its
    lifetime.
    """
    code = (code or "").strip().upper()
    if len(code) > MAX_CODE_LENGTH or not code.startswith(kind):
        raise InvalidCodeError()
    parts = code[len(kind) :].split("-")
    if len(parts) != 3:
        raise InvalidCodeError()
    object_part, step_part, tag = parts
    try:
        object_id = int(object_part, 36)
        step = int(step_part, 36)
    except ValueError:
        raise InvalidCodeError() from None
    if not hmac.compare_digest(tag, _tag(kind, object_id, step)):
        raise InvalidCodeError()

    step_seconds = settings.ROTATING_CODE_STEP_SECONDS
    now = _now_seconds()
    issued_at = step * step_seconds
    if issued_at > now + step_seconds:
        raise InvalidCodeError()  # from the future: a clock we did not issue from
    if now >= issued_at + settings.ROTATING_CODE_TTL_SECONDS:
        raise CodeExpiredError()
    return object_id
