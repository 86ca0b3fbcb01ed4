import datetime

import pytest

from coupons.models import Audience, CampaignKind, Coupon, CouponStatus, Redemption
from coupons.services.coupons import coupon_claim
from tests.coupons.conftest import T0, code_for, member_client_for, pos_client_for
from tests.factories import (
    CampaignFactory,
    CouponFactory,
    MemberFactory,
    RedemptionFactory,
    StaffProfileFactory,
    TagFactory,
)

pytestmark = pytest.mark.django_db
DAY = datetime.timedelta(days=1)
CAMPAIGNS = "/api/coupons/campaigns"
MINE = "/api/coupons/mine"
PREVIEW = "/api/pos/redemptions/preview"
REDEMPTIONS = "/api/pos/redemptions"


def _open(**fields):
    return CampaignFactory(**{"claim_starts_at": T0 - DAY, "claim_ends_at": T0 + DAY, **fields})


def _claim(client, campaign_id):
    return client.post(f"{CAMPAIGNS}/{campaign_id}/claim")


def _redeem(client, coupon, *, key="key-1", amount=6000, receipt="R1", code=None):
    headers = {"HTTP_IDEMPOTENCY_KEY": key} if key is not None else {}
    return client.post(
        REDEMPTIONS,
        {
            "code": code or code_for(coupon),
            "order_amount_fen": amount,
            "receipt_no": receipt,
        },
        format="json",
        **headers,
    )


# --- shopper ----------------------------------------------------------------------------------


def test_campaign_list_answers_each_campaign_with_can_claim(frozen, member_client, member):
    campaign = _open(total_stock=5)
    coupon_claim(member_id=member.pk, campaign_id=campaign.pk)

    response = member_client.get(CAMPAIGNS)

    assert response.status_code == 200
    [item] = response.json()
    assert item["id"] == campaign.pk
    assert item["remaining_stock"] == 4
    assert item["held"] == 1
    assert (item["can_claim"], item["reason"]) == (False, "limit_reached")
    assert item["claim_starts_at"] == "2026-11-30T10:00:00+08:00"
    assert item["all_stores"] is True


def test_shopper_endpoints_need_a_shopper_token(pos_client, api_client):
    assert api_client.get(CAMPAIGNS).status_code == 401
    assert pos_client.get(CAMPAIGNS).status_code in (401, 403)


def test_claim_answers_201_with_the_coupon(frozen, member_client, member):
    campaign = _open(name="满50减10", valid_days=7)

    response = _claim(member_client, campaign.pk)

    assert response.status_code == 201
    body = response.json()
    coupon = Coupon.objects.get(member=member)
    assert body["id"] == coupon.pk
    assert body["status"] == "unused"
    assert body["campaign"]["name"] == "满50减10"
    assert body["campaign"]["kind"] == "amount_off"
    assert body["valid_from"] == "2026-12-01T10:00:00+08:00"
    assert body["valid_until"] == "2026-12-09T00:00:00+08:00"


@pytest.mark.parametrize(
    ("fields", "status", "code"),
    [
        ({"remaining_stock": 0}, 409, "sold_out"),
        ({"is_paused": True}, 409, "paused"),
        ({"claim_starts_at": T0 + DAY, "claim_ends_at": T0 + 2 * DAY}, 409, "not_started"),
        ({"claim_ends_at": T0}, 409, "ended"),
        ({"audience": Audience.NEW_MEMBERS, "new_member_days": 1}, 403, "not_eligible"),
        ({"claimable_online": False}, 404, "not_found"),
    ],
)
def test_claim_refusals_have_their_code_and_status(frozen, member, fields, status, code):
    member.joined_at = T0 - 2 * DAY
    member.save(update_fields=["joined_at"])
    member_client = member_client_for(member)
    campaign = _open(**fields)

    response = _claim(member_client, campaign.pk)

    assert (response.status_code, response.json()["code"]) == (status, code)
    assert not Coupon.objects.exists()


def test_claim_beyond_the_limit_is_limit_reached(frozen, member_client):
    campaign = _open(per_member_limit=1)
    assert _claim(member_client, campaign.pk).status_code == 201

    response = _claim(member_client, campaign.pk)

    assert (response.status_code, response.json()["code"]) == (409, "limit_reached")


def test_claim_of_a_tag_campaign_without_the_tag_is_not_eligible(frozen, member_client):
    campaign = _open(audience=Audience.TAG, audience_tag=TagFactory())

    response = _claim(member_client, campaign.pk)

    assert (response.status_code, response.json()["code"]) == (403, "not_eligible")


def test_claim_of_unknown_campaign_is_404(member_client):
    response = _claim(member_client, 424242)

    assert (response.status_code, response.json()["code"]) == (404, "not_found")


def test_mine_lists_newest_first_and_filters_by_status(frozen, member_client, member):
    old = CouponFactory(member=member, valid_until=T0 - DAY)
    used = CouponFactory(member=member, status=CouponStatus.USED)
    fresh = CouponFactory(member=member)
    CouponFactory()

    everything = member_client.get(MINE).json()
    expired = member_client.get(MINE, {"status": "expired"}).json()

    assert everything["count"] == 3
    assert [c["id"] for c in everything["results"]] == [fresh.pk, used.pk, old.pk]
    assert [c["status"] for c in everything["results"]] == ["unused", "used", "expired"]
    assert [c["id"] for c in expired["results"]] == [old.pk]
    paged = member_client.get(MINE, {"limit": 1, "offset": 1}).json()
    assert [c["id"] for c in paged["results"]] == [used.pk]


def test_mine_with_an_unknown_status_is_400(member_client):
    response = member_client.get(MINE, {"status": "lost"})

    assert (response.status_code, response.json()["code"]) == (400, "invalid")


def test_coupon_code_answers_code_and_expiry(frozen, member_client, member):
    coupon = CouponFactory(member=member)

    response = member_client.get(f"{MINE}/{coupon.pk}/code")

    assert response.status_code == 200
    assert set(response.json()) == {"code", "expires_in"}
    assert response.json()["code"].startswith("C")


def test_coupon_code_of_others_used_or_expired_coupons_is_refused(frozen, member_client, member):
    def answer(coupon):
        response = member_client.get(f"{MINE}/{coupon.pk}/code")
        return response.status_code, response.json()["code"]

    assert answer(CouponFactory()) == (404, "not_found")
    assert answer(CouponFactory(member=member, status=CouponStatus.USED)) == (
        409,
        "already_redeemed",
    )
    assert answer(CouponFactory(member=member, valid_until=T0)) == (409, "expired")


# --- POS --------------------------------------------------------------------------------------


def test_preview_answers_what_the_coupon_gives(pos_client):
    coupon = CouponFactory(
        campaign=CampaignFactory(
            kind=CampaignKind.GIFT, amount_off_fen=None, gift_description="Tote", min_spend_fen=0
        )
    )

    response = pos_client.post(
        PREVIEW, {"code": code_for(coupon), "order_amount_fen": 1234}, format="json"
    )

    assert response.status_code == 200
    body = response.json()
    assert body["coupon"]["id"] == coupon.pk
    assert body["campaign"]["kind"] == "gift"
    assert (body["discount_fen"], body["pay_fen"], body["gift"]) == (0, 1234, "Tote")


@pytest.mark.parametrize(
    ("coupon_fields", "campaign_fields", "code", "status"),
    [
        ({"status": CouponStatus.USED}, {}, "already_redeemed", 409),
        ({"valid_until": T0}, {}, "expired", 409),
        ({"valid_from": T0 + DAY}, {}, "not_started", 409),
        ({}, {"all_stores": False}, "wrong_store", 409),
        ({}, {"is_paused": True}, "paused", 409),
        ({}, {"min_spend_fen": 10000}, "min_spend_not_met", 409),
    ],
)
def test_preview_refusals_have_their_code(
    frozen, pos_client, coupon_fields, campaign_fields, code, status
):
    coupon = CouponFactory(campaign=CampaignFactory(**campaign_fields), **coupon_fields)

    response = pos_client.post(
        PREVIEW, {"code": code_for(coupon), "order_amount_fen": 6000}, format="json"
    )

    assert (response.status_code, response.json()["code"]) == (status, code)


def test_preview_min_spend_detail_says_how_much_more(pos_client):
    coupon = CouponFactory(campaign=CampaignFactory(min_spend_fen=5000))

    response = pos_client.post(
        PREVIEW,
        {"code": code_for(coupon), "order_amount_fen": 3800},
        format="json",
        HTTP_ACCEPT_LANGUAGE="en",
    )

    assert response.json()["detail"] == "Buy 12.00 yuan more to use this coupon."
    assert response.json()["shortfall_fen"] == 1200


def test_preview_of_bad_codes(frozen, pos_client):
    coupon = CouponFactory()
    code = code_for(coupon)

    tampered = pos_client.post(
        PREVIEW, {"code": code[:-2] + "ZZ", "order_amount_fen": 6000}, format="json"
    )
    frozen.shift(121)
    expired = pos_client.post(PREVIEW, {"code": code, "order_amount_fen": 6000}, format="json")

    assert (tampered.status_code, tampered.json()["code"]) == (400, "invalid_code")
    assert (expired.status_code, expired.json()["code"]) == (400, "code_expired")


def test_pos_endpoints_refuse_shopper_tokens(member_client):
    response = member_client.post(PREVIEW, {"code": "X", "order_amount_fen": 1}, format="json")

    assert response.status_code in (401, 403)


def test_redeem_answers_201_with_the_redemption(frozen, pos_client, cashier):
    coupon = CouponFactory()

    response = _redeem(pos_client, coupon)

    assert response.status_code == 201
    body = response.json()
    redemption = Redemption.objects.get()
    assert body == {
        "id": redemption.pk,
        "coupon_id": coupon.pk,
        "campaign": {
            "id": coupon.campaign_id,
            "name": coupon.campaign.name,
            "kind": "amount_off",
            "amount_off_fen": 1000,
            "percent_off": None,
            "max_discount_fen": None,
            "min_spend_fen": 5000,
            "gift": None,
        },
        "store_id": cashier.store_id,
        "cashier_id": cashier.user_id,
        "redeemed_at": "2026-12-01T10:00:00+08:00",
        "order_amount_fen": 6000,
        "discount_fen": 1000,
        "pay_fen": 5000,
        "gift": None,
        "receipt_no": "R1",
    }


def test_redeem_needs_an_idempotency_key(pos_client):
    coupon = CouponFactory()

    missing = _redeem(pos_client, coupon, key=None)
    too_long = _redeem(pos_client, coupon, key="k" * 65)

    assert (missing.status_code, missing.json()["code"]) == (400, "idempotency_key_required")
    assert (too_long.status_code, too_long.json()["code"]) == (400, "idempotency_key_invalid")
    assert not Redemption.objects.exists()


def test_redeem_replay_answers_the_same_status_and_body(pos_client):
    coupon = CouponFactory()
    code = code_for(coupon)

    first = _redeem(pos_client, coupon, code=code)
    second = _redeem(pos_client, coupon, code=code)

    assert first.status_code == second.status_code == 201
    assert first.content == second.content
    assert Redemption.objects.count() == 1


def test_redeem_same_key_other_body_and_other_key_same_coupon(pos_client):
    coupon = CouponFactory()
    code = code_for(coupon)
    _redeem(pos_client, coupon, code=code)

    reused = _redeem(pos_client, coupon, code=code, receipt="R2")
    again = _redeem(pos_client, coupon, code=code, key="key-2")

    assert (reused.status_code, reused.json()["code"]) == (409, "idempotency_key_reused")
    assert (again.status_code, again.json()["code"]) == (409, "already_redeemed")


def test_redeem_with_invalid_input_is_400(pos_client):
    response = pos_client.post(
        REDEMPTIONS,
        {"code": "x", "order_amount_fen": -1},
        format="json",
        HTTP_IDEMPOTENCY_KEY="k",
    )

    assert (response.status_code, response.json()["code"]) == (400, "invalid")
    assert set(response.json()["fields"]) == {"order_amount_fen", "receipt_no"}


def test_void_answers_the_voided_redemption(frozen, pos_client, cashier):
    coupon = CouponFactory()
    redemption_id = _redeem(pos_client, coupon).json()["id"]

    response = pos_client.post(
        f"{REDEMPTIONS}/{redemption_id}/void", {"reason": "refund"}, format="json"
    )

    assert response.status_code == 200
    assert response.json()["voided_at"] == "2026-12-01T10:00:00+08:00"
    assert response.json()["void_reason"] == "refund"
    assert response.json()["voided_by_id"] == cashier.user_id
    coupon.refresh_from_db()
    assert coupon.status == CouponStatus.UNUSED


def test_void_refusals(frozen, pos_client, other_store, settings):
    settings.COUPON_VOID_WINDOW = datetime.timedelta(hours=1)
    coupon = CouponFactory(valid_until=T0 + 10 * DAY)
    redemption_id = _redeem(pos_client, coupon).json()["id"]
    url = f"{REDEMPTIONS}/{redemption_id}/void"
    stranger = pos_client_for(StaffProfileFactory(store=other_store))

    wrong_store = stranger.post(url, {}, format="json")
    frozen.shift(datetime.timedelta(hours=1, seconds=1))
    too_late = pos_client.post(url, {}, format="json")

    assert (wrong_store.status_code, wrong_store.json()["code"]) == (403, "wrong_store")
    assert (too_late.status_code, too_late.json()["code"]) == (409, "void_window_passed")
    assert pos_client.post(f"{REDEMPTIONS}/999999/void", {}, format="json").status_code == 404


def test_void_twice_is_409(pos_client):
    redemption_id = _redeem(pos_client, CouponFactory()).json()["id"]
    url = f"{REDEMPTIONS}/{redemption_id}/void"
    assert pos_client.post(url, {}, format="json").status_code == 200

    response = pos_client.post(url, {}, format="json")

    assert (response.status_code, response.json()["code"]) == (409, "already_voided")


def test_store_day_lists_redemptions_with_totals(frozen, pos_client, cashier):
    RedemptionFactory(store=cashier.store, cashier=cashier.user, discount_fen=800)
    RedemptionFactory(store=cashier.store, discount_fen=200, voided_at=T0)
    RedemptionFactory(store=cashier.store, redeemed_at=T0 - DAY)
    RedemptionFactory()

    today = pos_client.get(REDEMPTIONS).json()
    yesterday = pos_client.get(REDEMPTIONS, {"date": "2026-11-30"}).json()

    assert today["date"] == "2026-12-01"
    assert today["totals"] == {"count": 1, "discount_fen": 800, "voided": 1}
    assert today["count"] == 2
    assert {r["cashier_username"] for r in today["results"]} >= {cashier.user.username}
    assert yesterday["totals"]["count"] == 1


def test_store_day_with_a_bad_date_is_400(pos_client):
    response = pos_client.get(REDEMPTIONS, {"date": "2026-13-45"})

    assert (response.status_code, response.json()["code"]) == (400, "invalid")


def test_a_claimed_coupon_goes_from_claim_to_code_to_redemption(frozen, member_client, pos_client):
    # The whole story through the API: claim, show the code, preview, redeem, void.
    campaign = _open(min_spend_fen=0, amount_off_fen=500)
    coupon_id = _claim(member_client, campaign.pk).json()["id"]
    code = member_client.get(f"{MINE}/{coupon_id}/code").json()["code"]

    preview = pos_client.post(PREVIEW, {"code": code, "order_amount_fen": 3000}, format="json")
    redeemed = _redeem(pos_client, None, code=code, amount=3000)
    mine_used = member_client.get(MINE, {"status": "used"}).json()
    voided = pos_client.post(f"{REDEMPTIONS}/{redeemed.json()['id']}/void", {}, format="json")
    mine_unused = member_client.get(MINE, {"status": "unused"}).json()

    assert preview.json()["discount_fen"] == 500
    assert redeemed.status_code == 201
    assert [c["id"] for c in mine_used["results"]] == [coupon_id]
    assert voided.status_code == 200
    assert [c["id"] for c in mine_unused["results"]] == [coupon_id]


def test_schema_documents_the_coupon_paths(api_client):
    response = api_client.get("/api/schema/", {"format": "json"})

    assert response.status_code == 200
    paths = response.json()["paths"]
    assert {"get", "post"} <= set(paths["/api/pos/redemptions"])
    assert "Idempotency-Key" in {
        p["name"] for p in paths["/api/pos/redemptions"]["post"]["parameters"]
    }
    assert "409" in paths["/api/coupons/campaigns/{campaign_id}/claim"]["post"]["responses"]


def test_members_other_than_the_token_never_see_each_others_coupons(frozen):
    owner, other = MemberFactory(), MemberFactory()
    CouponFactory(member=owner)

    assert member_client_for(other).get(MINE).json()["count"] == 0
