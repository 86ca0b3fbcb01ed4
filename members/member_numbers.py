"""Member numbers: digits a POS can print, scan and type, with a Luhn check digit.

A generated number is ``MEMBER_NO_PREFIX``, the next value of a database sequence padded to
nine digits, and a Luhn check digit: 12 digits in all. The check digit catches any single
mistyped digit and most swaps of neighbouring digits.
"""

from django.db import connection

from members.models import MemberNumberSequence

MEMBER_NO_PREFIX = "88"
_SEQUENCE_DIGITS = 9


def luhn_check_digit(digits: str) -> str:
    total = 0
    # Double every second digit from the right of the payload (the check digit comes next).
    for position, char in enumerate(reversed(digits)):
        value = int(char)
        if position % 2 == 0:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return str((10 - total % 10) % 10)


def luhn_is_valid(number: str) -> bool:
    return len(number) >= 2 and number.isdigit() and luhn_check_digit(number[:-1]) == number[-1]


def looks_generated(number: str) -> bool:
    """Whether ``number`` has the shape of a generated member number (it may still be wrong)."""
    return (
        number.isdigit()
        and len(number) == len(MEMBER_NO_PREFIX) + _SEQUENCE_DIGITS + 1
        and number.startswith(MEMBER_NO_PREFIX)
    )


def _sequence_next() -> int:
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT nextval('members_member_no_seq')")
            return cursor.fetchone()[0]
    # SQLite: an AUTOINCREMENT key never hands out the same value twice, even once deleted.
    row = MemberNumberSequence.objects.create()
    MemberNumberSequence.objects.filter(pk=row.pk).delete()
    return row.pk


def member_number_next() -> str:
    """Allocate the next member number. Never the same twice, even across racing processes."""
    payload = f"{MEMBER_NO_PREFIX}{_sequence_next():0{_SEQUENCE_DIGITS}d}"
    return payload + luhn_check_digit(payload)
