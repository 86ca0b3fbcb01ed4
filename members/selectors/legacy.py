"""Reads for legacy cards and member numbers: finding a member by any number they go by."""

from members.exceptions import LegacyCardNotClaimedError, MemberNotFoundError
from members.models import LegacyCard, Member, MemberNumberAlias


def member_find_by_number(*, number: str) -> Member:
    """The member with this number: their member number, a number they had before (kept as an
    alias when they took over a card), or the card number of the legacy card they took over.

    Raises ``LegacyCardNotClaimedError`` (404 ``card_not_claimed``) for the card of an old
    member who has not bound their phone yet, and ``MemberNotFoundError`` (404) otherwise.
    Inactive members are not found.
    """
    number = number.strip()
    if not number.isdigit():
        raise MemberNotFoundError()
    members = Member.objects.active()
    member = members.filter(member_no=number).first()
    if member is not None:
        return member
    member = members.filter(number_aliases__number=number).first()
    if member is not None:
        return member
    card = LegacyCard.objects.filter(card_no=number).only("pk", "claimed_by_id").first()
    if card is None:
        raise MemberNotFoundError()
    if card.claimed_by_id is None:
        raise LegacyCardNotClaimedError()
    member = members.filter(pk=card.claimed_by_id).first()
    if member is None:
        raise MemberNotFoundError()
    return member


def member_ids_find_by_numbers(*, numbers: list[str]) -> dict[str, int]:
    """``{number: member id}`` for the numbers that find a member (as in
    ``member_find_by_number``); three queries whatever the list's length (callers chunk it)."""
    wanted = {number for number in numbers if number}
    found = dict(Member.objects.filter(member_no__in=wanted).values_list("member_no", "pk"))
    rest = wanted - found.keys()
    if rest:
        found.update(
            MemberNumberAlias.objects.filter(number__in=rest).values_list("number", "member_id")
        )
        rest -= found.keys()
    if rest:
        found.update(
            LegacyCard.objects.filter(card_no__in=rest, claimed_by__isnull=False).values_list(
                "card_no", "claimed_by_id"
            )
        )
    return found
