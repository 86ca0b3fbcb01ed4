"""Reads of members."""

from django.db.models import F

from backend.exceptions import InvalidCodeError
from backend.rotating_codes import IssuedCode, rotating_code_issue, rotating_code_verify
from members.exceptions import MemberDisabledError, MemberNotFoundError
from members.member_numbers import looks_generated, luhn_is_valid
from members.models import Member
from members.selectors.legacy import member_find_by_number

MEMBER_CODE_KIND = "M"


_PROFILE_COLUMNS = [
    "member_no",
    "nickname",
    "avatar_url",
    "gender",
    "birth_date",
    "phone",
    "level",
    "points",
    "joined_at",
]


def member_get(*, member_id: int) -> Member:
    """The member with their tags; ``Member.DoesNotExist`` becomes a 404 in the API."""
    return Member.objects.prefetch_related("tags").get(pk=member_id)


def member_profile_get(*, member_id: int) -> dict:
    """What the member sees of themselves: ``_PROFILE_COLUMNS`` and ``tags`` (``[{slug, name}]``).

    One query, plain values and no model instances (the mini-program asks for this on every
    page it opens): a row per tag, joined, folded here. ``Member.DoesNotExist`` becomes a 404
    in the API.
    """
    rows = list(
        Member.objects.filter(pk=member_id)
        .values(*_PROFILE_COLUMNS, tag_slug=F("tags__slug"), tag_name=F("tags__name"))
        .order_by("tags__slug")
    )
    if not rows:
        raise Member.DoesNotExist()
    profile = {column: rows[0][column] for column in _PROFILE_COLUMNS}
    profile["tags"] = [
        {"slug": row["tag_slug"], "name": row["tag_name"]}
        for row in rows
        if row["tag_slug"] is not None
    ]
    return profile


def member_code_issue(*, member_id: int) -> IssuedCode:
    """The member's current rotating code for the till. Reads and writes nothing."""
    return rotating_code_issue(kind=MEMBER_CODE_KIND, object_id=member_id)


def member_identify_by_code(*, code: str) -> Member:
    """The member behind a scanned member code (``invalid_code``, ``code_expired``)."""
    member_id = rotating_code_verify(kind=MEMBER_CODE_KIND, code=code)
    try:
        member = member_get(member_id=member_id)
    except Member.DoesNotExist:
        # A genuine signature for a member that no longer exists.
        raise InvalidCodeError() from None
    if not member.is_active:
        raise MemberDisabledError()
    return member


def member_identify_by_number(*, number: str) -> Member:
    """The member with this number, typed or scanned at the till: their member number, a
    number they had before, or the old plastic card they took over (``member_find_by_number``).

    A generated number with a wrong check digit (a mistyped digit) is ``invalid_code``, so
    the cashier retypes it instead of being told the member does not exist.
    """
    number = number.strip()
    try:
        member = member_find_by_number(number=number)
    except MemberNotFoundError:
        if looks_generated(number) and not luhn_is_valid(number):
            raise InvalidCodeError() from None
        raise
    return member_get(member_id=member.pk)


def member_identify(*, code: str) -> Member:
    """The member behind what the cashier scanned or typed: a member code or a member number."""
    code = code.strip()
    if code.isdigit():
        return member_identify_by_number(number=code)
    return member_identify_by_code(code=code)
