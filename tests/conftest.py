"""Fixtures shared by every test. App-specific fixtures live in tests/<app>/conftest.py."""

import pytest
from rest_framework.test import APIClient

pytest_plugins = ["tests.coupons.deal_fixtures"]


@pytest.fixture
def api_client():
    return APIClient()
