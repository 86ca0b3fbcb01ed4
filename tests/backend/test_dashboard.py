"""The admin dashboard: its figures against known rows, and who may see what."""

import datetime

import pytest
import time_machine
from django.contrib.auth import get_user_model
from django.utils import timezone

from backend import dashboard
from coupons.models import Campaign, CampaignKind, Coupon, CouponStatus, Redemption
from members.models import Member
from stores.models import StaffProfile, StaffRole, Store

pytestmark = pytest.mark.django_db

SHANGHAI = datetime.timezone(datetime.timedelta(hours=8))
DAY1 = datetime.date(2026, 3, 1)
DAY2 = datetime.date(2026, 3, 2)
DAY3 = datetime.date(2026, 3, 3)


def _at(day, hour, minute=0):
    return datetime.datetime.combine(day, datetime.time(hour, minute), tzinfo=SHANGHAI)


def _store(code):
    return Store.objects.create(
        code=code, name=f"店{code}", address="a", city="深圳", latitude=22.5, longitude=114.0
    )


def _campaign(*, stores=None):
    now = timezone.now()
    campaign = Campaign.objects.create(
        name="满50减10",
        kind=CampaignKind.AMOUNT_OFF,
        amount_off_fen=1000,
        min_spend_fen=5000,
        claim_starts_at=now - datetime.timedelta(days=400),
        claim_ends_at=now + datetime.timedelta(days=400),
        valid_days=7,
        total_stock=1000,
        remaining_stock=1000,
        all_stores=not stores,
    )
    if stores:
        campaign.stores.set(stores)
    return campaign


_seq = iter(range(1, 100_000))


def _coupon(campaign, claimed_at):
    n = next(_seq)
    member = Member.objects.create(member_no=f"77{n:08d}", openid=f"dash-{n}")
    coupon = Coupon.objects.create(
        campaign=campaign,
        member=member,
        valid_from=claimed_at,
        valid_until=claimed_at + datetime.timedelta(days=7),
    )
    Coupon.objects.filter(pk=coupon.pk).update(claimed_at=claimed_at)
    return coupon


def _cashier():
    return get_user_model().objects.create_user(username=f"cashier{next(_seq)}")


def _redeem(coupon, store, redeemed_at, *, discount_fen=1000, voided=False):
    Coupon.objects.filter(pk=coupon.pk).update(status=CouponStatus.USED)
    cashier = _cashier()
    return Redemption.objects.create(
        coupon=coupon,
        campaign=coupon.campaign,
        store=store,
        cashier=cashier,
        redeemed_at=redeemed_at,
        order_amount_fen=6000,
        discount_fen=discount_fen,
        receipt_no=f"R{coupon.pk}",
        idempotency_key=f"k{coupon.pk}",
        request_fingerprint="test",
        voided_at=redeemed_at + datetime.timedelta(minutes=5) if voided else None,
        voided_by=cashier if voided else None,
    )


@pytest.fixture
def chain():
    """Two stores; a campaign for all stores and one for S002 only, over three days.

    DAY1: 2 claims (one at 23:30 business time, still DAY1), 1 redemption at S001.
    DAY2: 1 claim of the S002-only campaign, 1 redemption at S002 and 1 voided at S001.
    DAY3: nothing.
    """
    s1, s2 = _store("S001"), _store("S002")
    everywhere, only_s2 = _campaign(), _campaign(stores=[s2])
    a = _coupon(everywhere, _at(DAY1, 9))
    b = _coupon(everywhere, _at(DAY1, 23, 30))
    c = _coupon(only_s2, _at(DAY2, 10))
    _redeem(a, s1, _at(DAY1, 18))
    _redeem(c, s2, _at(DAY2, 12), discount_fen=500)
    _redeem(b, s1, _at(DAY2, 8), voided=True)
    # Outside the range on both sides:
    _coupon(everywhere, _at(DAY1 - datetime.timedelta(days=1), 23, 59))
    _coupon(everywhere, _at(DAY3 + datetime.timedelta(days=1), 0, 0))
    return {"s1": s1, "s2": s2}


def test_coupon_figures_per_day_count_by_business_day_with_zero_days(chain):
    rows = dashboard.coupon_figures_per_day(start=DAY1, end=DAY3)

    assert [(r.date, r.claimed, r.redeemed) for r in rows] == [
        (DAY1, 2, 1),
        (DAY2, 1, 1),  # the voided redemption does not count
        (DAY3, 0, 0),
    ]


def test_coupon_figures_for_a_store_count_claims_of_campaigns_it_accepts(chain):
    s1_rows = dashboard.coupon_figures_per_day(start=DAY1, end=DAY3, store_id=chain["s1"].pk)
    s2_rows = dashboard.coupon_figures_per_day(start=DAY1, end=DAY3, store_id=chain["s2"].pk)

    assert [(r.claimed, r.redeemed) for r in s1_rows] == [(2, 1), (0, 0), (0, 0)]
    assert [(r.claimed, r.redeemed) for r in s2_rows] == [(2, 0), (1, 1), (0, 0)]


def test_coupon_totals_for_the_range(chain):
    totals = dashboard.coupon_totals(start=DAY1, end=DAY3)

    assert (totals.claimed, totals.redeemed, totals.voided, totals.discount_fen) == (3, 2, 1, 1500)
    assert totals.redemption_rate == pytest.approx(2 / 3)
    assert dashboard.coupon_totals(start=DAY3, end=DAY3).redemption_rate is None


def test_redemptions_per_store_most_first_without_voided(chain):
    _redeem(_coupon(Campaign.objects.first(), _at(DAY2, 9)), chain["s2"], _at(DAY2, 15))

    rows = dashboard.redemptions_per_store(start=DAY1, end=DAY3)

    assert [(r.code, r.count, r.discount_fen) for r in rows] == [
        ("S002", 2, 1500),
        ("S001", 1, 1000),
    ]
    only_s1 = dashboard.redemptions_per_store(start=DAY1, end=DAY3, store_id=chain["s1"].pk)
    assert [r.code for r in only_s1] == ["S001"]


# --- the page -----------------------------------------------------------------------------


def _staff(username, *, role=None, store=None, superuser=False):
    user = get_user_model().objects.create_user(
        username=username, password=username, is_staff=True, is_superuser=superuser
    )
    if role:
        StaffProfile.objects.create(user=user, role=role, store=store)
    return user


@time_machine.travel(_at(DAY3, 12), tick=False)
def test_dashboard_shows_charts_for_a_marketer_over_the_last_14_days(client, chain):
    client.force_login(_staff("marketer1", role=StaffRole.MARKETER))

    response = client.get("/admin/dashboard/")

    assert response.status_code == 200
    html = response.content.decode()
    assert response.context["start"] == DAY3 - datetime.timedelta(days=13)
    assert response.context["end"] == DAY3
    # 14 days back includes the claim the day before DAY1, not the one after DAY3.
    assert response.context["totals"].claimed == 4
    # claims per day, redemptions per store, notifications per day (drawn even when empty)
    assert html.count('<svg class="chart ') == 3
    assert html.count('<circle class="point"') == 2 * 14
    assert "S001 店S001" in html and "S002 店S002" in html


def test_dashboard_for_a_store_manager_shows_only_their_store(client, chain):
    client.force_login(_staff("manager1", role=StaffRole.STORE_MANAGER, store=chain["s1"]))

    response = client.get("/admin/dashboard/", {"start": "2026-03-01", "end": "2026-03-03"})

    assert response.status_code == 200
    assert response.context["scope"].store_id == chain["s1"].pk
    assert response.context["totals"].redeemed == 1
    assert [item["row"].code for item in response.context["per_store"]] == ["S001"]
    assert "S002 店S002" not in response.content.decode()


def test_dashboard_range_comes_from_the_form_and_a_bad_range_says_why(client, chain):
    client.force_login(_staff("admin", superuser=True))

    good = client.get("/admin/dashboard/", {"start": "2026-03-02", "end": "2026-03-02"})
    bad = client.get("/admin/dashboard/", {"start": "2026-03-03", "end": "2026-03-01"})

    assert (good.context["start"], good.context["end"]) == (DAY2, DAY2)
    assert good.context["totals"].redeemed == 1
    assert bad.status_code == 200
    assert bad.context["form"].errors
    assert "must not be after" in bad.content.decode()


def test_dashboard_refuses_staff_without_a_marketing_or_manager_role(client, chain):
    client.force_login(_staff("someone"))

    assert client.get("/admin/dashboard/").status_code == 403


def test_dashboard_sends_anonymous_visitors_to_the_admin_login(client):
    response = client.get("/admin/dashboard/")

    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/")


def test_admin_index_links_to_the_dashboard_for_marketers_only(client, chain):
    client.force_login(_staff("marketer1", role=StaffRole.MARKETER))
    assert 'href="/admin/dashboard/"' in client.get("/admin/").content.decode()

    client.force_login(_staff("someone"))
    assert 'href="/admin/dashboard/"' not in client.get("/admin/").content.decode()
