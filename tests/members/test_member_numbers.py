import threading

import pytest
from django.db import connection

from members.member_numbers import luhn_is_valid, member_number_next
from tests.factories import MemberFactory
from tests.markers import requires_postgresql


@pytest.mark.django_db
def test_member_number_is_twelve_digits_with_a_valid_check_digit():
    number = member_number_next()

    assert number.isdigit()
    assert len(number) == 12
    assert luhn_is_valid(number)


@pytest.mark.django_db
def test_every_single_mistyped_digit_is_caught():
    number = member_number_next()
    for position, digit in enumerate(number):
        for wrong in "0123456789":
            if wrong != digit:
                typo = number[:position] + wrong + number[position + 1 :]
                assert not luhn_is_valid(typo), typo


@pytest.mark.django_db
def test_member_numbers_are_allocated_in_sequence_and_never_repeat():
    numbers = [member_number_next() for _ in range(50)]

    assert len(set(numbers)) == 50
    assert [int(n[2:-1]) for n in numbers] == sorted(int(n[2:-1]) for n in numbers)


@requires_postgresql
@pytest.mark.django_db(transaction=True)
def test_200_members_created_by_8_threads_get_200_distinct_valid_numbers():
    errors = []

    def create_members():
        try:
            for _ in range(25):
                MemberFactory()
        except Exception as error:  # pragma: no cover - reported below
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=create_members) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    from members.models import Member

    numbers = list(Member.objects.values_list("member_no", flat=True))
    assert errors == []
    assert len(numbers) == 200
    assert len(set(numbers)) == 200
    assert all(luhn_is_valid(number) for number in numbers)
