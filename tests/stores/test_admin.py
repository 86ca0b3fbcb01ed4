import pytest
from django.contrib import admin
from django.test import RequestFactory

from coupons.models import Campaign
from stores.admin import StoreScopedAdminMixin
from stores.permissions import ensure_staff_groups
from stores.services import staff_groups_sync
from tests.factories import CampaignFactory, UserFactory


@pytest.fixture
def groups(db):
    return ensure_staff_groups()


@pytest.fixture
def manager_client(client, manager, groups):
    staff_groups_sync(user=manager)
    client.force_login(manager)
    return client


@pytest.fixture
def marketer_client(client, marketer, groups):
    staff_groups_sync(user=marketer)
    client.force_login(marketer)
    return client


@pytest.mark.django_db
def test_store_manager_sees_only_their_store(manager_client, store, other_store):
    response = manager_client.get("/admin/stores/store/")

    assert response.status_code == 200
    assert list(response.context["cl"].result_list) == [store]


@pytest.mark.django_db
def test_store_manager_cannot_open_another_store(manager_client, store, other_store):
    own = manager_client.get(f"/admin/stores/store/{store.pk}/change/")
    other = manager_client.get(f"/admin/stores/store/{other_store.pk}/change/")

    assert own.status_code == 200
    # Django admin redirects to the index with a "does not exist" message.
    assert other.status_code == 302


@pytest.mark.django_db
def test_store_manager_cannot_change_stores_or_see_users(manager_client, store):
    assert manager_client.get("/admin/stores/store/add/").status_code == 403
    assert manager_client.get("/admin/auth/user/").status_code == 403


@pytest.mark.django_db
def test_marketer_sees_every_store_but_not_users(marketer_client, store, other_store):
    stores = marketer_client.get("/admin/stores/store/")

    assert list(stores.context["cl"].result_list) == [store, other_store]
    assert marketer_client.get("/admin/auth/user/").status_code == 403
    assert marketer_client.get("/admin/auth/group/").status_code == 403


@pytest.mark.django_db
def test_marketer_admin_index_lists_only_their_areas(marketer_client):
    response = marketer_client.get("/admin/")

    app_labels = {app["app_label"] for app in response.context["app_list"]}
    assert "auth" not in app_labels
    assert "django_celery_beat" not in app_labels


@pytest.mark.django_db
def test_superuser_sees_every_store(admin_client, store, other_store):
    response = admin_client.get("/admin/stores/store/")

    assert list(response.context["cl"].result_list) == [store, other_store]


@pytest.mark.django_db
def test_store_admin_searches_code_name_and_address(admin_client, store, other_store):
    response = admin_client.get("/admin/stores/store/", {"q": "Nanshan"})

    assert list(response.context["cl"].result_list) == [other_store]


@pytest.mark.django_db
def test_cashier_cannot_log_into_admin(client, cashier):
    response = client.post(
        "/admin/login/?next=/admin/", {"username": "cashier1", "password": "cashier1"}
    )

    assert response.status_code == 200  # the form again, with an error
    assert not response.wsgi_request.user.is_authenticated
    client.force_login(cashier)
    assert client.get("/admin/").status_code == 302


@pytest.mark.django_db
def test_user_admin_shows_role_and_store(admin_client, cashier):
    response = admin_client.get("/admin/auth/user/")

    content = response.content.decode()
    assert response.status_code == 200
    assert "S001" in content


@pytest.mark.django_db
def test_user_admin_edit_page_has_the_staff_inline(admin_client, cashier):
    response = admin_client.get(f"/admin/auth/user/{cashier.pk}/change/")

    assert response.status_code == 200
    assert "staff_profile-0-role" in response.content.decode()


class _CampaignByStoreAdmin(StoreScopedAdminMixin, admin.ModelAdmin):
    store_field = "stores"


@pytest.mark.django_db
def test_scoped_admin_mixin_filters_through_a_relation(manager, store, other_store):
    # given campaigns for the manager's store, another store and both
    own = CampaignFactory(name="own", all_stores=False)
    own.stores.set([store])
    other = CampaignFactory(name="other", all_stores=False)
    other.stores.set([other_store])
    both = CampaignFactory(name="both", all_stores=False)
    both.stores.set([store, other_store])
    request = RequestFactory().get("/admin/")
    request.user = manager

    # when
    queryset = _CampaignByStoreAdmin(Campaign, admin.site).get_queryset(request)

    # then each shows once
    assert sorted(campaign.name for campaign in queryset) == ["both", "own"]


@pytest.mark.django_db
def test_scoped_admin_mixin_does_not_confine_a_superuser(store, other_store):
    CampaignFactory(all_stores=False).stores.set([other_store])
    request = RequestFactory().get("/admin/")
    request.user = UserFactory(username="root", is_staff=True, is_superuser=True)

    queryset = _CampaignByStoreAdmin(Campaign, admin.site).get_queryset(request)

    assert queryset.count() == 1


@pytest.mark.django_db
def test_making_a_user_store_manager_in_admin_puts_them_in_the_managers_group(
    admin_client, store, groups
):
    # given a plain user
    user = UserFactory(username="newmanager")

    # when an admin gives them the store manager role in the user admin
    response = admin_client.post(
        f"/admin/auth/user/{user.pk}/change/",
        {
            "username": "newmanager",
            "is_active": "on",
            "is_staff": "on",
            "date_joined_0": "2026-01-01",
            "date_joined_1": "09:00:00",
            "staff_profile-TOTAL_FORMS": "1",
            "staff_profile-INITIAL_FORMS": "0",
            "staff_profile-MIN_NUM_FORMS": "0",
            "staff_profile-MAX_NUM_FORMS": "1",
            "staff_profile-0-role": "store_manager",
            "staff_profile-0-store": str(store.pk),
            "staff_profile-0-user": str(user.pk),
        },
    )

    # then
    assert response.status_code == 302, response.context["adminform"].form.errors
    user.refresh_from_db()
    assert (user.staff_profile.role, user.staff_profile.store) == ("store_manager", store)
    assert list(user.groups.values_list("name", flat=True)) == ["Store managers"]
