"""Login, tokens, profile and phone binding, through the real WeChat client and sandbox."""

import threading

import pytest
from django.db import connection

from backend.exceptions import WeChatInvalidCodeError, WeChatUnavailableError
from members.exceptions import InvalidRefreshTokenError, MemberDisabledError, PhoneTakenError
from members.models import Member
from members.selectors.accounts import member_profile_get
from members.services.accounts import (
    member_login_with_wechat,
    member_phone_bind,
    member_set_active,
    member_token_refresh,
)
from tests.factories import MemberFactory, TagFactory
from tests.markers import requires_postgresql


@pytest.mark.django_db
def test_first_login_creates_the_member_with_a_member_number():
    login = member_login_with_wechat(code="alice")

    assert login.is_new
    assert login.member.openid == "sandbox-openid-alice"
    assert login.member.member_no.startswith("88")
    assert login.access and login.refresh


@pytest.mark.django_db
def test_second_login_finds_the_same_member():
    first = member_login_with_wechat(code="bob")
    second = member_login_with_wechat(code="bob")

    assert not second.is_new
    assert second.member.pk == first.member.pk
    assert Member.objects.count() == 1


@pytest.mark.django_db
def test_login_records_the_unionid_when_wechat_sends_one():
    login = member_login_with_wechat(code="unionid-carol")

    assert login.member.unionid == "sandbox-unionid-unionid-carol"


@pytest.mark.django_db
def test_invalid_login_code_creates_nothing():
    with pytest.raises(WeChatInvalidCodeError):
        member_login_with_wechat(code="bad-code")

    assert Member.objects.count() == 0


@pytest.mark.django_db
def test_login_while_wechat_is_down_is_unavailable(wechat_sandbox):
    wechat_sandbox.fault("drop", count=5)

    with pytest.raises(WeChatUnavailableError):
        member_login_with_wechat(code="dave")


@pytest.mark.django_db
def test_disabled_member_cannot_log_in_or_refresh():
    login = member_login_with_wechat(code="erin")
    member_set_active(member=login.member, is_active=False)

    with pytest.raises(MemberDisabledError):
        member_login_with_wechat(code="erin")
    with pytest.raises(MemberDisabledError):
        member_token_refresh(refresh=login.refresh)


@pytest.mark.django_db
def test_refresh_gives_a_new_access_token_and_refuses_garbage():
    login = member_login_with_wechat(code="frank")

    assert member_token_refresh(refresh=login.refresh)
    with pytest.raises(InvalidRefreshTokenError):
        member_token_refresh(refresh="not-a-token")
    with pytest.raises(InvalidRefreshTokenError):
        member_token_refresh(refresh=login.access)  # an access token is not a refresh token


@pytest.mark.django_db
def test_phone_binding_stores_the_number_from_wechat():
    member = MemberFactory()

    member = member_phone_bind(member_id=member.pk, code="phone-13800138000")

    assert member.phone == "13800138000"
    assert member.phone_bound_at is not None


@pytest.mark.django_db
def test_binding_the_same_phone_again_is_a_no_op():
    member = MemberFactory()
    first = member_phone_bind(member_id=member.pk, code="phone-13800138000")

    again = member_phone_bind(member_id=member.pk, code="phone-13800138000")

    assert again.phone_bound_at == first.phone_bound_at


@pytest.mark.django_db
def test_a_phone_bound_to_another_member_is_taken():
    owner = MemberFactory(phone="13800138000")
    other = MemberFactory()

    with pytest.raises(PhoneTakenError):
        member_phone_bind(member_id=other.pk, code="phone-13800138000")

    other.refresh_from_db()
    assert other.phone is None
    assert Member.objects.get(pk=owner.pk).phone == "13800138000"


@pytest.mark.django_db
def test_invalid_phone_code_is_refused():
    member = MemberFactory()

    with pytest.raises(WeChatInvalidCodeError):
        member_phone_bind(member_id=member.pk, code="not-a-phone-code")


@requires_postgresql
@pytest.mark.django_db(transaction=True)
def test_two_racing_first_logins_create_exactly_one_member():
    barrier = threading.Barrier(2)
    results, errors = [], []

    def log_in():
        try:
            barrier.wait()
            results.append(member_login_with_wechat(code="racer"))
        except Exception as error:  # pragma: no cover - reported below
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=log_in) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    assert Member.objects.filter(openid="sandbox-openid-racer").count() == 1
    assert {result.member.pk for result in results} == {Member.objects.get().pk}


@requires_postgresql
@pytest.mark.django_db(transaction=True)
def test_two_members_racing_for_one_phone_one_wins():
    members = [MemberFactory(), MemberFactory()]
    barrier = threading.Barrier(2)
    outcomes = []

    def bind(member):
        try:
            barrier.wait()
            member_phone_bind(member_id=member.pk, code="phone-13900139000")
            outcomes.append("bound")
        except PhoneTakenError:
            outcomes.append("taken")
        finally:
            connection.close()

    threads = [threading.Thread(target=bind, args=(member,)) for member in members]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(outcomes) == ["bound", "taken"]
    assert Member.objects.filter(phone="13900139000").count() == 1


# --- the profile the member sees ---------------------------------------------------------------


@pytest.mark.django_db
def test_profile_folds_every_tag_into_one_member_in_slug_order(django_assert_num_queries):
    member = MemberFactory(nickname="小王", points=120)
    member.tags.add(TagFactory(slug="vip", name="VIP"), TagFactory(slug="level-gold", name="金卡"))

    with django_assert_num_queries(1):
        profile = member_profile_get(member_id=member.pk)

    assert profile["member_no"] == member.member_no
    assert (profile["nickname"], profile["points"]) == ("小王", 120)
    assert profile["tags"] == [
        {"slug": "level-gold", "name": "金卡"},
        {"slug": "vip", "name": "VIP"},
    ]


@pytest.mark.django_db
def test_profile_of_a_member_without_tags_has_an_empty_list():
    member = MemberFactory()

    assert member_profile_get(member_id=member.pk)["tags"] == []


@pytest.mark.django_db
def test_profile_of_an_unknown_member_is_does_not_exist():
    with pytest.raises(Member.DoesNotExist):
        member_profile_get(member_id=987654321)
