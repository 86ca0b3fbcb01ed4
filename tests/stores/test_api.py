import datetime

import pytest
import time_machine
from django.utils import timezone
from rest_framework.exceptions import AuthenticationFailed
from rest_framework.test import APIRequestFactory
from rest_framework_simplejwt.exceptions import InvalidToken
from rest_framework_simplejwt.tokens import RefreshToken

from members.authentication import MemberJWTAuthentication
from stores.authentication import PosTokenAuthentication, pos_token_for
from stores.models import StaffProfile
from tests.factories import MemberFactory, StoreFactory, UserFactory

NEARBY_URL = "/api/stores"
LOGIN_URL = "/api/pos/auth/login"
ME_URL = "/api/pos/me"


def _login(api_client, username, password, address="10.0.0.1"):
    return api_client.post(
        LOGIN_URL, {"username": username, "password": password}, format="json", REMOTE_ADDR=address
    )


# --- GET /api/stores ----------------------------------------------------------------------------


@pytest.mark.django_db
def test_nearby_lists_open_stores_nearest_first_with_distance(api_client):
    StoreFactory(code="FAR", latitude=22.5600, longitude=114.0579)  # ~1.9 km north
    StoreFactory(code="NEAR", latitude=22.5440, longitude=114.0579, opening_hours="07:30-22:30")
    StoreFactory(code="SHUT", latitude=22.5431, longitude=114.0579, is_active=False)
    StoreFactory(code="OUT", latitude=22.5800, longitude=114.0579)  # ~4.1 km: beyond 3 km

    response = api_client.get(NEARBY_URL, {"lat": "22.5431", "lng": "114.0579"})

    assert response.status_code == 200
    body = response.json()
    assert [store["code"] for store in body] == ["NEAR", "FAR"]
    assert body[0] == {
        "code": "NEAR",
        "name": body[0]["name"],
        "address": "1 Shennan Avenue",
        "city": "Shenzhen",
        "latitude": 22.544,
        "longitude": 114.0579,
        "opening_hours": "07:30-22:30",
        "phone": "",
        "distance_m": 100,
    }
    assert body[1]["distance_m"] == 1879


@pytest.mark.django_db
def test_nearby_takes_a_radius(api_client):
    StoreFactory(code="OUT", latitude=22.5800, longitude=114.0579)

    response = api_client.get(NEARBY_URL, {"lat": 22.5431, "lng": 114.0579, "radius_m": 5000})

    assert [store["code"] for store in response.json()] == ["OUT"]


@pytest.mark.django_db
def test_nearby_needs_no_token_and_ignores_a_bad_one(api_client):
    api_client.credentials(HTTP_AUTHORIZATION="Bearer not-a-token")

    response = api_client.get(NEARBY_URL, {"lat": 22.5, "lng": 114.0})

    assert response.status_code == 200
    assert response.json() == []


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"lng": "114"}, "lat"),
        ({"lat": "22.5"}, "lng"),
        ({"lat": "", "lng": "114"}, "lat"),
        ({"lat": "north", "lng": "114"}, "lat"),
        ({"lat": "90.0001", "lng": "114"}, "lat"),
        ({"lat": "-91", "lng": "114"}, "lat"),
        ({"lat": "22.5", "lng": "180.5"}, "lng"),
        ({"lat": "nan", "lng": "114"}, "lat"),
        ({"lat": "22.5", "lng": "inf"}, "lng"),
        ({"lat": "22.5", "lng": "114", "radius_m": "0"}, "radius_m"),
        ({"lat": "22.5", "lng": "114", "radius_m": "-5"}, "radius_m"),
        ({"lat": "22.5", "lng": "114", "radius_m": "50001"}, "radius_m"),
        ({"lat": "22.5", "lng": "114", "radius_m": "3km"}, "radius_m"),
    ],
)
@pytest.mark.django_db
def test_nearby_refuses_bad_coordinates_and_radius(api_client, params, field):
    response = api_client.get(NEARBY_URL, params)

    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "invalid"
    assert list(body["fields"]) == [field]
    assert body["detail"].startswith(f"{field}: ")


@pytest.mark.django_db
def test_nearby_accepts_the_largest_radius(api_client):
    response = api_client.get(NEARBY_URL, {"lat": 22.5, "lng": 114, "radius_m": 50000})

    assert response.status_code == 200


# --- POST /api/pos/auth/login -------------------------------------------------------------------


@pytest.mark.django_db
def test_cashier_login_returns_a_shift_token_for_their_store(api_client, cashier, store):
    with time_machine.travel(datetime.datetime(2026, 5, 1, 8, 0, tzinfo=datetime.UTC), tick=False):
        response = _login(api_client, "cashier1", "cashier1")
        me = api_client.get(ME_URL, HTTP_AUTHORIZATION=f"Bearer {response.json()['token']}")

    assert response.status_code == 200
    body = response.json()
    assert body["store"] == {"id": store.pk, "code": "S001", "name": "Futian"}
    assert body["role"] == "cashier"
    assert datetime.datetime.fromisoformat(body["expires_at"]) == datetime.datetime(
        2026, 5, 1, 20, 0, tzinfo=datetime.UTC
    )
    assert me.status_code == 200


@pytest.mark.django_db
def test_store_manager_can_log_in_at_the_till(api_client, manager):
    response = _login(api_client, "manager1", "manager1")

    assert response.status_code == 200
    assert response.json()["role"] == "store_manager"


@pytest.mark.django_db
def test_wrong_password_and_unknown_user_get_the_same_answer(api_client, cashier):
    wrong = _login(api_client, "cashier1", "nope")
    unknown = _login(api_client, "nobody", "nope")

    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json() == unknown.json()
    assert wrong.json()["code"] == "invalid_credentials"


@pytest.mark.django_db
def test_disabled_account_cannot_log_in(api_client, cashier):
    cashier.is_active = False
    cashier.save()

    response = _login(api_client, "cashier1", "cashier1")

    assert response.status_code == 401
    assert response.json()["code"] == "invalid_credentials"


@pytest.mark.django_db
def test_marketer_cannot_log_in_at_the_till(api_client, marketer):
    response = _login(api_client, "marketer1", "marketer1")

    assert response.status_code == 403
    assert response.json()["code"] == "not_store_staff"


@pytest.mark.django_db
def test_user_without_staff_profile_cannot_log_in_at_the_till(api_client):
    UserFactory(username="admin", is_staff=True, is_superuser=True)

    response = _login(api_client, "admin", "admin")

    assert response.status_code == 403
    assert response.json()["code"] == "not_store_staff"


@pytest.mark.django_db
def test_cashier_of_a_closed_store_cannot_log_in(api_client, cashier, store):
    store.is_active = False
    store.save()

    response = _login(api_client, "cashier1", "cashier1")

    assert response.status_code == 403


@pytest.mark.django_db
def test_login_needs_username_and_password(api_client):
    response = api_client.post(LOGIN_URL, {"username": "cashier1"}, format="json")

    assert response.status_code == 400
    assert response.json()["code"] == "invalid"
    assert "password" in response.json()["fields"]


@pytest.mark.django_db
def test_sixth_attempt_after_five_failures_for_a_username_is_refused(api_client, cashier):
    # given five failures for one username from five addresses
    for attempt in range(5):
        assert _login(api_client, "cashier1", "wrong", f"10.0.0.{attempt}").status_code == 401

    # when the right password comes, from yet another address
    response = _login(api_client, "cashier1", "cashier1", "10.0.1.1")

    # then
    assert response.status_code == 429
    assert response.json()["code"] == "too_many_attempts"
    assert _login(api_client, "CASHIER1", "x", "10.0.1.2").status_code == 429


@pytest.mark.django_db
def test_sixth_attempt_after_five_failures_from_an_address_is_refused(api_client, cashier):
    for attempt in range(5):
        assert _login(api_client, f"guess{attempt}", "wrong", "10.9.9.9").status_code == 401

    response = _login(api_client, "cashier1", "cashier1", "10.9.9.9")

    assert response.status_code == 429
    assert _login(api_client, "cashier1", "cashier1", "10.9.9.10").status_code == 200


@pytest.mark.django_db
def test_failures_are_forgotten_in_the_next_minute(api_client, cashier):
    start = datetime.datetime(2026, 5, 1, 8, 0, 0, tzinfo=datetime.UTC)
    with time_machine.travel(start, tick=False):
        for _ in range(5):
            _login(api_client, "cashier1", "wrong")
        assert _login(api_client, "cashier1", "cashier1").status_code == 429

    with time_machine.travel(start + datetime.timedelta(seconds=61), tick=False):
        assert _login(api_client, "cashier1", "cashier1").status_code == 200


@pytest.mark.django_db
def test_successful_logins_do_not_count_as_failures(api_client, cashier):
    for _ in range(7):
        assert _login(api_client, "cashier1", "cashier1").status_code == 200


@pytest.mark.django_db
def test_four_failures_still_let_the_right_password_in(api_client, cashier):
    for _ in range(4):
        _login(api_client, "cashier1", "wrong")

    assert _login(api_client, "cashier1", "cashier1").status_code == 200


# --- GET /api/pos/me and token boundaries -------------------------------------------------------


@pytest.mark.django_db
def test_pos_me_shows_the_staff_member_role_and_store(api_client, cashier, store):
    token = pos_token_for(user_id=cashier.pk, store_id=store.pk, role="cashier")

    response = api_client.get(ME_URL, HTTP_AUTHORIZATION=f"Bearer {token}")

    assert response.status_code == 200
    assert response.json() == {
        "id": cashier.pk,
        "username": "cashier1",
        "full_name": "",
        "role": "cashier",
        "store": {"id": store.pk, "code": "S001", "name": "Futian"},
    }


@pytest.mark.django_db
def test_pos_me_without_a_token_is_unauthorised(api_client):
    response = api_client.get(ME_URL)

    assert response.status_code == 401
    assert response.json()["code"] == "not_authenticated"


@pytest.mark.django_db
def test_shopper_token_is_refused_on_pos_endpoints(api_client):
    member = MemberFactory()
    access = str(RefreshToken.for_user(member).access_token)

    response = api_client.get(ME_URL, HTTP_AUTHORIZATION=f"Bearer {access}")

    assert response.status_code == 401


@pytest.mark.django_db
def test_expired_pos_token_is_refused(api_client, cashier, store):
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        token = str(pos_token_for(user_id=cashier.pk, store_id=store.pk, role="cashier"))

    with time_machine.travel(start + datetime.timedelta(hours=12, seconds=1), tick=False):
        response = api_client.get(ME_URL, HTTP_AUTHORIZATION=f"Bearer {token}")

    assert response.status_code == 401
    assert response.json()["code"] == "token_not_valid"


@pytest.mark.django_db
def test_pos_token_still_valid_just_before_the_shift_ends(api_client, cashier, store):
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        token = str(pos_token_for(user_id=cashier.pk, store_id=store.pk, role="cashier"))

    with time_machine.travel(start + datetime.timedelta(hours=11, minutes=59), tick=False):
        response = api_client.get(ME_URL, HTTP_AUTHORIZATION=f"Bearer {token}")

    assert response.status_code == 200


@pytest.mark.django_db
def test_pos_token_of_someone_moved_to_another_store_is_refused(
    api_client, cashier, store, other_store
):
    token = pos_token_for(user_id=cashier.pk, store_id=store.pk, role="cashier")
    StaffProfile.objects.filter(user=cashier).update(store=other_store)

    response = api_client.get(ME_URL, HTTP_AUTHORIZATION=f"Bearer {token}")

    assert response.status_code == 401


@pytest.mark.django_db
def test_pos_token_for_a_marketer_is_refused_on_pos_endpoints(api_client, marketer):
    token = pos_token_for(user_id=marketer.pk, store_id=None, role="marketer")

    response = api_client.get(ME_URL, HTTP_AUTHORIZATION=f"Bearer {token}")

    assert response.status_code == 403


@pytest.mark.django_db
def test_shopper_authentication_rejects_a_pos_token(cashier, store):
    token = pos_token_for(user_id=cashier.pk, store_id=store.pk, role="cashier")
    request = APIRequestFactory().get("/api/anything", HTTP_AUTHORIZATION=f"Bearer {token}")

    with pytest.raises((InvalidToken, AuthenticationFailed)):
        MemberJWTAuthentication().authenticate(request)


@pytest.mark.django_db
def test_pos_authentication_rejects_a_shopper_token():
    access = str(RefreshToken.for_user(MemberFactory()).access_token)
    request = APIRequestFactory().get("/api/pos/me", HTTP_AUTHORIZATION=f"Bearer {access}")

    with pytest.raises(InvalidToken):
        PosTokenAuthentication().authenticate(request)


@pytest.mark.django_db
def test_schema_documents_the_nearby_answer(api_client):
    response = api_client.get("/api/schema/", {"format": "json"})

    schema = response.json()
    operation = schema["paths"]["/api/stores"]["get"]
    assert {p["name"] for p in operation["parameters"]} == {"lat", "lng", "radius_m"}
    item = schema["components"]["schemas"]["StoreNearby"]
    assert "distance_m" in item["properties"]
    assert "/api/pos/auth/login" in schema["paths"]


@pytest.mark.django_db
def test_behind_a_proxy_failures_count_per_client_address(api_client, cashier, settings):
    settings.TRUSTED_CLIENT_IP_HEADER = "X-Real-IP"
    for attempt in range(5):
        api_client.post(
            LOGIN_URL,
            {"username": f"guess{attempt}", "password": "x"},
            format="json",
            REMOTE_ADDR="10.0.0.254",
            HTTP_X_REAL_IP="203.0.113.7",
        )

    blocked = api_client.post(
        LOGIN_URL,
        {"username": "cashier1", "password": "cashier1"},
        format="json",
        REMOTE_ADDR="10.0.0.254",
        HTTP_X_REAL_IP="203.0.113.7",
    )
    other_till = api_client.post(
        LOGIN_URL,
        {"username": "cashier1", "password": "cashier1"},
        format="json",
        REMOTE_ADDR="10.0.0.254",
        HTTP_X_REAL_IP="203.0.113.8",
    )

    assert blocked.status_code == 429
    assert other_till.status_code == 200
