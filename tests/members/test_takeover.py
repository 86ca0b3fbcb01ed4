"""Card takeover at phone binding, and finding a member by any number they go by."""

import threading

import pytest
from django.db import IntegrityError, connection, transaction

from members.exceptions import LegacyCardNotClaimedError, MemberNotFoundError, PhoneTakenError
from members.models import LegacyCard, Member, MemberNumberAlias
from members.selectors.legacy import member_find_by_number, member_ids_find_by_numbers
from members.services.legacy import legacy_card_takeover
from tests.factories import LegacyCardFactory, MemberFactory
from tests.markers import requires_postgresql

PHONE = "13800138000"


def bind_phone(member, phone):
    """What the phone binding does around the takeover: set the phone, then take over."""
    with transaction.atomic():
        member.phone = phone
        member.save(update_fields=["phone"])
        return legacy_card_takeover(member=member, phone=phone)


@pytest.mark.django_db
def test_binding_the_phone_of_a_card_takes_it_over_with_level_and_points():
    # given an unclaimed card and a new member with some points of their own
    card = LegacyCardFactory(phone=PHONE, card_no="660000000001", level="gold", points=1200)
    member = MemberFactory(points=5)
    generated_no = member.member_no

    # when the member binds the card's phone
    taken = bind_phone(member, PHONE)

    # then the card is theirs, its number is their number, the old one an alias
    assert taken.pk == card.pk
    card.refresh_from_db()
    assert card.claimed_by_id == member.pk and card.claimed_at is not None
    stored = Member.objects.get(pk=member.pk)
    assert stored.member_no == "660000000001" == member.member_no
    assert MemberNumberAlias.objects.get(number=generated_no).member_id == member.pk
    assert (stored.level, stored.points) == ("gold", 1205)
    assert list(stored.tags.values_list("slug", flat=True)) == ["level-gold"]


@pytest.mark.django_db
def test_gender_and_birth_date_are_filled_only_when_the_member_has_none():
    LegacyCardFactory(phone=PHONE, gender="F", birth_date="1985-03-12")
    member = MemberFactory(gender="M")

    bind_phone(member, PHONE)

    stored = Member.objects.get(pk=member.pk)
    assert stored.gender == "M"
    assert str(stored.birth_date) == "1985-03-12"


@pytest.mark.django_db
def test_a_phone_without_a_card_takes_nothing_over():
    member = MemberFactory()

    assert bind_phone(member, PHONE) is None
    assert not MemberNumberAlias.objects.exists()


@pytest.mark.django_db
def test_a_card_held_by_another_member_answers_phone_taken():
    # given a card already taken over by someone else
    card = LegacyCardFactory(phone=PHONE)
    owner = MemberFactory()
    legacy_card_takeover(member=owner, phone=PHONE)

    # when another member's binding reaches the takeover
    with pytest.raises(PhoneTakenError) as error:
        legacy_card_takeover(member=MemberFactory(), phone=PHONE)

    # then the 409 phone_taken refusal, and the card stays with its owner
    assert (error.value.code, error.value.status) == ("phone_taken", 409)
    card.refresh_from_db()
    assert card.claimed_by_id == owner.pk


@pytest.mark.django_db
def test_taking_over_again_is_harmless():
    LegacyCardFactory(phone=PHONE, points=100)
    member = MemberFactory()
    legacy_card_takeover(member=member, phone=PHONE)

    again = legacy_card_takeover(member=member, phone=PHONE)

    assert again is not None
    assert Member.objects.get(pk=member.pk).points == 100
    assert MemberNumberAlias.objects.count() == 1


@pytest.mark.django_db
def test_a_member_with_a_card_does_not_take_over_a_second_one():
    LegacyCardFactory(phone=PHONE, card_no="660000000001")
    second = LegacyCardFactory(phone="13900139000", card_no="660000000002")
    member = MemberFactory()
    legacy_card_takeover(member=member, phone=PHONE)

    assert legacy_card_takeover(member=member, phone="13900139000") is None
    second.refresh_from_db()
    assert second.claimed_by_id is None
    assert Member.objects.get(pk=member.pk).member_no == "660000000001"


@pytest.mark.django_db
def test_a_card_number_that_is_another_members_number_leaves_the_number_unchanged():
    other = MemberFactory()
    LegacyCardFactory(phone=PHONE, card_no=other.member_no)
    member = MemberFactory()
    own_no = member.member_no

    card = legacy_card_takeover(member=member, phone=PHONE)

    assert card.claimed_by_id == member.pk
    assert Member.objects.get(pk=member.pk).member_no == own_no
    assert member_find_by_number(number=own_no) == member


@pytest.mark.django_db
def test_the_pos_finds_a_member_by_card_number_old_number_or_member_number():
    # given a member who took over a card
    LegacyCardFactory(phone=PHONE, card_no="660000000001")
    member = MemberFactory()
    generated_no = member.member_no
    legacy_card_takeover(member=member, phone=PHONE)

    # then every number they go by finds them
    for number in ["660000000001", generated_no, f" {generated_no} "]:
        assert member_find_by_number(number=number).pk == member.pk
    assert member_ids_find_by_numbers(numbers=["660000000001", generated_no, "1"]) == {
        "660000000001": member.pk,
        generated_no: member.pk,
    }


@pytest.mark.django_db
def test_an_unclaimed_card_number_is_a_clear_not_found():
    LegacyCardFactory(card_no="660000000001")

    with pytest.raises(LegacyCardNotClaimedError) as error:
        member_find_by_number(number="660000000001")
    assert (error.value.code, error.value.status) == ("card_not_claimed", 404)

    with pytest.raises(MemberNotFoundError):
        member_find_by_number(number="660000000099")
    with pytest.raises(MemberNotFoundError):
        member_find_by_number(number="abc")


def _race(workers, target):
    barrier = threading.Barrier(len(workers))
    outcomes = []

    def run(member):
        try:
            barrier.wait()
            outcomes.append(target(member))
        except (PhoneTakenError, IntegrityError) as error:
            outcomes.append(type(error).__name__)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(member,)) for member in workers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return outcomes


@requires_postgresql
@pytest.mark.django_db(transaction=True)
def test_members_racing_for_one_card_one_wins_the_others_get_phone_taken():
    # given one card and eight members reaching the takeover at once
    card = LegacyCardFactory(phone=PHONE)
    members = [MemberFactory() for _ in range(8)]

    def take(member):
        with transaction.atomic():
            return legacy_card_takeover(member=member, phone=PHONE)

    outcomes = _race(members, take)

    # then exactly one took it; every other was refused with phone_taken
    card.refresh_from_db()
    winners = [o for o in outcomes if isinstance(o, LegacyCard)]
    assert len(winners) == 1
    assert outcomes.count("PhoneTakenError") == 7
    assert card.claimed_by_id in {m.pk for m in members}
    assert MemberNumberAlias.objects.count() == 1
    assert Member.objects.filter(member_no=card.card_no).count() == 1


@requires_postgresql
@pytest.mark.django_db(transaction=True)
def test_members_binding_the_same_phone_at_once_one_takes_the_card_over():
    card = LegacyCardFactory(phone=PHONE)
    members = [MemberFactory() for _ in range(4)]

    outcomes = _race(members, lambda member: bind_phone(member, PHONE))

    card.refresh_from_db()
    assert len([o for o in outcomes if isinstance(o, LegacyCard)]) == 1
    # The phone's unique constraint refuses the others (the binding maps it to phone_taken).
    assert len(outcomes) == 4
    assert Member.objects.filter(phone=PHONE).count() == 1
    assert Member.objects.get(phone=PHONE).pk == card.claimed_by_id
