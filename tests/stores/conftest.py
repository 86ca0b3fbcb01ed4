import pytest
from django.core.cache import cache

from tests.factories import StaffProfileFactory, StoreFactory, UserFactory


@pytest.fixture(autouse=True)
def _empty_cache():
    """Sign-in failure counters live in the cache; every test starts with none."""
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def store(db):
    return StoreFactory(code="S001", name="Futian")


@pytest.fixture
def other_store(db):
    return StoreFactory(code="S002", name="Nanshan", latitude=22.5173, longitude=113.936)


@pytest.fixture
def cashier(store):
    return StaffProfileFactory(user=UserFactory(username="cashier1"), store=store).user


@pytest.fixture
def manager(store):
    user = UserFactory(username="manager1", is_staff=True)
    StaffProfileFactory(user=user, role="store_manager", store=store)
    return user


@pytest.fixture
def marketer(db):
    user = UserFactory(username="marketer1", is_staff=True)
    StaffProfileFactory(user=user, role="marketer", store=None)
    return user
