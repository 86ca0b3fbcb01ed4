"""Skips for tests that need a real server the embedded default does not have."""

import pytest
from django.conf import settings

requires_postgresql = pytest.mark.skipif(
    settings.DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql",
    reason="needs PostgreSQL (set DATABASE_URL); SQLite serialises all writers",
)

requires_redis = pytest.mark.skipif(
    not settings.REDIS_URL,
    reason="needs Redis (set REDIS_URL)",
)
