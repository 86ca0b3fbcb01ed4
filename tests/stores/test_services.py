import datetime

import pytest
import time_machine
from django.contrib.auth.models import Group, User
from django.core.management import call_command
from rest_framework_simplejwt.tokens import UntypedToken

from stores import demo
from stores.authentication import PosToken
from stores.exceptions import InvalidCredentialsError, NotStoreStaffError, TooManyAttemptsError
from stores.models import StaffProfile, Store
from stores.permissions import MARKETING_GROUP, STORE_MANAGERS_GROUP, ensure_staff_groups
from stores.services import POS_LOGIN_MAX_FAILURES, pos_session_start, staff_groups_sync


@pytest.mark.django_db
def test_pos_session_carries_the_staff_member_store_and_role(cashier, store):
    now = datetime.datetime(2026, 3, 1, 9, 0, tzinfo=datetime.UTC)
    with time_machine.travel(now, tick=False):
        session = pos_session_start(username="cashier1", password="cashier1", client_ip="1.2.3.4")
        token = PosToken(session.token)

    assert (session.user_id, session.role, session.store) == (cashier.pk, "cashier", store)
    assert session.expires_at == now + datetime.timedelta(hours=12)
    assert (token["staff_user_id"], token["store_id"], token["role"]) == (
        cashier.pk,
        store.pk,
        "cashier",
    )


@pytest.mark.django_db
def test_pos_session_refuses_a_wrong_password(cashier):
    with pytest.raises(InvalidCredentialsError):
        pos_session_start(username="cashier1", password="cashier2", client_ip="1.2.3.4")


@pytest.mark.django_db
def test_pos_session_refuses_a_marketer_without_counting_a_failure(marketer):
    for _ in range(POS_LOGIN_MAX_FAILURES + 1):
        with pytest.raises(NotStoreStaffError):
            pos_session_start(username="marketer1", password="marketer1", client_ip="1.2.3.4")


@pytest.mark.django_db
def test_pos_session_refuses_further_attempts_after_too_many_failures(cashier):
    for _ in range(POS_LOGIN_MAX_FAILURES):
        with pytest.raises(InvalidCredentialsError):
            pos_session_start(username="cashier1", password="bad", client_ip="1.2.3.4")

    with pytest.raises(TooManyAttemptsError):
        pos_session_start(username="cashier1", password="cashier1", client_ip="5.6.7.8")


@pytest.mark.django_db
def test_pos_token_is_not_a_shopper_token(cashier, store):
    session = pos_session_start(username="cashier1", password="cashier1", client_ip="1.2.3.4")

    assert UntypedToken(session.token)["token_type"] == "pos"


@pytest.mark.django_db
def test_staff_groups_have_exactly_the_listed_permissions():
    groups = ensure_staff_groups()

    def codenames(name):
        return set(groups[name].permissions.values_list("content_type__app_label", "codename"))

    assert codenames(MARKETING_GROUP) == {
        ("coupons", "add_campaign"),
        ("coupons", "change_campaign"),
        ("coupons", "view_campaign"),
        ("coupons", "view_coupon"),
        ("coupons", "view_redemption"),
        ("stores", "view_store"),
        ("members", "view_tag"),
        ("members", "view_member"),
    }
    assert codenames(STORE_MANAGERS_GROUP) == {
        ("coupons", "view_campaign"),
        ("coupons", "view_coupon"),
        ("coupons", "view_redemption"),
        ("stores", "view_store"),
    }


@pytest.mark.django_db
def test_ensure_staff_groups_is_idempotent_and_repairs_changes():
    groups = ensure_staff_groups()
    groups[MARKETING_GROUP].permissions.clear()

    ensure_staff_groups()
    ensure_staff_groups()

    assert Group.objects.filter(name__in=[MARKETING_GROUP, STORE_MANAGERS_GROUP]).count() == 2
    assert Group.objects.get(name=MARKETING_GROUP).permissions.count() == 8


@pytest.mark.django_db
def test_staff_groups_follow_the_role(manager):
    staff_groups_sync(user=manager)
    assert list(manager.groups.values_list("name", flat=True)) == [STORE_MANAGERS_GROUP]

    StaffProfile.objects.filter(user=manager).update(role="marketer", store=None)
    staff_groups_sync(user=manager)

    assert list(manager.groups.values_list("name", flat=True)) == [MARKETING_GROUP]


@pytest.mark.django_db
def test_staff_groups_leave_users_without_profile_alone():
    ensure_staff_groups()
    user = User.objects.create_user("analyst")
    user.groups.add(Group.objects.get(name=MARKETING_GROUP))

    staff_groups_sync(user=user)

    assert list(user.groups.values_list("name", flat=True)) == [MARKETING_GROUP]


def _snapshot():
    return (
        sorted(Store.objects.values_list()),
        sorted(
            User.objects.values_list(
                "username", "password", "is_staff", "is_superuser", "is_active"
            )
        ),
        sorted(StaffProfile.objects.values_list("user__username", "role", "store__code")),
        sorted(Group.objects.values_list("name", "user__username")),
        sorted(Group.objects.values_list("name", "permissions__codename")),
    )


@pytest.mark.django_db
def test_demo_seed_is_idempotent():
    demo.seed()
    first = _snapshot()

    demo.seed()

    assert _snapshot() == first


@pytest.mark.django_db
def test_demo_seed_creates_the_demo_accounts():
    demo.seed()

    assert Store.objects.filter(code__in=[f"S{n:03d}" for n in range(1, 9)]).count() == 8
    admin = User.objects.get(username="admin")
    assert admin.is_superuser and admin.check_password("admin")
    expected = {
        "cashier1": ("cashier", "S001", False),
        "manager1": ("store_manager", "S001", True),
        "cashier2": ("cashier", "S002", False),
        "marketer1": ("marketer", None, True),
    }
    for username, (role, store_code, is_staff) in expected.items():
        user = User.objects.get(username=username)
        assert user.check_password(username)
        assert user.is_staff is is_staff
        assert (user.staff_profile.role, getattr(user.staff_profile.store, "code", None)) == (
            role,
            store_code,
        )
    assert User.objects.get(username="marketer1").groups.get().name == MARKETING_GROUP
    assert User.objects.get(username="manager1").groups.get().name == STORE_MANAGERS_GROUP


@pytest.mark.django_db
def test_demo_seed_keeps_a_changed_password():
    demo.seed()
    cashier = User.objects.get(username="cashier1")
    cashier.set_password("changed-at-the-till")
    cashier.save()

    demo.seed()

    assert User.objects.get(username="cashier1").check_password("changed-at-the-till")


@pytest.mark.django_db
def test_seed_demo_command_skips_areas_without_demo_data(capsys):
    call_command("seed_demo")

    out = capsys.readouterr().out
    assert "stores: 10 demo stores (10 new)" in out
    assert "Demo data is in place." in out
    assert Store.objects.count() == 10
