import datetime
import json
import time

import pytest
import time_machine
from rest_framework_simplejwt.tokens import RefreshToken

from backend import wechat
from members.selectors.accounts import member_code_issue
from stores.authentication import pos_token_for
from tests.factories import MemberFactory, StoreFactory, TagFactory

SECRETS = ("openid", "unionid", "session_key", "sandbox-openid")


def shopper(api_client, member):
    api_client.credentials(
        HTTP_AUTHORIZATION=f"Bearer {RefreshToken.for_user(member).access_token}"
    )
    return api_client


def cashier(api_client, store):
    token = pos_token_for(user_id=1, store_id=store.pk, role="cashier")
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return api_client


@pytest.mark.django_db
def test_login_answers_tokens_and_the_member_without_wechat_secrets(api_client):
    response = api_client.post("/api/auth/wechat/login", {"code": "alice"}, format="json")

    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"access", "refresh", "is_new", "member"}
    assert body["is_new"] is True
    assert body["member"]["member_no"].startswith("88")
    text = json.dumps(body)
    assert not any(secret in text for secret in SECRETS)


@pytest.mark.django_db
def test_login_with_an_invalid_code_is_400_wechat_invalid_code(api_client):
    response = api_client.post("/api/auth/wechat/login", {"code": "bad-1"}, format="json")

    assert response.status_code == 400
    assert response.json()["code"] == "wechat_invalid_code"


@pytest.mark.django_db
def test_login_without_a_code_is_400_in_the_error_shape(api_client):
    response = api_client.post("/api/auth/wechat/login", {}, format="json")

    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "invalid"
    assert "code" in body["fields"]


@pytest.mark.django_db
def test_login_while_wechat_is_down_is_503(api_client, wechat_sandbox):
    wechat_sandbox.fault("http_500", count=5)

    response = api_client.post("/api/auth/wechat/login", {"code": "x"}, format="json")

    assert response.status_code == 503
    assert response.json()["code"] == "wechat_unavailable"


@pytest.mark.django_db
def test_after_sign_in_failed_in_a_row_logins_answer_503_without_calling_wechat(
    api_client, wechat_sandbox, settings, monkeypatch
):
    # given: code2session failed twice in a row, with a threshold of two
    settings.WECHAT_BREAKER_FAILURES = 2
    settings.WECHAT_BREAKER_SECONDS = 30
    wechat_sandbox.fault("http_500", count=2, path="/sns/jscode2session")
    for code in ("amy", "ben"):
        response = api_client.post("/api/auth/wechat/login", {"code": code}, format="json")
        assert response.json()["code"] == "wechat_unavailable"
    calls = wechat_sandbox.calls("/sns/jscode2session")
    # when: WeChat would answer again, but the breaker is open
    refused = api_client.post("/api/auth/wechat/login", {"code": "cat"}, format="json")
    # then: refused at once, WeChat not asked
    assert (refused.status_code, refused.json()["code"]) == (503, "wechat_unavailable")
    assert wechat_sandbox.calls("/sns/jscode2session") == calls
    # and once its 30 seconds have passed, a login goes through and closes it
    later = time.monotonic() + 31
    monkeypatch.setattr(wechat._sign_in_breaker, "clock", lambda: later)
    retried = api_client.post("/api/auth/wechat/login", {"code": "cat"}, format="json")
    assert retried.status_code == 200
    monkeypatch.undo()
    after = api_client.post("/api/auth/wechat/login", {"code": "dan"}, format="json")
    assert after.status_code == 200


@pytest.mark.django_db
def test_an_invalid_code_is_an_answer_not_a_failure_for_the_breaker(
    api_client, wechat_sandbox, settings
):
    settings.WECHAT_BREAKER_FAILURES = 2
    wechat_sandbox.fault("http_500", count=1, path="/sns/jscode2session")
    api_client.post("/api/auth/wechat/login", {"code": "amy"}, format="json")
    api_client.post("/api/auth/wechat/login", {"code": "bad-1"}, format="json")
    wechat_sandbox.fault("http_500", count=1, path="/sns/jscode2session")
    api_client.post("/api/auth/wechat/login", {"code": "ben"}, format="json")

    response = api_client.post("/api/auth/wechat/login", {"code": "cat"}, format="json")

    assert response.status_code == 200


@pytest.mark.django_db
def test_login_when_wechat_rate_limits_is_429(api_client, wechat_sandbox):
    wechat_sandbox.fault("rate_limited", count=5)

    response = api_client.post("/api/auth/wechat/login", {"code": "x"}, format="json")

    assert response.status_code == 429
    assert response.json()["code"] == "wechat_rate_limited"


@pytest.mark.django_db
def test_refresh_then_use_the_new_access_token(api_client):
    login = api_client.post("/api/auth/wechat/login", {"code": "bob"}, format="json").json()

    refreshed = api_client.post("/api/auth/refresh", {"refresh": login["refresh"]}, format="json")
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {refreshed.json()['access']}")
    me = api_client.get("/api/members/me")

    assert refreshed.status_code == 200
    assert me.json()["member_no"] == login["member"]["member_no"]


@pytest.mark.django_db
def test_a_bad_refresh_token_is_401(api_client):
    response = api_client.post("/api/auth/refresh", {"refresh": "nope"}, format="json")

    assert response.status_code == 401
    assert response.json()["code"] == "invalid_refresh_token"


@pytest.mark.django_db
def test_an_expired_refresh_token_is_401(api_client):
    member = MemberFactory()
    with time_machine.travel(datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC), tick=False):
        refresh = str(RefreshToken.for_user(member))

    with time_machine.travel(datetime.datetime(2026, 2, 5, tzinfo=datetime.UTC), tick=False):
        response = api_client.post("/api/auth/refresh", {"refresh": refresh}, format="json")

    assert response.status_code == 401


@pytest.mark.django_db
def test_disabled_member_login_is_403(api_client):
    MemberFactory(openid="sandbox-openid-gone", is_active=False)

    response = api_client.post("/api/auth/wechat/login", {"code": "gone"}, format="json")

    assert response.status_code == 403
    assert response.json()["code"] == "member_disabled"


@pytest.mark.django_db
def test_me_shows_the_member_with_the_phone_masked(api_client):
    member = MemberFactory(phone="13800138000", nickname="小王")
    member.tags.add(TagFactory(slug="vip", name="VIP"))

    body = shopper(api_client, member).get("/api/members/me").json()

    assert body["phone"] == "138****8000"
    assert body["nickname"] == "小王"
    assert body["tags"] == [{"slug": "vip", "name": "VIP"}]
    assert "openid" not in body


@pytest.mark.django_db
def test_me_without_a_token_is_401(api_client):
    response = api_client.get("/api/members/me")

    assert response.status_code == 401
    assert set(response.json()) == {"code", "detail"}


@pytest.mark.django_db
def test_checking_a_token_needs_no_query(api_client, django_assert_num_queries):
    member = MemberFactory()
    shopper(api_client, member)

    with django_assert_num_queries(0):
        response = api_client.get("/api/members/me/code")

    assert response.status_code == 200


@pytest.mark.django_db
def test_patch_me_changes_the_profile(api_client):
    member = MemberFactory()

    response = shopper(api_client, member).patch(
        "/api/members/me",
        {"nickname": "新名字", "gender": "F", "birth_date": "1990-05-01"},
        format="json",
    )

    assert response.status_code == 200
    member.refresh_from_db()
    assert (member.nickname, member.gender, str(member.birth_date)) == ("新名字", "F", "1990-05-01")


@pytest.mark.parametrize(
    "payload",
    [
        {"member_no": "880000000001"},
        {"phone": "13800138000"},
        {"points": 1000},
        {"favourite_colour": "red"},
        {"nickname": "x" * 33},
        {"gender": "X"},
        {"birth_date": "2999-01-01"},
        {"avatar_url": "not a url"},
    ],
)
@pytest.mark.django_db
def test_patch_me_refuses_read_only_unknown_or_bad_fields(api_client, payload):
    member = MemberFactory(nickname="before")

    response = shopper(api_client, member).patch("/api/members/me", payload, format="json")

    assert response.status_code == 400
    assert response.json()["code"] == "invalid"
    member.refresh_from_db()
    assert member.nickname == "before"
    assert member.points == 0


@pytest.mark.django_db
def test_bind_phone_answers_the_member_with_the_phone_masked(api_client):
    member = MemberFactory()

    response = shopper(api_client, member).post(
        "/api/members/me/phone", {"code": "phone-13800138000"}, format="json"
    )

    assert response.status_code == 200
    assert response.json()["phone"] == "138****8000"


@pytest.mark.django_db
def test_while_the_sign_in_breaker_is_open_binding_a_phone_answers_503_at_once(
    api_client, wechat_sandbox, settings
):
    # given: code2session failed twice in a row, with a threshold of two
    settings.WECHAT_BREAKER_FAILURES = 2
    wechat_sandbox.fault("http_500", count=2, path="/sns/jscode2session")
    for code in ("amy", "ben"):
        api_client.post("/api/auth/wechat/login", {"code": code}, format="json")
    member = MemberFactory()
    # when
    response = shopper(api_client, member).post(
        "/api/members/me/phone", {"code": "phone-13800138000"}, format="json"
    )
    # then
    assert (response.status_code, response.json()["code"]) == (503, "wechat_unavailable")
    assert wechat_sandbox.calls("/wxa/business/getuserphonenumber") == 0
    member.refresh_from_db()
    assert member.phone is None


@pytest.mark.django_db
def test_bind_a_phone_someone_else_holds_is_409(api_client):
    MemberFactory(phone="13800138000")
    member = MemberFactory()

    response = shopper(api_client, member).post(
        "/api/members/me/phone", {"code": "phone-13800138000"}, format="json"
    )

    assert response.status_code == 409
    assert response.json()["code"] == "phone_taken"


@pytest.mark.django_db
def test_member_code_identifies_the_member_at_the_till(api_client):
    store = StoreFactory()
    member = MemberFactory(phone="13800138000", level="gold")
    code = shopper(api_client, member).get("/api/members/me/code").json()

    response = cashier(api_client, store).post(
        "/api/pos/members/identify", {"code": code["code"]}, format="json"
    )

    assert 60 < code["expires_in"] <= 120
    assert response.status_code == 200
    assert response.json() == {
        "member_no": member.member_no,
        "nickname": member.nickname,
        "phone": "138****8000",
        "level": "gold",
        "points": 0,
        "tags": [],
    }


@pytest.mark.django_db
def test_a_tampered_member_code_is_invalid(api_client):
    member = MemberFactory()
    code = member_code_issue(member_id=member.pk).code
    tampered = code[:-1] + ("A" if code[-1] != "A" else "B")

    response = cashier(api_client, StoreFactory()).post(
        "/api/pos/members/identify", {"code": tampered}, format="json"
    )

    assert response.status_code == 400
    assert response.json()["code"] == "invalid_code"


@pytest.mark.django_db
def test_an_old_member_code_is_expired(api_client):
    member = MemberFactory()
    with time_machine.travel(
        datetime.datetime(2026, 12, 1, 10, 0, tzinfo=datetime.UTC), tick=False
    ):
        code = member_code_issue(member_id=member.pk).code
    store = StoreFactory()

    with time_machine.travel(
        datetime.datetime(2026, 12, 1, 10, 2, tzinfo=datetime.UTC), tick=False
    ):
        client = cashier(api_client, store)
        response = client.post("/api/pos/members/identify", {"code": code}, format="json")

    assert response.status_code == 400
    assert response.json()["code"] == "code_expired"


@pytest.mark.django_db
def test_a_typed_member_number_identifies_and_a_typo_is_invalid_code(api_client):
    member = MemberFactory()
    client = cashier(api_client, StoreFactory())
    digit = member.member_no[5]
    typo = member.member_no[:5] + str((int(digit) + 1) % 10) + member.member_no[6:]

    found = client.post("/api/pos/members/identify", {"code": member.member_no}, format="json")
    mistyped = client.post("/api/pos/members/identify", {"code": typo}, format="json")

    assert found.json()["member_no"] == member.member_no
    assert mistyped.status_code == 400
    assert mistyped.json()["code"] == "invalid_code"


@pytest.mark.django_db
def test_shopper_token_is_refused_at_the_pos_and_pos_token_at_shopper_endpoints(api_client):
    member = MemberFactory()
    store = StoreFactory()

    at_pos = shopper(api_client, member).post(
        "/api/pos/members/identify", {"code": "x"}, format="json"
    )
    at_shop = cashier(api_client, store).get("/api/members/me")

    assert at_pos.status_code in (401, 403)
    assert at_shop.status_code in (401, 403)


@pytest.mark.django_db
def test_binding_the_phone_of_a_legacy_card_takes_it_over_and_the_pos_finds_every_number(
    api_client,
):
    from tests.factories import LegacyCardFactory

    card = LegacyCardFactory(card_no="660000000001", phone="13800138000", level="gold", points=1200)
    login = api_client.post("/api/auth/wechat/login", {"code": "old-card"}, format="json").json()
    generated_no = login["member"]["member_no"]
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {login['access']}")

    bound = api_client.post("/api/members/me/phone", {"code": "phone-13800138000"}, format="json")

    assert bound.status_code == 200
    assert bound.json()["member_no"] == card.card_no
    assert bound.json()["points"] == 1200
    assert "level-gold" in [tag["slug"] for tag in bound.json()["tags"]]
    pos = cashier(api_client, StoreFactory())
    for number in (card.card_no, generated_no):
        found = pos.post("/api/pos/members/identify", {"code": number}, format="json")
        assert found.status_code == 200, number
        assert found.json()["member_no"] == card.card_no


@pytest.mark.django_db
def test_an_unclaimed_legacy_card_at_the_till_says_so(api_client):
    from tests.factories import LegacyCardFactory

    card = LegacyCardFactory(card_no="660000000099")

    response = cashier(api_client, StoreFactory()).post(
        "/api/pos/members/identify", {"code": card.card_no}, format="json"
    )

    assert response.status_code == 404
    assert response.json()["code"] == "card_not_claimed"


@pytest.mark.django_db
def test_the_longest_accepted_login_code_logs_in_and_a_longer_one_is_400(api_client):
    longest = api_client.post("/api/auth/wechat/login", {"code": "x" * 64}, format="json")
    too_long = api_client.post("/api/auth/wechat/login", {"code": "x" * 65}, format="json")

    assert longest.status_code == 200
    assert too_long.status_code == 400
    assert too_long.json()["code"] == "invalid"


@pytest.mark.django_db
def test_schema_is_served_whatever_token_the_client_sends(api_client):
    api_client.credentials(HTTP_AUTHORIZATION="Bearer not-a-token")

    assert api_client.get("/api/schema/").status_code == 200
