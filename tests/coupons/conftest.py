"""Fixtures for the coupon tests: a store and its cashier, a shopper, clients for both."""

import datetime
import zoneinfo

import pytest
import time_machine
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import RefreshToken

from backend.rotating_codes import rotating_code_issue
from stores.authentication import AuthenticatedStaff, pos_token_for
from tests.factories import MemberFactory, StaffProfileFactory, StoreFactory

SHANGHAI = zoneinfo.ZoneInfo("Asia/Shanghai")
# A Tuesday morning in the business time zone; every windowed test runs with the clock here.
T0 = datetime.datetime(2026, 12, 1, 10, 0, tzinfo=SHANGHAI)


@pytest.fixture
def frozen():
    with time_machine.travel(T0, tick=False) as traveller:
        yield traveller


@pytest.fixture
def store(db):
    return StoreFactory(code="S100")


@pytest.fixture
def other_store(db):
    return StoreFactory(code="S200")


@pytest.fixture
def cashier(store):
    return StaffProfileFactory(store=store)


def staff_of(profile) -> AuthenticatedStaff:
    return AuthenticatedStaff(id=profile.user_id, store_id=profile.store_id, role=profile.role)


@pytest.fixture
def staff(cashier):
    return staff_of(cashier)


def pos_client_for(profile) -> APIClient:
    client = APIClient()
    token = pos_token_for(user_id=profile.user_id, store_id=profile.store_id, role=profile.role)
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client


@pytest.fixture
def pos_client(cashier):
    return pos_client_for(cashier)


@pytest.fixture
def member(db):
    return MemberFactory()


def member_client_for(member) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {RefreshToken.for_user(member).access_token}")
    return client


@pytest.fixture
def member_client(member):
    return member_client_for(member)


def code_for(coupon) -> str:
    return rotating_code_issue(kind="C", object_id=coupon.pk).code
