"""Tags: admin assignment by member or card numbers, level tags, and each nightly rule."""

import datetime

import pytest
import time_machine
from django.contrib.auth import get_user_model
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from coupons.models import Coupon, Redemption
from members.models import Member, TagAssignment, TagRule, TagRuleKind
from members.services.legacy import legacy_card_takeover
from members.services.tags import (
    member_level_tags_set,
    tag_assign_from_csv,
    tag_rule_evaluate,
    tag_rules_evaluate,
)
from members.tasks import tag_rules_evaluate_task
from tests.factories import (
    CampaignFactory,
    LegacyCardFactory,
    MemberFactory,
    StoreFactory,
    TagFactory,
)

NOW = datetime.datetime(2026, 6, 1, 3, 0, tzinfo=datetime.UTC)
DAY = datetime.timedelta(days=1)


def slugs(member):
    return sorted(Member.objects.get(pk=member.pk).tags.values_list("slug", flat=True))


def redeem(member, store, at, *, voided=False):
    cashier, _ = get_user_model().objects.get_or_create(username="cashier")
    campaign = CampaignFactory()
    coupon = Coupon.objects.create(
        campaign=campaign, member=member, valid_from=at - DAY, valid_until=at + DAY
    )
    return Redemption.objects.create(
        coupon=coupon,
        campaign=campaign,
        store=store,
        cashier=cashier,
        redeemed_at=at,
        order_amount_fen=10000,
        discount_fen=1000,
        receipt_no=f"R{coupon.pk}",
        idempotency_key=f"k{coupon.pk}",
        request_fingerprint="f",
        voided_at=at + datetime.timedelta(minutes=5) if voided else None,
    )


# --- Admin assignment -------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_csv_of_member_and_card_numbers_tags_those_members(settings, tmp_path):
    # given a member known by a card number and another by their member number
    settings.MEDIA_ROOT = tmp_path
    LegacyCardFactory(phone="13800138000", card_no="660000000001")
    card_member = MemberFactory()
    old_no = card_member.member_no
    legacy_card_takeover(member=card_member, phone="13800138000")
    plain = MemberFactory()
    untouched = MemberFactory()
    tag = TagFactory(slug="vip")
    content = f"number\n660000000001\n{plain.member_no}\n{old_no}\n999999\n".encode()

    # when an admin uploads the CSV for the tag
    assignment = tag_assign_from_csv(
        tag=tag, numbers_file=SimpleUploadedFile("vip.csv", content, content_type="text/csv")
    )

    # then both carry the tag, the unknown number is reported, nobody else is touched
    assert "vip" in slugs(card_member) and "vip" in slugs(plain)
    assert slugs(untouched) == []
    assert (assignment.numbers_read, assignment.changed, assignment.not_found) == (4, 2, 1)
    assert assignment.not_found_sample == "999999"


@pytest.mark.django_db
def test_a_tag_is_removed_from_one_member_by_number():
    tag = TagFactory(slug="vip")
    member, other = MemberFactory(), MemberFactory()
    member.tags.add(tag)
    other.tags.add(tag)

    assignment = tag_assign_from_csv(tag=tag, action="remove", numbers=member.member_no)

    assert assignment.changed == 1
    assert slugs(member) == [] and slugs(other) == ["vip"]


@pytest.mark.django_db
def test_admin_tags_one_member_through_the_assignment_form(admin_client):
    tag = TagFactory(slug="vip")
    member = MemberFactory()

    response = admin_client.post(
        reverse("admin:members_tagassignment_add"),
        {"tag": tag.pk, "action": "add", "numbers": member.member_no},
    )

    assert response.status_code == 302
    assert slugs(member) == ["vip"]
    assignment = TagAssignment.objects.get()
    page = admin_client.get(reverse("admin:members_tagassignment_change", args=[assignment.pk]))
    assert page.status_code == 200


@pytest.mark.django_db
def test_a_level_tag_replaces_the_members_previous_level_tag():
    member = MemberFactory()
    vip = TagFactory(slug="vip")
    member.tags.add(vip)
    member_level_tags_set(levels_by_member={member.pk: "silver"})

    member_level_tags_set(levels_by_member={member.pk: "gold"})

    assert slugs(member) == ["level-gold", "vip"]


# --- Rules ------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_new_member_rule_tags_members_who_joined_within_the_days():
    # given members who joined 3 and 10 days ago and a 7-day rule (joined_at is the
    # database's clock, so it is set rather than travelled to)
    recent = MemberFactory(joined_at=NOW - 3 * DAY)
    older = MemberFactory(joined_at=NOW - 10 * DAY)
    rule = TagRule.objects.create(tag=TagFactory(slug="new"), kind=TagRuleKind.NEW_MEMBER, days=7)

    # when evaluated now
    with time_machine.travel(NOW, tick=False):
        assert tag_rule_evaluate(rule=rule) == (1, 0)

    # then only the recent one has it; five days later it is taken away again
    assert slugs(recent) == ["new"] and slugs(older) == []
    with time_machine.travel(NOW + 5 * DAY, tick=False):
        assert tag_rule_evaluate(rule=rule) == (0, 1)
    assert slugs(recent) == []


@pytest.mark.django_db
def test_bought_at_store_rule_counts_live_redemptions_at_that_store_only():
    store, elsewhere = StoreFactory(), StoreFactory()
    buyer, voided, other_store, nobody = (MemberFactory() for _ in range(4))
    redeem(buyer, store, NOW - 2 * DAY)
    redeem(voided, store, NOW - 2 * DAY, voided=True)
    redeem(other_store, elsewhere, NOW - 2 * DAY)
    rule = TagRule.objects.create(
        tag=TagFactory(slug="bought"), kind=TagRuleKind.BOUGHT_AT_STORE, store=store
    )

    with time_machine.travel(NOW, tick=False):
        tag_rule_evaluate(rule=rule)

    assert [bool(slugs(m)) for m in (buyer, voided, other_store, nobody)] == [
        True,
        False,
        False,
        False,
    ]


@pytest.mark.django_db
def test_bought_at_store_rule_with_days_forgets_old_purchases():
    store = StoreFactory()
    member = MemberFactory()
    redeem(member, store, NOW - 40 * DAY)
    rule = TagRule.objects.create(
        tag=TagFactory(slug="bought"), kind=TagRuleKind.BOUGHT_AT_STORE, store=store, days=30
    )

    with time_machine.travel(NOW, tick=False):
        assert tag_rule_evaluate(rule=rule) == (0, 0)


@pytest.mark.django_db
def test_near_store_rule_uses_the_last_location_within_3_km_with_consent():
    # given a store in Shenzhen and members at about 1 km, 5 km, and 1 km without consent
    store = StoreFactory(latitude=22.5431, longitude=114.0579)
    near = MemberFactory(last_lat=22.552, last_lng=114.058, location_consent=True)
    far = MemberFactory(last_lat=22.588, last_lng=114.058, location_consent=True)
    no_consent = MemberFactory(last_lat=22.552, last_lng=114.058, location_consent=False)
    nowhere = MemberFactory()
    rule = TagRule.objects.create(
        tag=TagFactory(slug="near"), kind=TagRuleKind.NEAR_STORE, store=store
    )

    with time_machine.travel(NOW, tick=False):
        tag_rule_evaluate(rule=rule)

    assert [bool(slugs(m)) for m in (near, far, no_consent, nowhere)] == [
        True,
        False,
        False,
        False,
    ]


@pytest.mark.django_db
def test_dormant_rule_tags_members_without_a_redemption_for_the_days():
    store = StoreFactory()
    active, dormant, voided_only = (MemberFactory(joined_at=NOW - 100 * DAY) for _ in range(3))
    newcomer = MemberFactory(joined_at=NOW - 5 * DAY)
    redeem(active, store, NOW - 10 * DAY)
    redeem(dormant, store, NOW - 80 * DAY)
    redeem(voided_only, store, NOW - 10 * DAY, voided=True)
    rule = TagRule.objects.create(tag=TagFactory(slug="dormant"), kind=TagRuleKind.DORMANT, days=60)

    with time_machine.travel(NOW, tick=False):
        tag_rule_evaluate(rule=rule)

    assert [bool(slugs(m)) for m in (active, dormant, voided_only, newcomer)] == [
        False,
        True,
        True,
        False,
    ]


@pytest.mark.django_db
def test_the_nightly_task_evaluates_every_active_rule_and_records_the_counts():
    member = MemberFactory(joined_at=NOW - DAY)
    active = TagRule.objects.create(tag=TagFactory(slug="new"), kind=TagRuleKind.NEW_MEMBER, days=7)
    paused = TagRule.objects.create(
        tag=TagFactory(slug="new2"), kind=TagRuleKind.NEW_MEMBER, days=7, is_active=False
    )

    with time_machine.travel(NOW, tick=False):
        tag_rules_evaluate_task.delay()

    assert slugs(member) == ["new"]
    active.refresh_from_db()
    paused.refresh_from_db()
    assert (active.last_added, active.last_evaluated_at) == (1, NOW)
    assert paused.last_evaluated_at is None
    with time_machine.travel(NOW, tick=False):
        assert tag_rules_evaluate() == {active.pk: (0, 0)}


@pytest.mark.django_db
def test_admin_evaluates_a_rule_on_demand(admin_client):
    member = MemberFactory()  # joined now
    rule = TagRule.objects.create(tag=TagFactory(slug="new"), kind=TagRuleKind.NEW_MEMBER, days=7)

    response = admin_client.post(
        reverse("admin:members_tagrule_changelist"),
        {"action": "evaluate_now", "_selected_action": [rule.pk]},
    )

    assert response.status_code == 302
    assert slugs(member) == ["new"]
