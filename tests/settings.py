"""Test settings: the project's settings with what tests need overridden.

The database is the embedded SQLite unless DATABASE_URL is set (then PostgreSQL, where the
race tests run). TEST_DATABASE_NAME lets parallel checkouts keep apart on one server.
"""

import os

os.environ.setdefault("DJANGO_DEBUG", "true")

from backend.settings import *  # noqa: F403
from backend.settings import DATABASES, env

if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"]["TEST"] = {"NAME": ""}  # in memory
else:
    DATABASES["default"]["TEST"] = {"NAME": env.str("TEST_DATABASE_NAME", default="test_retail")}

# Tests read the English source strings; tests/backend/test_translation.py checks the Chinese.
LANGUAGE_CODE = "en"
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
CELERY_TASK_ALWAYS_EAGER = True
# The WeChat sandbox is started per test session on a free port (tests/conftest.py).
WECHAT_API_ROOT = "http://127.0.0.1:1/"
WECHAT_TIMEOUT_SECONDS = 1.0
# Each test sees its own campaigns at once; tests/coupons/test_selectors.py turns the cache on.
CAMPAIGN_LIST_CACHE_SECONDS = 0
