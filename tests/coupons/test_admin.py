import datetime

import pytest
from django.contrib.auth.models import Permission
from django.http import StreamingHttpResponse
from django.urls import reverse
from django.utils import timezone

from coupons.admin.campaigns import CampaignForm
from coupons.models import Campaign, CampaignKind, Redemption
from coupons.services.coupons import coupon_claim
from stores.models import StaffRole
from tests.coupons.conftest import T0
from tests.factories import (
    CampaignFactory,
    CouponFactory,
    MemberFactory,
    RedemptionFactory,
    StaffProfileFactory,
    StoreFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db
DAY = datetime.timedelta(days=1)
CHANGELIST = "/admin/coupons/campaign/"


def _form_data(**changes):
    data = {
        "name": "满50减10",
        "description": "",
        "kind": CampaignKind.AMOUNT_OFF,
        "amount_off_fen": 1000,
        "min_spend_fen": 5000,
        "gift_description": "",
        "claimable_online": "on",
        "claim_starts_at": "2026-12-01 00:00:00",
        "claim_ends_at": "2026-12-31 00:00:00",
        "valid_days": 7,
        "all_stores": "on",
        "total_stock": 100,
        "per_member_limit": 1,
        "audience": "everyone",
        "new_member_days": 30,
    }
    data.update(changes)
    return {key: value for key, value in data.items() if value is not None}


DATETIME_FIELDS = ("claim_starts_at", "claim_ends_at", "valid_from", "valid_until")


def _admin_post(data):
    """The admin's widgets split each datetime into a date and a time input."""
    posted = {k: v for k, v in data.items() if k not in DATETIME_FIELDS}
    for field in DATETIME_FIELDS:
        if field in data:
            posted[f"{field}_0"], posted[f"{field}_1"] = data[field].split(" ")
    return posted


@pytest.fixture
def marketer_client(client):
    client.force_login(UserFactory(username="admin", is_staff=True, is_superuser=True))
    return client


# --- the form ---------------------------------------------------------------------------------


def test_form_accepts_a_complete_campaign():
    form = CampaignForm(data=_form_data())

    assert form.is_valid(), form.errors


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"kind": "percent_off", "percent_off": 0}, "percent_off"),
        ({"kind": "percent_off", "percent_off": 100}, "percent_off"),
        ({"kind": "percent_off"}, "percent_off"),
        ({"amount_off_fen": None}, "amount_off_fen"),
        ({"kind": "gift"}, "gift_description"),
        ({"claim_ends_at": "2026-11-30 00:00:00"}, "claim_ends_at"),
        ({"valid_days": None}, "valid_days"),
        (
            {"valid_from": "2026-12-01 00:00:00", "valid_until": "2026-12-09 00:00:00"},
            "valid_days",
        ),
        (
            {
                "valid_days": None,
                "valid_from": "2026-11-01 00:00:00",
                "valid_until": "2026-11-30 00:00:00",
            },
            "valid_until",
        ),
        (
            {
                "valid_days": None,
                "valid_from": "2026-12-10 00:00:00",
                "valid_until": "2026-12-09 00:00:00",
            },
            "valid_until",
        ),
        ({"valid_days": None, "valid_from": "2026-12-10 00:00:00"}, "valid_until"),
        ({"all_stores": None}, "stores"),
        ({"audience": "tag"}, "audience_tag"),
    ],
)
def test_form_refuses_an_inconsistent_campaign(changes, field):
    form = CampaignForm(data=_form_data(**changes))

    assert not form.is_valid()
    assert field in form.errors


def test_form_refuses_stock_below_what_was_claimed(member):
    campaign = CampaignFactory(total_stock=10, per_member_limit=3)
    for _ in range(3):
        coupon_claim(member_id=member.pk, campaign_id=campaign.pk)

    form = CampaignForm(data=_form_data(total_stock=2), instance=campaign)

    assert not form.is_valid()
    assert "total_stock" in form.errors


# --- create and edit through the admin ---------------------------------------------------------


def test_creating_a_campaign_sets_remaining_to_total(marketer_client):
    response = marketer_client.post(f"{CHANGELIST}add/", _admin_post(_form_data(total_stock=250)))

    assert response.status_code == 302, response.content
    campaign = Campaign.objects.get()
    assert (campaign.total_stock, campaign.remaining_stock) == (250, 250)


def test_editing_total_stock_keeps_claims_made_meanwhile(marketer_client, member):
    campaign = CampaignFactory(total_stock=10, name="x")
    # The form was opened, then a shopper claimed: the save must not restore that coupon.
    coupon_claim(member_id=member.pk, campaign_id=campaign.pk)

    response = marketer_client.post(
        f"{CHANGELIST}{campaign.pk}/change/",
        _admin_post(
            _form_data(
                name="renamed",
                total_stock=20,
                claim_starts_at=timezone.localtime(campaign.claim_starts_at).strftime(
                    "%Y-%m-%d %H:%M:%S"
                ),
                claim_ends_at=timezone.localtime(campaign.claim_ends_at).strftime(
                    "%Y-%m-%d %H:%M:%S"
                ),
            )
        ),
    )

    assert response.status_code == 302, response.content
    campaign.refresh_from_db()
    assert (campaign.name, campaign.total_stock, campaign.remaining_stock) == ("renamed", 20, 19)


# --- figures ----------------------------------------------------------------------------------


def test_changelist_figures_match_the_rows_without_a_query_per_campaign(
    marketer_client, django_assert_max_num_queries
):
    campaign = CampaignFactory(name="Figures", total_stock=10, remaining_stock=6)
    RedemptionFactory(coupon__campaign=campaign, discount_fen=1000)
    RedemptionFactory(coupon__campaign=campaign, discount_fen=500, voided_at=timezone.now())
    for _ in range(20):
        CampaignFactory()

    with django_assert_max_num_queries(12):
        response = marketer_client.get(CHANGELIST)

    assert response.status_code == 200
    row = next(r for r in response.context["cl"].result_list if r.pk == campaign.pk)
    live = Redemption.objects.filter(campaign=campaign, voided_at__isnull=True)
    assert row.claimed == 4
    assert row.redeemed == live.count() == 1
    assert row.voided == 1
    assert row.discount_fen == 1000
    assert "25.0%" in response.content.decode()


def test_change_page_shows_the_per_store_breakdown(marketer_client):
    campaign = CampaignFactory()
    RedemptionFactory(coupon__campaign=campaign, store=StoreFactory(code="N01", name="North"))

    response = marketer_client.get(f"{CHANGELIST}{campaign.pk}/change/")

    content = response.content.decode()
    assert response.status_code == 200
    assert "N01 North" in content
    assert reverse("admin:coupons_campaign_export", args=[campaign.pk]) in content


# --- actions ----------------------------------------------------------------------------------


def test_pause_and_resume_actions(marketer_client):
    campaign = CampaignFactory()

    marketer_client.post(CHANGELIST, {"action": "pause", "_selected_action": [campaign.pk]})
    campaign.refresh_from_db()
    assert campaign.is_paused
    marketer_client.post(CHANGELIST, {"action": "resume", "_selected_action": [campaign.pk]})
    campaign.refresh_from_db()
    assert not campaign.is_paused


def test_add_stock_asks_for_a_number_then_adds_it(marketer_client):
    campaign = CampaignFactory(total_stock=10, remaining_stock=3)

    asked = marketer_client.post(
        CHANGELIST, {"action": "add_stock", "_selected_action": [campaign.pk]}
    )
    applied = marketer_client.post(
        CHANGELIST,
        {
            "action": "add_stock",
            "_selected_action": [campaign.pk],
            "apply": "1",
            "quantity": 5,
        },
    )

    assert asked.status_code == 200
    assert b'name="quantity"' in asked.content
    assert applied.status_code == 302
    campaign.refresh_from_db()
    assert (campaign.total_stock, campaign.remaining_stock) == (15, 8)


def test_csv_export_streams_coupons_with_their_redemption(marketer_client):
    campaign = CampaignFactory()
    member = MemberFactory()
    unused = CouponFactory(campaign=campaign, member=member, valid_until=T0 + DAY * 3650)
    redeemed = RedemptionFactory(
        coupon__campaign=campaign, store=StoreFactory(code="C01"), receipt_no="RC1"
    )
    CouponFactory()  # another campaign's

    response = marketer_client.get(reverse("admin:coupons_campaign_export", args=[campaign.pk]))

    assert isinstance(response, StreamingHttpResponse)
    assert response["Content-Type"].startswith("text/csv")
    lines = b"".join(response.streaming_content).decode("utf-8-sig").splitlines()
    assert lines[0].startswith("coupon_id,campaign_id,member_no,status")
    assert len(lines) == 3
    by_id = {line.split(",")[0]: line.split(",") for line in lines[1:]}
    assert by_id[str(unused.pk)][2:4] == [member.member_no, "unused"]
    assert by_id[str(redeemed.coupon_id)][3] == "used"
    assert by_id[str(redeemed.coupon_id)][7:] == ["C01", "6000", "1000", "RC1"]


def test_csv_export_action_streams_too(marketer_client):
    campaign = CampaignFactory()
    CouponFactory(campaign=campaign)

    response = marketer_client.post(
        CHANGELIST, {"action": "export_coupons", "_selected_action": [campaign.pk]}
    )

    assert isinstance(response, StreamingHttpResponse)
    assert len(b"".join(response.streaming_content).splitlines()) == 2


# --- who sees what ----------------------------------------------------------------------------


def _staff_client(client, role, store):
    profile = StaffProfileFactory(role=role, store=store, user__is_staff=True)
    profile.user.user_permissions.add(
        *Permission.objects.filter(content_type__app_label="coupons", codename__startswith="view_")
    )
    client.force_login(profile.user)
    return client


def test_store_manager_sees_only_their_stores_redemptions_and_figures(client):
    mine, theirs = StoreFactory(code="M01"), StoreFactory(code="T01")
    campaign = CampaignFactory()
    own = RedemptionFactory(coupon__campaign=campaign, store=mine, discount_fen=300)
    RedemptionFactory(coupon__campaign=campaign, store=theirs, discount_fen=700)
    manager = _staff_client(client, StaffRole.STORE_MANAGER, mine)

    redemptions = manager.get("/admin/coupons/redemption/")
    campaigns = manager.get(CHANGELIST)
    change = manager.get(f"{CHANGELIST}{campaign.pk}/change/")

    assert [r.pk for r in redemptions.context["cl"].result_list] == [own.pk]
    [row] = campaigns.context["cl"].result_list
    assert (row.redeemed, row.discount_fen) == (1, 300)
    assert "T01" not in change.content.decode()
    export = manager.get(reverse("admin:coupons_campaign_export", args=[campaign.pk]))
    assert export.status_code == 404


def test_cashiers_cannot_reach_coupon_admin(client, store):
    cashier = _staff_client(client, StaffRole.CASHIER, store)

    assert cashier.get(CHANGELIST).status_code == 403
    assert cashier.get("/admin/coupons/redemption/").status_code == 403
