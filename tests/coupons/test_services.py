import datetime

import pytest
from django.utils import translation

from backend.exceptions import CodeExpiredError, InvalidCodeError
from coupons.demo import seed
from coupons.exceptions import (
    CampaignEndedError,
    CampaignLimitReachedError,
    CampaignNotEligibleError,
    CampaignNotFoundError,
    CampaignNotStartedError,
    CampaignPausedError,
    CampaignSoldOutError,
    CampaignStockBelowClaimedError,
    CouponAlreadyRedeemedError,
    CouponExpiredError,
    CouponMinSpendNotMetError,
    CouponNotStartedError,
    CouponPausedError,
    CouponWrongStoreError,
    IdempotencyKeyReusedError,
    RedemptionAlreadyVoidedError,
    RedemptionNotFoundError,
    RedemptionVoidWindowPassedError,
    RedemptionWrongStoreError,
)
from coupons.models import (
    Audience,
    Campaign,
    CampaignKind,
    Coupon,
    CouponSource,
    CouponStatus,
    MemberCampaignClaims,
    Redemption,
)
from coupons.services import coupons as services
from coupons.services.coupons import (
    campaign_pause,
    campaign_resume,
    campaign_stock_add,
    campaign_total_stock_set,
    coupon_claim,
    coupon_issue,
    redemption_create,
    redemption_void,
)
from tests.coupons.conftest import SHANGHAI, T0, code_for, staff_of
from tests.factories import (
    CampaignFactory,
    CouponFactory,
    MemberFactory,
    StaffProfileFactory,
    StoreFactory,
    TagFactory,
)

pytestmark = pytest.mark.django_db
DAY = datetime.timedelta(days=1)


def _redeem(staff, coupon, *, amount=6000, receipt="R1", key="k1"):
    return redemption_create(
        staff=staff,
        code=code_for(coupon),
        order_amount_fen=amount,
        receipt_no=receipt,
        idempotency_key=key,
    )


# --- claim ------------------------------------------------------------------------------------


def test_claim_issues_coupon_valid_to_end_of_business_day_and_moves_both_counters(frozen, member):
    campaign = CampaignFactory(total_stock=10, valid_days=7)

    coupon = coupon_claim(member_id=member.pk, campaign_id=campaign.pk)

    campaign.refresh_from_db()
    assert campaign.remaining_stock == 9
    assert MemberCampaignClaims.objects.get(member=member, campaign=campaign).claimed == 1
    assert coupon.member_id == member.pk
    assert coupon.source == CouponSource.CLAIM
    assert coupon.status == CouponStatus.UNUSED
    assert coupon.valid_from == T0
    assert coupon.valid_until == datetime.datetime(2026, 12, 9, tzinfo=SHANGHAI)


def test_claim_of_fixed_validity_campaign_copies_its_window(frozen, member):
    campaign = CampaignFactory(valid_days=None, valid_from=T0 + DAY, valid_until=T0 + 10 * DAY)

    coupon = coupon_claim(member_id=member.pk, campaign_id=campaign.pk)

    assert (coupon.valid_from, coupon.valid_until) == (T0 + DAY, T0 + 10 * DAY)


@pytest.mark.parametrize(
    ("changes", "error"),
    [
        ({"is_paused": True}, CampaignPausedError),
        ({"claim_starts_at": T0 + datetime.timedelta(minutes=1)}, CampaignNotStartedError),
        ({"claim_ends_at": T0}, CampaignEndedError),
        ({"remaining_stock": 0}, CampaignSoldOutError),
    ],
)
def test_claim_refuses_from_the_campaign_row(frozen, member, changes, error):
    campaign = CampaignFactory(
        **{"claim_starts_at": T0 - DAY, "claim_ends_at": T0 + DAY, "total_stock": 5, **changes}
    )

    with pytest.raises(error):
        coupon_claim(member_id=member.pk, campaign_id=campaign.pk)

    assert not Coupon.objects.exists()


def test_claim_of_unknown_or_offline_campaign_is_not_found(member):
    offline = CampaignFactory(claimable_online=False)

    with pytest.raises(CampaignNotFoundError):
        coupon_claim(member_id=member.pk, campaign_id=offline.pk)
    with pytest.raises(CampaignNotFoundError):
        coupon_claim(member_id=member.pk, campaign_id=offline.pk + 1000)


def test_claim_for_new_members_only_refuses_members_who_joined_long_ago(frozen):
    campaign = CampaignFactory(audience=Audience.NEW_MEMBERS, new_member_days=30)
    veteran = MemberFactory(joined_at=T0 - 31 * DAY)
    newcomer = MemberFactory(joined_at=T0 - 29 * DAY)

    with pytest.raises(CampaignNotEligibleError):
        coupon_claim(member_id=veteran.pk, campaign_id=campaign.pk)
    assert coupon_claim(member_id=newcomer.pk, campaign_id=campaign.pk).member_id == newcomer.pk


def test_claim_for_a_tag_needs_the_tag(member):
    tag = TagFactory(slug="vip")
    campaign = CampaignFactory(audience=Audience.TAG, audience_tag=tag)

    with pytest.raises(CampaignNotEligibleError):
        coupon_claim(member_id=member.pk, campaign_id=campaign.pk)

    member.tags.add(tag)
    assert coupon_claim(member_id=member.pk, campaign_id=campaign.pk)


def test_claim_never_exceeds_per_member_limit(member):
    campaign = CampaignFactory(per_member_limit=2, total_stock=10)

    coupon_claim(member_id=member.pk, campaign_id=campaign.pk)
    coupon_claim(member_id=member.pk, campaign_id=campaign.pk)
    with pytest.raises(CampaignLimitReachedError):
        coupon_claim(member_id=member.pk, campaign_id=campaign.pk)

    campaign.refresh_from_db()
    assert campaign.remaining_stock == 8
    assert Coupon.objects.filter(member=member).count() == 2
    assert MemberCampaignClaims.objects.get(member=member, campaign=campaign).claimed == 2


def test_claim_sold_out_after_the_last_coupon(member):
    campaign = CampaignFactory(total_stock=1)
    coupon_claim(member_id=MemberFactory().pk, campaign_id=campaign.pk)

    with pytest.raises(CampaignSoldOutError):
        coupon_claim(member_id=member.pk, campaign_id=campaign.pk)


def test_claim_sold_out_in_the_transaction_rolls_back_the_member_counter(member, monkeypatch):
    # Given a campaign read as having stock while the last coupon has meanwhile gone
    campaign = CampaignFactory(total_stock=1, remaining_stock=0)
    stale = Campaign.objects.get(pk=campaign.pk)
    stale.remaining_stock = 1
    monkeypatch.setattr(services, "_claimable_campaign", lambda campaign_id: stale)

    with pytest.raises(CampaignSoldOutError):
        coupon_claim(member_id=member.pk, campaign_id=campaign.pk)

    assert not Coupon.objects.exists()
    assert not MemberCampaignClaims.objects.filter(claimed__gt=0).exists()


def test_coupon_issue_for_a_deal_writes_only_the_coupon(member):
    campaign = CampaignFactory(claimable_online=False, total_stock=5)

    coupon = coupon_issue(member=member, campaign=campaign, source=CouponSource.DEAL)

    campaign.refresh_from_db()
    assert coupon.source == CouponSource.DEAL
    assert campaign.remaining_stock == 5


# --- redeem -----------------------------------------------------------------------------------


AMOUNT_OFF = {"kind": CampaignKind.AMOUNT_OFF, "amount_off_fen": 1000}
PERCENT_OFF = {"kind": CampaignKind.PERCENT_OFF, "percent_off": 10, "min_spend_fen": 0}
GIFT = {"kind": CampaignKind.GIFT, "gift_description": "Tote bag", "min_spend_fen": 0}


@pytest.mark.parametrize(
    ("campaign_fields", "basket", "discount", "gift"),
    [
        ({**AMOUNT_OFF, "min_spend_fen": 5000}, 6000, 1000, None),
        ({**AMOUNT_OFF, "min_spend_fen": 0}, 700, 700, None),
        (PERCENT_OFF, 12345, 1234, None),
        ({**PERCENT_OFF, "max_discount_fen": 2000}, 50000, 2000, None),
        (GIFT, 100, 0, "Tote bag"),
    ],
)
def test_redeem_records_the_discount_of_each_kind(staff, campaign_fields, basket, discount, gift):
    coupon = CouponFactory(campaign=CampaignFactory(**{"amount_off_fen": None, **campaign_fields}))

    redemption, replayed = _redeem(staff, coupon, amount=basket)

    assert replayed is False
    assert (redemption.discount_fen, redemption.pay_fen) == (discount, basket - discount)
    assert redemption.campaign.gift == gift
    assert (redemption.store_id, redemption.cashier_id) == (staff.store_id, staff.id)
    coupon.refresh_from_db()
    assert coupon.status == CouponStatus.USED
    assert coupon.redeemed_at == redemption.redeemed_at


def test_redeem_refuses_a_tampered_code(staff):
    coupon = CouponFactory()
    code = code_for(coupon)

    with pytest.raises(InvalidCodeError):
        redemption_create(
            staff=staff,
            code=code[:-1] + ("A" if code[-1] != "A" else "B"),
            order_amount_fen=6000,
            receipt_no="R1",
            idempotency_key="k1",
        )


def test_redeem_refuses_a_code_older_than_two_minutes(frozen, staff):
    coupon = CouponFactory()
    code = code_for(coupon)
    frozen.shift(121)

    with pytest.raises(CodeExpiredError):
        redemption_create(
            staff=staff, code=code, order_amount_fen=6000, receipt_no="R1", idempotency_key="k1"
        )


@pytest.mark.parametrize(
    ("coupon_fields", "campaign_fields", "basket", "error"),
    [
        ({"status": CouponStatus.USED}, {}, 6000, CouponAlreadyRedeemedError),
        ({"valid_until": T0}, {}, 6000, CouponExpiredError),
        ({"valid_from": T0 + datetime.timedelta(seconds=1)}, {}, 6000, CouponNotStartedError),
        ({}, {"is_paused": True}, 6000, CouponPausedError),
        ({}, {}, 4999, CouponMinSpendNotMetError),
    ],
)
def test_redeem_refuses_with_the_reason(
    frozen, staff, coupon_fields, campaign_fields, basket, error
):
    coupon = CouponFactory(
        campaign=CampaignFactory(min_spend_fen=5000, **campaign_fields), **coupon_fields
    )

    with pytest.raises(error):
        _redeem(staff, coupon, amount=basket)

    assert not Redemption.objects.exists()


def test_redeem_at_a_store_outside_the_campaigns_list_is_wrong_store(staff, other_store):
    campaign = CampaignFactory(all_stores=False)
    campaign.stores.add(other_store)
    coupon = CouponFactory(campaign=campaign)

    with pytest.raises(CouponWrongStoreError):
        _redeem(staff, coupon)

    campaign.stores.add(staff.store_id)
    assert _redeem(staff, coupon)[0].store_id == staff.store_id


def test_min_spend_refusal_says_how_much_more_to_buy(staff):
    coupon = CouponFactory(campaign=CampaignFactory(min_spend_fen=5000))

    with translation.override("en"), pytest.raises(CouponMinSpendNotMetError) as caught:
        _redeem(staff, coupon, amount=3800)

    assert str(caught.value.detail) == "Buy 12.00 yuan more to use this coupon."
    assert caught.value.extra == {"shortfall_fen": 1200}


def test_redeem_with_the_same_key_and_body_replays_the_first_redemption(staff):
    coupon = CouponFactory()
    code = code_for(coupon)
    first, _ = redemption_create(
        staff=staff, code=code, order_amount_fen=6000, receipt_no="R1", idempotency_key="k1"
    )

    again, replayed = redemption_create(
        staff=staff, code=code, order_amount_fen=6000, receipt_no="R1", idempotency_key="k1"
    )

    assert replayed is True
    assert again.pk == first.pk
    assert Redemption.objects.count() == 1


def test_replay_is_answered_even_after_the_code_expired(frozen, staff):
    coupon = CouponFactory()
    code = code_for(coupon)
    first, _ = redemption_create(
        staff=staff, code=code, order_amount_fen=6000, receipt_no="R1", idempotency_key="k1"
    )
    frozen.shift(600)

    again, replayed = redemption_create(
        staff=staff, code=code, order_amount_fen=6000, receipt_no="R1", idempotency_key="k1"
    )

    assert (again.pk, replayed) == (first.pk, True)


def test_same_key_with_another_body_is_refused(staff):
    coupon = CouponFactory()
    _redeem(staff, coupon, amount=6000, key="k1")

    with pytest.raises(IdempotencyKeyReusedError):
        _redeem(staff, coupon, amount=7000, key="k1")
    with pytest.raises(IdempotencyKeyReusedError):
        _redeem(staff, CouponFactory(), amount=6000, key="k1")
    assert Redemption.objects.count() == 1


def test_another_key_for_a_redeemed_coupon_is_already_redeemed(staff):
    coupon = CouponFactory()
    _redeem(staff, coupon, key="k1")

    with pytest.raises(CouponAlreadyRedeemedError):
        _redeem(staff, coupon, key="k2")


def test_keys_belong_to_their_cashier(staff, store):
    other_cashier = staff_of(StaffProfileFactory(store=store))
    _redeem(staff, CouponFactory(), key="same")

    _, replayed = _redeem(other_cashier, CouponFactory(), key="same")

    assert replayed is False
    assert Redemption.objects.count() == 2


# --- void -------------------------------------------------------------------------------------


def test_void_makes_the_coupon_usable_again(frozen, staff):
    coupon = CouponFactory()
    redemption, _ = _redeem(staff, coupon)

    voided = redemption_void(staff=staff, redemption_id=redemption.pk, reason="refund")

    assert voided.voided_at == T0
    assert voided.voided_by_id == staff.id
    assert voided.void_reason == "refund"
    coupon.refresh_from_db()
    assert (coupon.status, coupon.redeemed_at) == (CouponStatus.UNUSED, None)
    again, _ = _redeem(staff, coupon, key="k2", receipt="R2")
    assert again.pk != redemption.pk


def test_void_of_an_expired_coupon_leaves_it_expired(frozen, staff):
    coupon = CouponFactory(valid_until=T0 + datetime.timedelta(hours=1))
    redemption, _ = _redeem(staff, coupon)
    frozen.shift(datetime.timedelta(hours=2))

    redemption_void(staff=staff, redemption_id=redemption.pk, reason="refund")

    coupon.refresh_from_db()
    assert coupon.display_status(T0 + datetime.timedelta(hours=2)) == CouponStatus.EXPIRED
    assert Coupon.objects.expired(T0 + datetime.timedelta(hours=2)).filter(pk=coupon.pk).exists()


def test_void_twice_is_already_voided(staff):
    redemption, _ = _redeem(staff, CouponFactory())
    redemption_void(staff=staff, redemption_id=redemption.pk, reason="")

    with pytest.raises(RedemptionAlreadyVoidedError):
        redemption_void(staff=staff, redemption_id=redemption.pk, reason="")


def test_void_by_another_store_is_wrong_store(staff, other_store):
    redemption, _ = _redeem(staff, CouponFactory())
    stranger = staff_of(StaffProfileFactory(store=other_store))

    with pytest.raises(RedemptionWrongStoreError):
        redemption_void(staff=stranger, redemption_id=redemption.pk, reason="")

    redemption.refresh_from_db()
    assert redemption.voided_at is None


def test_void_after_the_window_is_refused(frozen, staff, settings):
    settings.COUPON_VOID_WINDOW = datetime.timedelta(hours=24)
    redemption, _ = _redeem(staff, CouponFactory(valid_until=T0 + 10 * DAY))
    frozen.shift(datetime.timedelta(hours=24, seconds=1))

    with pytest.raises(RedemptionVoidWindowPassedError):
        redemption_void(staff=staff, redemption_id=redemption.pk, reason="")


def test_void_of_unknown_redemption_is_not_found(staff):
    with pytest.raises(RedemptionNotFoundError):
        redemption_void(staff=staff, redemption_id=999, reason="")


# --- campaign stock and pause -----------------------------------------------------------------


def test_total_stock_change_moves_remaining_by_the_same_amount(member):
    campaign = CampaignFactory(total_stock=10)
    coupon_claim(member_id=member.pk, campaign_id=campaign.pk)

    campaign_total_stock_set(campaign_id=campaign.pk, total_stock=15)
    campaign.refresh_from_db()
    assert (campaign.total_stock, campaign.remaining_stock) == (15, 14)

    campaign_total_stock_set(campaign_id=campaign.pk, total_stock=1)
    campaign.refresh_from_db()
    assert (campaign.total_stock, campaign.remaining_stock) == (1, 0)


def test_total_stock_below_claimed_is_refused(member):
    campaign = CampaignFactory(total_stock=10, per_member_limit=2)
    coupon_claim(member_id=member.pk, campaign_id=campaign.pk)
    coupon_claim(member_id=member.pk, campaign_id=campaign.pk)

    with pytest.raises(CampaignStockBelowClaimedError):
        campaign_total_stock_set(campaign_id=campaign.pk, total_stock=1)

    campaign.refresh_from_db()
    assert (campaign.total_stock, campaign.remaining_stock) == (10, 8)


def test_add_stock_raises_total_and_remaining():
    campaign = CampaignFactory(total_stock=10, remaining_stock=0)

    campaign_stock_add(campaign_id=campaign.pk, quantity=5)

    campaign.refresh_from_db()
    assert (campaign.total_stock, campaign.remaining_stock) == (15, 5)


def test_pause_and_resume_report_what_changed():
    running, paused = CampaignFactory(), CampaignFactory(is_paused=True)

    assert campaign_pause(campaign_ids=[running.pk, paused.pk]) == 1
    assert Campaign.objects.filter(is_paused=True).count() == 2
    assert campaign_resume(campaign_ids=[running.pk]) == 1
    running.refresh_from_db()
    assert running.is_paused is False


# --- demo -------------------------------------------------------------------------------------


def test_demo_seed_is_idempotent_and_shows_every_kind(capsys):
    StoreFactory(code="S001")

    seed()
    seed()

    # Flash-deal vouchers are seeded too; they are bought, not claimed.
    campaigns = Campaign.objects.filter(claimable_online=True)
    assert campaigns.count() == 5
    assert {c.kind for c in campaigns} == set(CampaignKind.values)
    gift = campaigns.get(kind=CampaignKind.GIFT)
    assert not gift.all_stores
    assert list(gift.stores.values_list("code", flat=True)) == ["S001"]
    assert campaigns.filter(audience=Audience.NEW_MEMBERS).exists()
    assert all(c.remaining_stock == c.total_stock for c in campaigns)
