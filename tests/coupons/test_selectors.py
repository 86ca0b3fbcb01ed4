import datetime

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from backend.rotating_codes import rotating_code_verify
from coupons.exceptions import CouponAlreadyRedeemedError, CouponExpiredError, CouponNotFoundError
from coupons.models import Audience, CouponStatus, Redemption
from coupons.selectors import coupons as coupon_selectors
from coupons.selectors.coupons import (
    campaign_annotate_figures,
    campaign_catalogue_cache_clear,
    campaign_list_claimable,
    campaign_store_breakdown,
    coupon_code_for_member,
    coupon_export_rows,
    coupon_list_for_member,
    redemption_list_for_store,
    redemption_preview,
)
from coupons.services.coupons import coupon_claim
from tests.coupons.conftest import SHANGHAI, T0, code_for
from tests.factories import (
    CampaignFactory,
    CouponFactory,
    MemberFactory,
    RedemptionFactory,
    StoreFactory,
    TagFactory,
)

pytestmark = pytest.mark.django_db
DAY = datetime.timedelta(days=1)


def _open(**fields):
    return CampaignFactory(**{"claim_starts_at": T0 - DAY, "claim_ends_at": T0 + DAY, **fields})


# --- campaign list ----------------------------------------------------------------------------


def test_campaign_list_shows_open_and_soon_opening_campaigns_only(frozen, member):
    open_now = _open()
    in_six_days = _open(claim_starts_at=T0 + 6 * DAY, claim_ends_at=T0 + 9 * DAY)
    _open(claim_starts_at=T0 + 8 * DAY, claim_ends_at=T0 + 9 * DAY)  # too far ahead
    _open(claim_ends_at=T0)  # over
    _open(claimable_online=False)  # a deal's voucher

    campaigns = campaign_list_claimable(member_id=member.pk, now=T0)

    assert [c.campaign.pk for c in campaigns] == [open_now.pk, in_six_days.pk]


def test_campaign_list_says_why_the_member_cannot_claim(frozen, member):
    tag = TagFactory(slug="vip")
    claimable = _open()
    paused = _open(is_paused=True)
    not_started = _open(claim_starts_at=T0 + DAY, claim_ends_at=T0 + 2 * DAY)
    not_eligible = _open(audience=Audience.TAG, audience_tag=tag)
    sold_out = _open(total_stock=1, remaining_stock=0)
    at_limit = _open(per_member_limit=1)
    coupon_claim(member_id=member.pk, campaign_id=at_limit.pk, now=T0)

    found = {c.campaign.pk: c for c in campaign_list_claimable(member_id=member.pk, now=T0)}

    assert {pk: (c.can_claim, c.reason) for pk, c in found.items()} == {
        claimable.pk: (True, None),
        paused.pk: (False, "paused"),
        not_started.pk: (False, "not_started"),
        not_eligible.pk: (False, "not_eligible"),
        sold_out.pk: (False, "sold_out"),
        at_limit.pk: (False, "limit_reached"),
    }
    assert found[at_limit.pk].held == 1
    assert found[claimable.pk].held == 0


def test_campaign_list_checks_new_member_and_tag_audiences(frozen):
    tag = TagFactory(slug="vip")
    for_new = _open(audience=Audience.NEW_MEMBERS, new_member_days=30)
    for_tag = _open(audience=Audience.TAG, audience_tag=tag)
    newcomer = MemberFactory(joined_at=T0 - 2 * DAY)
    veteran = MemberFactory(joined_at=T0 - 60 * DAY)
    veteran.tags.add(tag)

    def reasons(member):
        return {
            c.campaign.pk: c.reason for c in campaign_list_claimable(member_id=member.pk, now=T0)
        }

    assert reasons(newcomer) == {for_new.pk: None, for_tag.pk: "not_eligible"}
    assert reasons(veteran) == {for_new.pk: "not_eligible", for_tag.pk: None}


def test_campaign_list_queries_do_not_grow_with_campaigns(frozen, member, other_store):
    def queries_for(count):
        for _ in range(count):
            campaign = _open(all_stores=False)
            campaign.stores.add(other_store)
            coupon_claim(member_id=member.pk, campaign_id=campaign.pk, now=T0)
        with CaptureQueriesContext(connection) as context:
            campaigns = campaign_list_claimable(member_id=member.pk, now=T0)
            stores = [s["code"] for c in campaigns for s in c.store_list]
        return len(context), len(campaigns), stores

    one = queries_for(1)
    thirty_one = queries_for(30)

    assert one[0] == thirty_one[0] <= 4
    assert (one[1], thirty_one[1]) == (1, 31)
    assert thirty_one[2] == ["S200"] * 31


@pytest.fixture
def catalogue_cached(settings):
    settings.CAMPAIGN_LIST_CACHE_SECONDS = 60
    campaign_catalogue_cache_clear()
    yield
    campaign_catalogue_cache_clear()


def test_cached_catalogue_leaves_only_the_members_own_queries(
    frozen, member, catalogue_cached, django_assert_num_queries
):
    # given: the catalogue built once in this process
    campaign = _open()
    campaign_list_claimable(member_id=member.pk, now=T0)
    coupon_claim(member_id=member.pk, campaign_id=campaign.pk, now=T0)
    other = MemberFactory()
    # when / then: the member's facts and counters are read fresh, the catalogue is not
    with django_assert_num_queries(2):
        mine = campaign_list_claimable(member_id=member.pk, now=T0)
    with django_assert_num_queries(2):
        theirs = campaign_list_claimable(member_id=other.pk, now=T0)
    assert [(c.held, c.reason) for c in mine] == [(1, "limit_reached")]
    assert [(c.held, c.reason) for c in theirs] == [(0, None)]


def test_cached_catalogue_shows_a_new_campaign_once_its_time_is_up(
    frozen, member, catalogue_cached, monkeypatch
):
    # given
    first = _open()
    clock = [1000.0]
    monkeypatch.setattr(coupon_selectors.time, "monotonic", lambda: clock[0])
    campaign_list_claimable(member_id=member.pk, now=T0)
    second = _open()
    # when / then: still the kept list within the cache period, the new one after it
    assert [c.campaign.pk for c in campaign_list_claimable(member_id=member.pk, now=T0)] == [
        first.pk
    ]
    clock[0] += 61
    assert [c.campaign.pk for c in campaign_list_claimable(member_id=member.pk, now=T0)] == [
        first.pk,
        second.pk,
    ]


# --- the member's coupons ---------------------------------------------------------------------


def test_coupon_list_filters_by_what_the_shopper_sees_and_expires_at_once(frozen, member):
    unused = CouponFactory(member=member, valid_until=T0 + datetime.timedelta(minutes=5))
    used = CouponFactory(member=member, status=CouponStatus.USED)
    expired = CouponFactory(member=member, valid_until=T0 - datetime.timedelta(seconds=1))
    CouponFactory()  # someone else's

    def ids(status, now=T0):
        return [c.pk for c in coupon_list_for_member(member_id=member.pk, status=status, now=now)]

    assert ids(None) == [expired.pk, used.pk, unused.pk]
    assert ids("unused") == [unused.pk]
    assert ids("used") == [used.pk]
    assert ids("expired") == [expired.pk]
    # Five minutes later, no task has run: the first coupon reads expired all the same.
    later = T0 + datetime.timedelta(minutes=5)
    assert ids("unused", later) == []
    assert ids("expired", later) == [expired.pk, unused.pk]


def test_coupon_code_names_the_coupon_and_expires_within_two_minutes(frozen, member):
    coupon = CouponFactory(member=member)

    issued = coupon_code_for_member(member_id=member.pk, coupon_id=coupon.pk)

    assert rotating_code_verify(kind="C", code=issued.code) == coupon.pk
    assert 0 < issued.expires_in <= 120
    assert len(issued.code) <= 32


def test_coupon_code_is_refused_for_others_used_and_expired_coupons(frozen, member):
    with pytest.raises(CouponNotFoundError):
        coupon_code_for_member(member_id=member.pk, coupon_id=CouponFactory().pk)
    used = CouponFactory(member=member, status=CouponStatus.USED)
    with pytest.raises(CouponAlreadyRedeemedError):
        coupon_code_for_member(member_id=member.pk, coupon_id=used.pk)
    expired = CouponFactory(member=member, valid_until=T0)
    with pytest.raises(CouponExpiredError):
        coupon_code_for_member(member_id=member.pk, coupon_id=expired.pk)


# --- preview ----------------------------------------------------------------------------------


def test_preview_quotes_the_basket_and_writes_nothing(staff):
    coupon = CouponFactory(
        campaign=CampaignFactory(
            kind="percent_off",
            amount_off_fen=None,
            percent_off=15,
            max_discount_fen=None,
            min_spend_fen=0,
        )
    )

    quote = redemption_preview(store_id=staff.store_id, code=code_for(coupon), order_amount_fen=999)

    assert (quote.discount_fen, quote.pay_fen, quote.gift) == (149, 850, None)
    coupon.refresh_from_db()
    assert coupon.status == CouponStatus.UNUSED
    assert not Redemption.objects.exists()


# --- the store's day --------------------------------------------------------------------------


def test_store_day_lists_its_redemptions_in_the_business_time_zone_with_totals(store):
    day = datetime.date(2026, 12, 1)
    late = RedemptionFactory(
        store=store,
        redeemed_at=datetime.datetime(2026, 12, 1, 23, 30, tzinfo=SHANGHAI),
        discount_fen=1000,
    )
    early = RedemptionFactory(
        store=store,
        redeemed_at=datetime.datetime(2026, 12, 1, 0, 10, tzinfo=SHANGHAI),
        discount_fen=500,
    )
    RedemptionFactory(
        store=store,
        redeemed_at=datetime.datetime(2026, 12, 1, 9, 0, tzinfo=SHANGHAI),
        discount_fen=700,
        voided_at=datetime.datetime(2026, 12, 1, 9, 5, tzinfo=SHANGHAI),
    )
    RedemptionFactory(
        store=store, redeemed_at=datetime.datetime(2026, 12, 2, 0, 1, tzinfo=SHANGHAI)
    )
    RedemptionFactory(redeemed_at=datetime.datetime(2026, 12, 1, 12, tzinfo=SHANGHAI))

    redemptions, totals = redemption_list_for_store(store_id=store.pk, date=day)

    ids = [r.pk for r in redemptions]
    assert len(ids) == 3
    assert (ids[0], ids[-1]) == (late.pk, early.pk)
    assert totals == {"count": 2, "discount_fen": 1500, "voided": 1}


# --- admin figures ----------------------------------------------------------------------------


def _figures_fixture():
    campaign = CampaignFactory(total_stock=10, remaining_stock=4)
    other_campaign = CampaignFactory()
    north, south = StoreFactory(code="N01"), StoreFactory(code="S01")
    RedemptionFactory(coupon__campaign=campaign, store=north, discount_fen=1000)
    RedemptionFactory(coupon__campaign=campaign, store=north, discount_fen=300)
    RedemptionFactory(coupon__campaign=campaign, store=south, discount_fen=200)
    RedemptionFactory(
        coupon__campaign=campaign,
        store=south,
        discount_fen=900,
        voided_at=datetime.datetime.now(tz=SHANGHAI),
    )
    RedemptionFactory(coupon__campaign=other_campaign, store=north, discount_fen=5000)
    return campaign, north, south


def test_campaign_figures_match_the_rows():
    campaign, _, _ = _figures_fixture()

    figures = campaign_annotate_figures(type(campaign).objects.filter(pk=campaign.pk)).get()

    live = Redemption.objects.filter(campaign=campaign, voided_at__isnull=True)
    assert figures.claimed == 6
    assert figures.redeemed == live.count() == 3
    assert figures.voided == Redemption.objects.filter(campaign=campaign).count() - 3 == 1
    assert figures.discount_fen == sum(r.discount_fen for r in live) == 1500


def test_campaign_figures_for_a_store_manager_count_their_store_only():
    campaign, north, _ = _figures_fixture()

    figures = campaign_annotate_figures(
        type(campaign).objects.filter(pk=campaign.pk), store_id=north.pk
    ).get()

    assert (figures.redeemed, figures.voided, figures.discount_fen) == (2, 0, 1300)


def test_store_breakdown_counts_each_store():
    campaign, _, south = _figures_fixture()

    rows = campaign_store_breakdown(campaign_id=campaign.pk)

    assert [(r["store_code"], r["redeemed"], r["voided"], r["discount_fen"]) for r in rows] == [
        ("N01", 2, 0, 1300),
        ("S01", 1, 1, 200),
    ]
    assert [
        r["store_code"]
        for r in campaign_store_breakdown(campaign_id=campaign.pk, store_id=south.pk)
    ] == ["S01"]


def test_export_rows_give_each_coupon_with_its_live_redemption(frozen):
    campaign = CampaignFactory()
    store = StoreFactory(code="E01")
    unused = CouponFactory(campaign=campaign)
    expired = CouponFactory(campaign=campaign, valid_until=T0 - DAY)
    redeemed = RedemptionFactory(
        coupon__campaign=campaign, store=store, receipt_no="RX1", discount_fen=1000
    )
    # A voided redemption and a live one of the same coupon: only the live one shows.
    voided_then_redeemed = CouponFactory(campaign=campaign, status=CouponStatus.USED)
    RedemptionFactory(coupon=voided_then_redeemed, store=store, receipt_no="OLD", voided_at=T0)
    RedemptionFactory(coupon=voided_then_redeemed, store=store, receipt_no="NEW")

    rows = list(coupon_export_rows(campaign_ids=[campaign.pk], now=T0, chunk_size=2))

    by_id = {row[0]: row for row in rows}
    assert len(rows) == 4
    assert by_id[unused.pk][3] == "unused"
    assert by_id[unused.pk][7:] == ("", "", "", "")
    assert by_id[expired.pk][3] == "expired"
    assert by_id[redeemed.coupon_id][3] == "used"
    assert by_id[redeemed.coupon_id][2] == redeemed.coupon.member.member_no
    assert by_id[redeemed.coupon_id][7:] == ("E01", 6000, 1000, "RX1")
    assert by_id[voided_then_redeemed.pk][10] == "NEW"
    assert by_id[unused.pk][4].endswith("+08:00")
