"""POST/DELETE /api/members/me/location: the member's position, with consent, rounded."""

import pytest
from rest_framework_simplejwt.tokens import RefreshToken

from members.models import Member
from stores.authentication import pos_token_for
from tests.factories import MemberFactory

URL = "/api/members/me/location"


def as_member(api_client, member):
    api_client.credentials(
        HTTP_AUTHORIZATION=f"Bearer {RefreshToken.for_user(member).access_token}"
    )
    return api_client


@pytest.mark.django_db
def test_the_location_is_stored_rounded_to_about_100_m_with_consent(api_client):
    member = MemberFactory()

    response = as_member(api_client, member).post(
        URL, {"lat": 22.543123, "lng": 114.057891}, format="json"
    )

    assert response.status_code == 200
    assert (response.data["lat"], response.data["lng"]) == (22.543, 114.058)
    stored = Member.objects.get(pk=member.pk)
    assert (stored.last_lat, stored.last_lng, stored.location_consent) == (22.543, 114.058, True)
    assert stored.location_updated_at is not None


@pytest.mark.django_db
@pytest.mark.parametrize(
    "body",
    [{"lat": 91, "lng": 114}, {"lat": 22, "lng": -181}, {"lat": "north", "lng": 1}, {"lat": 22}],
)
def test_an_impossible_position_is_refused_with_the_field(api_client, body):
    member = MemberFactory()

    response = as_member(api_client, member).post(URL, body, format="json")

    assert response.status_code == 400
    assert response.data["code"] == "invalid"
    assert Member.objects.get(pk=member.pk).last_lat is None


@pytest.mark.django_db
def test_withdrawing_consent_forgets_the_position(api_client):
    member = MemberFactory(last_lat=22.5, last_lng=114.0, location_consent=True)

    response = as_member(api_client, member).delete(URL)

    assert response.status_code == 204
    stored = Member.objects.get(pk=member.pk)
    assert (stored.last_lat, stored.location_consent) == (None, False)


@pytest.mark.django_db
def test_without_a_shopper_token_the_location_is_refused(api_client):
    assert api_client.post(URL, {"lat": 1, "lng": 1}, format="json").status_code == 401
    api_client.credentials(
        HTTP_AUTHORIZATION=f"Bearer {pos_token_for(user_id=1, store_id=1, role='cashier')}"
    )
    assert api_client.post(URL, {"lat": 1, "lng": 1}, format="json").status_code in (401, 403)


@pytest.mark.django_db
def test_an_inactive_member_is_not_found(api_client):
    member = MemberFactory(is_active=False)

    response = as_member(api_client, member).post(URL, {"lat": 1, "lng": 1}, format="json")

    assert (response.status_code, response.data["code"]) == (404, "member_not_found")
