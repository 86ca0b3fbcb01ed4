"""Reads of members."""

from backend.exceptions import InvalidCodeError
from backend.rotating_codes import IssuedCode, rotating_code_issue, rotating_code_verify
from members.exceptions import MemberDisabledError
from members.models import Member

MEMBER_CODE_KIND = "M"


def member_get(*, member_id: int) -> Member:
    """The member with their tags; ``Member.DoesNotExist`` becomes a 404 in the API."""
    return Member.objects.prefetch_related("tags").get(pk=member_id)


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
