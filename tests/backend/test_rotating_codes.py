import datetime

import pytest
import time_machine

from backend.exceptions import CodeExpiredError, InvalidCodeError
from backend.rotating_codes import MAX_CODE_LENGTH, rotating_code_issue, rotating_code_verify

QR_ALPHANUMERIC = set("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:")
T0 = datetime.datetime(2026, 12, 1, 10, 0, 5, tzinfo=datetime.UTC)


def test_code_is_short_and_qr_alphanumeric():
    issued = rotating_code_issue(kind="M", object_id=9_999_999_999)

    assert len(issued.code) <= MAX_CODE_LENGTH
    assert set(issued.code) <= QR_ALPHANUMERIC


def test_code_round_trips_to_its_object():
    with time_machine.travel(T0, tick=False):
        issued = rotating_code_issue(kind="M", object_id=42)
        assert rotating_code_verify(kind="M", code=issued.code) == 42


def test_code_rotates_every_minute_and_expires_after_two():
    with time_machine.travel(T0, tick=False) as clock:
        first = rotating_code_issue(kind="M", object_id=7)
        assert 60 < first.expires_in <= 120
        clock.shift(60)
        second = rotating_code_issue(kind="M", object_id=7)
        assert second.code != first.code
        assert rotating_code_verify(kind="M", code=first.code) == 7
        clock.shift(first.expires_in - 60)
        with pytest.raises(CodeExpiredError):
            rotating_code_verify(kind="M", code=first.code)
        assert rotating_code_verify(kind="M", code=second.code) == 7


def test_any_changed_character_is_rejected():
    with time_machine.travel(T0, tick=False):
        code = rotating_code_issue(kind="M", object_id=123456).code
        for position, char in enumerate(code):
            replacement = "A" if char != "A" else "B"
            tampered = code[:position] + replacement + code[position + 1 :]
            with pytest.raises(InvalidCodeError):
                rotating_code_verify(kind="M", code=tampered)


def test_code_of_another_kind_is_rejected():
    with time_machine.travel(T0, tick=False):
        code = rotating_code_issue(kind="M", object_id=5).code
        with pytest.raises(InvalidCodeError):
            rotating_code_verify(kind="C", code="C" + code[1:])
