"""Settings, read from the environment (see README.md and .env.example).

Development defaults run with nothing installed: SQLite, an in-process cache, Celery in
eager mode and the local WeChat sandbox. Production values come only from the environment.
"""

from datetime import timedelta
from pathlib import Path

import environ
from celery.schedules import crontab
from django.utils.translation import gettext_noop

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

DEBUG = env.bool("DJANGO_DEBUG", default=True)

if DEBUG:
    SECRET_KEY = env.str(
        "SECRET_KEY", default="dev-only-insecure-key-change-me-in-production-0123456789"
    )
else:
    SECRET_KEY = env.str("SECRET_KEY")

ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "[::1]", "testserver"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_celery_beat",
    "backend",
    "members",
    "stores",
    "coupons",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "backend.urls"
WSGI_APPLICATION = "backend.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "backend" / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# --- Database -------------------------------------------------------------------------------
# SQLite is the embedded default. WAL lets readers run beside a writer; IMMEDIATE transactions
# take the write lock up front so that concurrent writers queue (busy timeout) instead of
# failing half-way with "database is locked".
DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}")}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"]["OPTIONS"] = {
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
else:
    DATABASES["default"]["CONN_MAX_AGE"] = env.int("DATABASE_CONN_MAX_AGE", default=600)
    # A health check costs a round trip on every request. Off by default: a connection broken
    # by a database restart fails one request and is then replaced.
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = env.bool(
        "DATABASE_CONN_HEALTH_CHECKS", default=False
    )

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Cache and Redis --------------------------------------------------------------------------
REDIS_URL = env.str("REDIS_URL", default="")
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": REDIS_URL,
            "OPTIONS": {"CLIENT_CLASS": "django_redis.client.DefaultClient"},
            "KEY_PREFIX": "retail",
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# --- Celery -----------------------------------------------------------------------------------
# Without a broker, tasks run eagerly in the calling process (the embedded default).
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default="")
CELERY_TASK_ALWAYS_EAGER = not CELERY_BROKER_URL
# Lets two deployments (or a test run, or the soak) share one broker without taking each
# other's tasks.
CELERY_TASK_DEFAULT_QUEUE = env.str("CELERY_TASK_DEFAULT_QUEUE", default="celery")
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_TIME_LIMIT = 300
CELERY_TASK_SOFT_TIME_LIMIT = 240
CELERY_BROKER_CONNECTION_TIMEOUT = 3
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TASK_PUBLISH_RETRY_POLICY = {"max_retries": 2, "interval_start": 0, "interval_step": 0.5}
CELERY_TASK_IGNORE_RESULT = True
CELERY_TIMEZONE = "Asia/Shanghai"
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
# Periodic tasks, all in one place. `make beat` runs them (django-celery-beat copies these
# entries into its tables at start; admins may pause one in the admin).
CELERY_BEAT_SCHEDULE = {
    # Sends what is still pending: notifications whose Celery message was never published
    # (broker down at the time) or lost, and closes sends whose worker died mid-call.
    "notifications-dispatch-pending": {
        "task": "members.tasks.notification_dispatch_pending_task",
        "schedule": 60.0,
        "options": {"expires": 55},
    },
    # One digest a day per member whose unused coupons expire within 3 days; 10:00 in the
    # business time zone (CELERY_TIMEZONE), when shoppers can still go to a store that day.
    "notifications-coupons-expiring-digest": {
        "task": "members.tasks.coupons_expiring_digest_task",
        "schedule": crontab(hour=10, minute=0),
        "options": {"expires": 3 * 3600},
    },
    # Unpaid flash orders past their payment window give their stock back even when their
    # countdown task was lost (broker down at grab time, worker restarted); pending refunds of
    # late payments are resent until WeChat Pay accepts them.
    "flash-order-sweep": {
        "task": "coupons.tasks.flash_order_sweep_task",
        "schedule": 60.0,
    },
    # Tag rules (new member, bought at store, near store, dormant) drift by the day: re-evaluate
    # them at night, after the day's redemptions and before marketing targets the tags.
    "tag-rules-evaluate": {
        "task": "members.tasks.tag_rules_evaluate_task",
        "schedule": crontab(hour=3, minute=0),
    },
    # Members who asked to be reminded hear about a deal within its last 5 minutes before the
    # start; every minute so that nobody hears later than 4 minutes before it.
    "deal-start-reminders": {
        "task": "coupons.tasks.deal_start_reminders_task",
        "schedule": 60.0,
        "options": {"expires": 55},
    },
}

# --- WeChat -----------------------------------------------------------------------------------
WECHAT_SANDBOX_PORT = env.int("WECHAT_SANDBOX_PORT", default=8765)
WECHAT_API_ROOT = env.str(
    "WECHAT_API_ROOT",
    default=f"http://127.0.0.1:{WECHAT_SANDBOX_PORT}/" if DEBUG else "https://api.weixin.qq.com/",
)
if not WECHAT_API_ROOT.endswith("/"):
    WECHAT_API_ROOT += "/"
WECHAT_APPID = env.str("WECHAT_APPID", default="wx-sandbox-appid" if DEBUG else None)
WECHAT_SECRET = env.str("WECHAT_SECRET", default="sandbox-secret" if DEBUG else None)
WECHAT_TIMEOUT_SECONDS = env.float("WECHAT_TIMEOUT_SECONDS", default=3.0)
# After this many sign-in calls, or WeChat Pay unified orders, in a row failed for lack of
# WeChat, each process answers them 503 wechat_unavailable at once for WECHAT_BREAKER_SECONDS
# instead of holding a web worker for the timeout of each; 0 turns the breakers off.
WECHAT_BREAKER_FAILURES = env.int("WECHAT_BREAKER_FAILURES", default=5)
WECHAT_BREAKER_SECONDS = env.float("WECHAT_BREAKER_SECONDS", default=5.0)
# Which version of the mini-program a subscribe message opens: developer, trial or formal.
WECHAT_MINIPROGRAM_STATE = env.str(
    "WECHAT_MINIPROGRAM_STATE", default="developer" if DEBUG else "formal"
)

# --- Authentication ---------------------------------------------------------------------------
SIMPLE_JWT = {
    "ACCESS_TOKEN_LIFETIME": timedelta(hours=2),
    "REFRESH_TOKEN_LIFETIME": timedelta(days=30),
    "USER_ID_FIELD": "id",
    "USER_ID_CLAIM": "member_id",
    "SIGNING_KEY": SECRET_KEY,
    "UPDATE_LAST_LOGIN": False,
}
POS_TOKEN_LIFETIME = timedelta(hours=env.int("POS_TOKEN_LIFETIME_HOURS", default=12))
# Behind a reverse proxy every request comes from the proxy's address: name the header the
# proxy sets to the client's address (for example X-Real-IP), so that the POS sign-in throttle
# counts failures per till, not for everyone at once. Empty: use the connection's address.
TRUSTED_CLIENT_IP_HEADER = env.str("TRUSTED_CLIENT_IP_HEADER", default="")

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["members.authentication.MemberJWTAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["members.authentication.IsMember"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "DEFAULT_SCHEMA_CLASS": "backend.schema.AutoSchema",
    "DEFAULT_PAGINATION_CLASS": "backend.pagination.LimitOffsetPagination",
    "EXCEPTION_HANDLER": "backend.exception_handler.api_exception_handler",
    "UNAUTHENTICATED_USER": None,
    "DEFAULT_THROTTLE_RATES": {"pos_login": "5/min"},
}

SPECTACULAR_SETTINGS = {
    "TITLE": "Smart retail mini-program API",
    "DESCRIPTION": "Members, stores, coupons, flash deals and the POS API.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # The schema and docs are public and must not trip over whatever token a client sends.
    "SERVE_AUTHENTICATION": [],
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "backend.schema.add_error_responses",
    ],
}

# --- Business rules ---------------------------------------------------------------------------
ROTATING_CODE_STEP_SECONDS = 60
ROTATING_CODE_TTL_SECONDS = 120
COUPON_VOID_WINDOW = timedelta(hours=env.int("COUPON_VOID_WINDOW_HOURS", default=24))
FLASH_ORDER_PAYMENT_WINDOW = timedelta(minutes=5)
# How long each process trusts its copy of a deal (start, end, paused) on the grab path.
FLASH_DEAL_CACHE_SECONDS = env.float("FLASH_DEAL_CACHE_SECONDS", default=1.0)
# Unpaid orders are cancelled by one countdown task per deal and batch of this many seconds
# (at most this much, plus a second, after their window closes), not by one task per grab.
FLASH_ORDER_EXPIRY_BATCH_SECONDS = env.float("FLASH_ORDER_EXPIRY_BATCH_SECONDS", default=5.0)
# How long each process keeps the shoppers' campaign list (the member's own counts are always
# read fresh); a claim never reads it.
CAMPAIGN_LIST_CACHE_SECONDS = env.float("CAMPAIGN_LIST_CACHE_SECONDS", default=1.0)

# --- Internationalisation -----------------------------------------------------------------------
LANGUAGE_CODE = "zh-hans"
LANGUAGES = [("zh-hans", "简体中文"), ("en", "English")]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = "Asia/Shanghai"
USE_I18N = True
USE_TZ = True

# --- Static files -----------------------------------------------------------------------------
STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
MEDIA_URL = "media/"
MEDIA_ROOT = env.path("MEDIA_ROOT", default=BASE_DIR / "media")

# --- Security (production) --------------------------------------------------------------------
if not DEBUG:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
    SECURE_REDIRECT_EXEMPT = [r"^api/health$", r"^api/ready$"]
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SECURE_CONTENT_TYPE_NOSNIFF = True

# --- Logging ----------------------------------------------------------------------------------
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "filters": {"skip_503": {"()": "backend.log_filters.SkipServiceUnavailable"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {
        # Expected refusals (sold out, limit reached) are answers, not incidents: Django would
        # log every 4xx here, one line per request during a flash sale. A 503's cause is logged
        # where it happens, so the answer is not logged again (backend.log_filters).
        "django.request": {
            "handlers": ["console"],
            "level": "ERROR",
            "propagate": False,
            "filters": ["skip_503"],
        },
    },
}

# --- WeChat Pay (API v2) ----------------------------------------------------------------------
WECHAT_PAY_MCH_ID = env.str("WECHAT_PAY_MCH_ID", default="1900000109" if DEBUG else None)
WECHAT_PAY_API_KEY = env.str(
    "WECHAT_PAY_API_KEY", default="sandbox-pay-api-key-0123456789abcd" if DEBUG else None
)
# The merchant's API certificate and key (PEM files), needed by WeChat Pay for refunds.
WECHAT_PAY_MCH_CERT = env.str("WECHAT_PAY_MCH_CERT", default="") or None
WECHAT_PAY_MCH_KEY = env.str("WECHAT_PAY_MCH_KEY", default="") or None
# The public URL WeChat Pay calls back; in development the sandbox calls the local server.
WECHAT_PAY_NOTIFY_URL = env.str(
    "WECHAT_PAY_NOTIFY_URL",
    default="http://127.0.0.1:8000/api/payments/wechat/notify" if DEBUG else None,
)

# --- Notifications (WeChat subscribe messages) --------------------------------------------------
# One entry per event (members.models.NotificationEvent). For each:
#   template_id  the subscribe-message template chosen in the mini-program's admin console
#                (env NOTIFY_TEMPLATE_<EVENT>); an empty id turns the event off;
#   title        what the mini-program shows next to the template (translated);
#   page         the mini-program page the message opens, formatted with the payload;
#   data         template field → format string over the payload. Payload keys ending in
#                ``_fen`` also exist as ``<name>_yuan`` ("¥12.50"), and keys ending in ``_at``
#                (ISO datetimes) are shown in Asia/Shanghai time ("2025-01-31 18:00"). Values
#                are cut to WeChat's limits by field kind (thing ≤ 20 characters, name ≤ 10,
#                phrase ≤ 5, character_string/number/letter ≤ 32).
# See README.md, "Notifications", for the payload keys each event expects.
NOTIFICATION_TEMPLATES = {
    "coupon_issued": {
        "template_id": env.str("NOTIFY_TEMPLATE_COUPON_ISSUED", default="tmpl-coupon-issued"),
        "title": gettext_noop("A coupon for you"),
        "page": "pages/coupons/mine?status=unused",
        "data": {
            "thing1": "{campaign_name}",
            "time2": "{valid_until}",
        },
    },
    "coupon_redeemed": {
        "template_id": env.str("NOTIFY_TEMPLATE_COUPON_REDEEMED", default="tmpl-coupon-redeemed"),
        "title": gettext_noop("Coupon used"),
        "page": "pages/coupons/mine?status=used",
        "data": {
            "thing1": "{campaign_name}",
            "thing2": "{store_name}",
            "amount3": "{discount_yuan}",
            "time4": "{redeemed_at}",
        },
    },
    "coupons_expiring": {
        "template_id": env.str("NOTIFY_TEMPLATE_COUPONS_EXPIRING", default="tmpl-coupons-expiring"),
        "title": gettext_noop("Coupons about to expire"),
        "page": "pages/coupons/mine?status=unused",
        "data": {
            "thing1": "{campaign_name}",
            "number2": "{count}",
            "time3": "{expires_at}",
        },
    },
    "deal_starting": {
        "template_id": env.str("NOTIFY_TEMPLATE_DEAL_STARTING", default="tmpl-deal-starting"),
        "title": gettext_noop("Flash deal starting"),
        "page": "pages/deals/detail?id={deal_id}",
        "data": {
            "thing1": "{deal_title}",
            "amount2": "{price_yuan}",
            "time3": "{starts_at}",
        },
    },
    "deal_order_paid": {
        "template_id": env.str("NOTIFY_TEMPLATE_DEAL_ORDER_PAID", default="tmpl-deal-order-paid"),
        "title": gettext_noop("Flash deal voucher issued"),
        "page": "pages/deals/order?order_no={order_no}",
        "data": {
            "character_string1": "{order_no}",
            "thing2": "{deal_title}",
            "amount3": "{paid_yuan}",
            "time4": "{paid_at}",
        },
    },
    "deal_order_cancelled": {
        "template_id": env.str(
            "NOTIFY_TEMPLATE_DEAL_ORDER_CANCELLED", default="tmpl-deal-order-cancelled"
        ),
        "title": gettext_noop("Flash order cancelled"),
        "page": "pages/deals/order?order_no={order_no}",
        "data": {
            "character_string1": "{order_no}",
            "thing2": "{deal_title}",
            "thing3": gettext_noop("Not paid in time"),
            "time4": "{cancelled_at}",
        },
    },
    "cross_sell": {
        "template_id": env.str("NOTIFY_TEMPLATE_CROSS_SELL", default=""),
        "title": gettext_noop("Offers for you"),
        "page": "pages/coupons/index",
        "data": {"thing1": "{title}", "thing2": "{note}"},
    },
}
# A send attempt that meets a timeout, a 5xx or WeChat's rate limit (45011) is retried with
# exponential backoff and jitter, up to this many attempts in all; then the notification fails.
NOTIFICATION_MAX_ATTEMPTS = env.int("NOTIFICATION_MAX_ATTEMPTS", default=5)
NOTIFICATION_RETRY_BACKOFF_SECONDS = env.int("NOTIFICATION_RETRY_BACKOFF_SECONDS", default=10)
NOTIFICATION_RETRY_BACKOFF_MAX_SECONDS = env.int(
    "NOTIFICATION_RETRY_BACKOFF_MAX_SECONDS", default=600
)
# A notification claimed by a worker longer ago than this was abandoned by a dead worker: it is
# longer than the send task's hard time limit, so no live worker can still hold it.
NOTIFICATION_SENDING_TIMEOUT_SECONDS = env.int("NOTIFICATION_SENDING_TIMEOUT_SECONDS", default=120)
# The dispatcher sends pending notifications this long after they were due: their own Celery
# message normally arrives well before.
NOTIFICATION_DISPATCH_GRACE_SECONDS = env.int("NOTIFICATION_DISPATCH_GRACE_SECONDS", default=30)
