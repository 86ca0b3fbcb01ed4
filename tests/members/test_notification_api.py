import pytest
from rest_framework_simplejwt.tokens import RefreshToken

from members.models import SubscriptionGrant
from stores.authentication import pos_token_for
from tests.factories import MemberFactory, StoreFactory, SubscriptionGrantFactory

URL = "/api/members/me/subscriptions"


def as_member(api_client, member):
    token = RefreshToken.for_user(member).access_token
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return api_client


def by_template(body):
    return {entry["template_id"]: entry for entry in body}


@pytest.mark.django_db
def test_list_shows_the_configured_templates_with_grants_left(api_client):
    member = MemberFactory()
    SubscriptionGrantFactory(member=member, template_id="tmpl-deal-starting", remaining=2)
    SubscriptionGrantFactory(template_id="tmpl-coupon-redeemed", remaining=9)  # someone else

    response = as_member(api_client, member).get(URL)

    assert response.status_code == 200
    templates = by_template(response.json())
    assert templates["tmpl-deal-starting"] == {
        "template_id": "tmpl-deal-starting",
        "event": "deal_starting",
        "title": "Flash deal starting",
        "grants_left": 2,
    }
    assert templates["tmpl-coupon-redeemed"]["grants_left"] == 0
    assert {t["event"] for t in templates.values()} == {
        "coupon_issued",
        "coupon_redeemed",
        "coupons_expiring",
        "deal_starting",
        "deal_order_paid",
        "deal_order_cancelled",
    }


@pytest.mark.django_db
def test_accepting_adds_one_grant_per_template_and_returns_the_list(api_client):
    member = MemberFactory()
    client = as_member(api_client, member)

    client.post(URL, {"accepted": ["tmpl-coupon-redeemed"]}, format="json")
    response = client.post(
        URL,
        {"accepted": ["tmpl-coupon-redeemed", "tmpl-deal-order-paid"], "rejected": []},
        format="json",
    )

    assert response.status_code == 200
    templates = by_template(response.json())
    assert templates["tmpl-coupon-redeemed"]["grants_left"] == 2
    assert templates["tmpl-deal-order-paid"]["grants_left"] == 1
    assert templates["tmpl-coupons-expiring"]["grants_left"] == 0


@pytest.mark.django_db
def test_rejecting_changes_nothing(api_client):
    member = MemberFactory()
    SubscriptionGrantFactory(member=member, template_id="tmpl-coupon-redeemed", remaining=1)

    response = as_member(api_client, member).post(
        URL, {"accepted": [], "rejected": ["tmpl-coupon-redeemed"]}, format="json"
    )

    assert response.status_code == 200
    assert by_template(response.json())["tmpl-coupon-redeemed"]["grants_left"] == 1


@pytest.mark.django_db
def test_unknown_template_id_is_a_400_in_the_error_shape(api_client):
    member = MemberFactory()

    response = as_member(api_client, member).post(
        URL, {"accepted": ["tmpl-coupon-redeemed", "not-ours"]}, format="json"
    )

    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "invalid"
    assert "not-ours" in body["detail"]
    assert "accepted" in body["fields"]
    assert not SubscriptionGrant.objects.exists()


@pytest.mark.django_db
def test_malformed_answer_is_a_400(api_client):
    member = MemberFactory()

    response = as_member(api_client, member).post(URL, {"accepted": "tmpl"}, format="json")

    assert response.status_code == 400
    assert response.json()["code"] == "invalid"


@pytest.mark.django_db
def test_needs_a_shopper_token(api_client):
    store = StoreFactory()

    anonymous = api_client.get(URL)
    api_client.credentials(
        HTTP_AUTHORIZATION=f"Bearer {pos_token_for(user_id=1, store_id=store.pk, role='cashier')}"
    )
    cashier = api_client.get(URL)

    assert anonymous.status_code == 401
    assert cashier.status_code in (401, 403)
