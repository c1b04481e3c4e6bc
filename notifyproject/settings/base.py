"""One env-driven settings module (cookiecutter-django style). Over 400 lines on purpose: every setting of the
product in one place, each with the line that says why, is easier to review than settings spread over modules.

Embedded default (no environment): SQLite file, in-memory channel layer, tasks in-process, console email.
Production: DATABASE_URL (PostgreSQL via psycopg 3) and REDIS_URL (channel layer + Celery), see docs/operations.md.
"""

from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent.parent

env = environ.Env()

DEBUG = env.bool("DJANGO_DEBUG", default=not env.str("DATABASE_URL", default=""))

SECRET_KEY = env.str("DJANGO_SECRET_KEY", default="")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured("DJANGO_SECRET_KEY is required when DJANGO_DEBUG is off.")
    SECRET_KEY = "dev-only-insecure-secret-key-do-not-use-in-production"

ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "[::1]", "testserver"])
CSRF_TRUSTED_ORIGINS = env.list("DJANGO_CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "push_notifications",
    "channels",
    "notifications",
    "preferences",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "notifyproject.security.NoStoreMiddleware",
    "notifyproject.security.ContentSecurityPolicyMiddleware",
    # Innermost: a view that meets an unreachable database answers 503 (JSON), not 500.
    "notifyproject.unavailable.DatabaseUnavailableMiddleware",
]

ROOT_URLCONF = "notifyproject.urls"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "notifications.context_processors.bell",
            ],
        },
    },
]

WSGI_APPLICATION = None
ASGI_APPLICATION = "notifyproject.asgi.application"
# Threads per web process that run HTTP requests' sync code (notifyproject/http.py); each holds at most one
# database connection at a time, so with the WebSocket side's threads this stays within DATABASE_POOL_MAX.
HTTP_THREADS = env.int("HTTP_THREADS", default=8)

# --- Database -------------------------------------------------------------------------------------------------
DATABASES = {
    "default": env.db_url("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}"),
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL + a busy timeout let the web process and the in-process scheduler write without "database is locked".
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 20,
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
else:
    # A bounded psycopg pool per process, not persistent connections: under ASGI every HTTP request runs its sync
    # code in a thread of its own, so per-thread persistent connections piled up until PostgreSQL refused clients.
    # With the pool a thread borrows a connection per request (or per consumer database call) and hands it back
    # when Django closes it, so a process never holds more than DATABASE_POOL_MAX connections and requests skip
    # the connection setup (measured: docs/performance.md). DATABASE_POOL=0 for PgBouncer in transaction mode.
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    if env.bool("DATABASE_POOL", default=True):
        DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {
            "min_size": env.int("DATABASE_POOL_MIN", default=2),
            "max_size": env.int("DATABASE_POOL_MAX", default=16),
            # A request waits this long for a free connection, then fails (503) instead of queueing forever.
            "timeout": env.float("DATABASE_POOL_TIMEOUT", default=10.0),
        }
    # Behind PgBouncer in transaction mode a server-side cursor (QuerySet.iterator(), the export) would outlive the
    # transaction that declared it on a server connection another client now uses: DATABASE_SERVER_SIDE_CURSORS=0.
    DATABASES["default"]["DISABLE_SERVER_SIDE_CURSORS"] = not env.bool("DATABASE_SERVER_SIDE_CURSORS", default=True)
    # Parameters bound by the server and each statement prepared on its connection from its 5th run: PostgreSQL
    # then parses and plans the send's statement, the unread count or hello's query once per connection, not per
    # call (measured, docs/performance.md: half of PostgreSQL's CPU per notify()). Django's default is client-side
    # binding with no prepared statements, for poolers: DATABASE_PREPARED_STATEMENTS=0 behind PgBouncer in
    # transaction mode, where the next transaction may run on a server connection that never prepared them.
    if env.bool("DATABASE_PREPARED_STATEMENTS", default=True):
        DATABASES["default"].setdefault("OPTIONS", {}).update(server_side_binding=True, prepare_threshold=5)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Redis: one URL feeds the channel layer and Celery -----------------------------------------------------------
REDIS_URL = env.str("REDIS_URL", default="")
# Namespaces channel-layer keys and pub/sub channels, so several deployments (or test runs) can share one Redis.
REDIS_PREFIX = env.str("REDIS_PREFIX", default="notify")

# redis-py's default pool (100) fails with "Too many connections" when a few hundred sockets connect at once.
REDIS_MAX_CONNECTIONS = env.int("REDIS_MAX_CONNECTIONS", default=2000)

# Several independent Redis servers shard the channel layer (channels-redis hashes each channel to one of them):
# CHANNEL_LAYER_URLS=redis://a:6379/0,redis://b:6379/0. Default: REDIS_URL alone.
CHANNEL_LAYER_URLS = env.list("CHANNEL_LAYER_URLS", default=[REDIS_URL] if REDIS_URL else [])

if REDIS_URL:
    # channels-redis' pub/sub layer (the fast one), telling consumers it reconnected (notifications/realtime/layer.py).
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "notifications.realtime.layer.RecoveringPubSubChannelLayer",
            "CONFIG": {
                "hosts": [{"address": url, "max_connections": REDIS_MAX_CONNECTIONS} for url in CHANNEL_LAYER_URLS],
                "prefix": REDIS_PREFIX,
            },
        }
    }
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer", "CONFIG": {"capacity": 1000}}}

# --- Cache and sessions -------------------------------------------------------------------------------------------
# Sessions are read from the cache (written through to the database): a WebSocket handshake storm after a deploy
# then costs no session query. Redis in production (shared by every process), process memory when embedded.
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "notifyproject.cache.SharedRedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": REDIS_PREFIX,
            "OPTIONS": {"max_connections": REDIS_MAX_CONNECTIONS},
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
SESSION_ENGINE = "django.contrib.sessions.backends.cached_db"

# --- Celery ----------------------------------------------------------------------------------------------------
# The broker: REDIS_URL by default, or its own server (CELERY_BROKER_URL=amqp://user:password@host:5672/vhost for
# RabbitMQ, or another Redis). When to choose which: docs/scaling.md.
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default=REDIS_URL or "memory://")
CELERY_RESULT_BACKEND = None
CELERY_TASK_IGNORE_RESULT = True
# Embedded mode: no broker, tasks run in the calling process; delayed and periodic work is run by the embedded
# scheduler thread of the web process (notifications/delivery/scheduler.py, EMBEDDED_SCHEDULER).
CELERY_TASK_ALWAYS_EAGER = not REDIS_URL
CELERY_TASK_EAGER_PROPAGATES = False
# At-least-once: a task is acknowledged after it ran, and re-delivered if the worker dies mid-task.
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_TIME_LIMIT = 120
CELERY_TASK_SOFT_TIME_LIMIT = 100
# Redis' transport options, not RabbitMQ's (RabbitMQ redelivers an unacknowledged message as soon as its
# consumer's connection closes, and separates deployments by vhost).
CELERY_BROKER_TRANSPORT_OPTIONS = (
    {
        # Above the longest task (time limit 120 s), else a slow task would be handed to a second worker.
        "visibility_timeout": 600,
        # Several deployments (or test runs) can share one Redis.
        "global_keyprefix": f"{REDIS_PREFIX}:",
        "socket_connect_timeout": 5,
        "socket_timeout": 30,
    }
    if not CELERY_BROKER_URL.startswith(("amqp://", "amqps://", "pyamqp://"))
    else {}
)
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# A task running when the broker connection drops runs to its end (its rows end `sent`); its acknowledgement is lost
# with the connection, so the broker hands the message out again and the second run finds nothing to claim.
# Cancelling it instead would kill sends mid-transaction: the sweeper would re-send them, one duplicate each
# (tests/cluster: the broker stopped mid-delivery).
CELERY_WORKER_CANCEL_LONG_RUNNING_TASKS_ON_CONNECTION_LOSS = False
# After a broker outage a worker tries again every 0.5-2 s, not kombu's 2-30 s (notifyproject/celery.py).
CELERY_WORKER_CONSUMER = "notifyproject.celery:PromptReconnectConsumer"
# Publishing from a web request must not hang while the broker is down: the due-delivery scan catches up.
CELERY_TASK_PUBLISH_RETRY_POLICY = {"max_retries": 1, "interval_start": 0, "interval_step": 0.5, "interval_max": 0.5}
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_WORKER_HIJACK_ROOT_LOGGER = False

# --- Delivery (email, APNs, FCM, Web Push): docs/delivery.md -------------------------------------------------------
DELIVERY_MAX_ATTEMPTS = env.int("DELIVERY_MAX_ATTEMPTS", default=8)
DELIVERY_RETRY_BASE = env.float("DELIVERY_RETRY_BASE", default=30.0)
DELIVERY_RETRY_CAP = env.float("DELIVERY_RETRY_CAP", default=6 * 3600.0)
# How often the dispatcher scans for due deliveries (beat, or the embedded scheduler).
DELIVERY_DISPATCH_INTERVAL = env.float("DELIVERY_DISPATCH_INTERVAL", default=5.0)
# A row handed to a task is not handed out again by the scan for this long (the task may still be queued).
DELIVERY_LEASE_SECONDS = env.float("DELIVERY_LEASE_SECONDS", default=60.0)
# A row `sending` for longer than this lost its worker: the sweeper puts it back. Above the task time limit.
DELIVERY_SENDING_TIMEOUT = env.float("DELIVERY_SENDING_TIMEOUT", default=CELERY_TASK_TIME_LIMIT + 60.0)
DELIVERY_SWEEP_INTERVAL = env.float("DELIVERY_SWEEP_INTERVAL", default=60.0)
DELIVERY_BATCH_SIZE = env.int("DELIVERY_BATCH_SIZE", default=50)
# Local hour (user's time zone) of the daily digest email.
DELIVERY_DIGEST_HOUR = env.int("DELIVERY_DIGEST_HOUR", default=8)
DELIVERY_PUSH_TTL = env.int("DELIVERY_PUSH_TTL", default=24 * 3600)
DELIVERY_PUSH_TIMEOUT = env.float("DELIVERY_PUSH_TIMEOUT", default=10.0)
# Embedded mode: the web process runs the periodic tasks below in a thread (no Redis, no beat).
EMBEDDED_SCHEDULER = env.bool("EMBEDDED_SCHEDULER", default=not REDIS_URL)

# Planning of sends' email/push runs in a worker after commit; this sweep plans whatever a lost task left behind.
DELIVERY_PLAN_SWEEP_INTERVAL = env.float("DELIVERY_PLAN_SWEEP_INTERVAL", default=2.0)
DELIVERY_PLAN_BATCH = env.int("DELIVERY_PLAN_BATCH", default=500)
# A process wakes a planner at most once per window (notifications/jobs.py): bounds broker messages per send.
JOBS_WAKE_WINDOW = env.float("JOBS_WAKE_WINDOW", default=0.02)

# Who gets the site's operational emails (mail_admins: a webhook endpoint disabled after sustained failure).
ADMINS = [("Operations", address) for address in env.list("DJANGO_ADMINS", default=[])]
# Outbound webhooks (docs/webhooks.md). URLs are checked when registered and again, after DNS, before each post.
WEBHOOK_REQUIRE_HTTPS = env.bool("WEBHOOK_REQUIRE_HTTPS", default=True)
WEBHOOK_ALLOW_PRIVATE_ADDRESSES = env.bool("WEBHOOK_ALLOW_PRIVATE_ADDRESSES", default=False)
WEBHOOK_ALLOWED_HOSTS = env.list("WEBHOOK_ALLOWED_HOSTS", default=[])  # empty: any public host
WEBHOOK_BATCH_SIZE = env.int("WEBHOOK_BATCH_SIZE", default=1000)  # events per POST
WEBHOOK_TIMEOUT = env.float("WEBHOOK_TIMEOUT", default=10.0)
WEBHOOK_MAX_ATTEMPTS = env.int("WEBHOOK_MAX_ATTEMPTS", default=8)
# An endpoint is disabled (and staff told) after this many failed posts in a row spanning at least this long.
WEBHOOK_DISABLE_AFTER_FAILURES = env.int("WEBHOOK_DISABLE_AFTER_FAILURES", default=20)
WEBHOOK_DISABLE_AFTER_SECONDS = env.float("WEBHOOK_DISABLE_AFTER_SECONDS", default=3600.0)
WEBHOOK_DISPATCH_INTERVAL = env.float("WEBHOOK_DISPATCH_INTERVAL", default=2.0)
WEBHOOK_ENDPOINT_CACHE_SECONDS = env.float("WEBHOOK_ENDPOINT_CACHE_SECONDS", default=30.0)
# How often snoozed notifications whose time has come are woken (beat, or the embedded scheduler).
SNOOZE_WAKE_INTERVAL = env.float("SNOOZE_WAKE_INTERVAL", default=5.0)

DAY = 24 * 3600.0
CELERY_BEAT_SCHEDULE = {
    "notifications-snooze-wake": {
        "task": "notifications.tasks.notifications_wake",
        "schedule": SNOOZE_WAKE_INTERVAL,
        "options": {"expires": max(SNOOZE_WAKE_INTERVAL, 1.0)},
    },
    "deliveries-plan-sweep": {
        "task": "notifications.tasks.deliveries_plan",
        "schedule": DELIVERY_PLAN_SWEEP_INTERVAL,
        "options": {"expires": max(DELIVERY_PLAN_SWEEP_INTERVAL, 1.0)},
    },
    "deliveries-dispatch-due": {
        "task": "notifications.tasks.deliveries_dispatch_due",
        "schedule": DELIVERY_DISPATCH_INTERVAL,
        "options": {"expires": max(DELIVERY_DISPATCH_INTERVAL, 1.0)},
    },
    "deliveries-sweep-stuck": {
        "task": "notifications.tasks.deliveries_sweep_stuck",
        "schedule": DELIVERY_SWEEP_INTERVAL,
        "options": {"expires": DELIVERY_SWEEP_INTERVAL},
    },
    "webhooks-dispatch": {
        "task": "notifications.tasks.webhooks_dispatch",
        "schedule": WEBHOOK_DISPATCH_INTERVAL,
        "options": {"expires": max(WEBHOOK_DISPATCH_INTERVAL, 1.0)},
    },
    # Before retention (same tick in the embedded scheduler): next periods' partitions exist well ahead of time.
    "notifications-partitions-maintain": {"task": "notifications.tasks.partitions_maintain", "schedule": DAY},
    "notifications-retention-purge": {"task": "notifications.tasks.retention_purge", "schedule": DAY},
    "idempotency-purge": {"task": "notifications.tasks.idempotency_purge", "schedule": DAY},
}

# --- Auth, i18n, static ------------------------------------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "/accounts/login/"
LOGIN_REDIRECT_URL = "/notifications/"
LOGOUT_REDIRECT_URL = "/accounts/login/"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = BASE_DIR / "staticfiles"
SERVE_STATIC = env.bool("SERVE_STATIC", default=True)

# --- Email -----------------------------------------------------------------------------------------------------
EMAIL_URL = env.str("EMAIL_URL", default="")
if EMAIL_URL:
    vars().update(env.email_url("EMAIL_URL"))
else:
    EMAIL_BACKEND = "django.core.mail.backends.console.EmailBackend"
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="Notifications <notifications@localhost>")
SITE_URL = env.str("SITE_URL", default="http://127.0.0.1:8000")

# --- REST framework ----------------------------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "notifications.api.authentication.CachedTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    # orjson: malformed JSON (lone surrogates, deep nesting) is a 400, never a 500.
    "DEFAULT_PARSER_CLASSES": ["notifications.api.parsers.JSONParser"],
    # Django ValidationError from services -> DRF's 400 body, in one place for every view.
    "EXCEPTION_HANDLER": "notifications.api.exceptions.exception_handler",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Notifications API",
    "DESCRIPTION": "Send notifications, read the inbox, manage preferences and devices.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # Swagger UI and Redoc served from this process (drf-spectacular-sidecar): nothing loads from the internet.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "ENUM_NAME_OVERRIDES": {"PriorityEnum": "notifications.models.Priority"},
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "notifications.api.schema.links_add",
        "notifications.api.schema.requests_exact",
        "notifications.api.examples.examples_add",
    ],
}
# Web Push endpoints the worker may post to (notifications/outbound.py): the public browser push services.
WEBPUSH_ALLOWED_HOSTS = env.list(
    "WEBPUSH_ALLOWED_HOSTS",
    default=[
        "fcm.googleapis.com",
        "updates.push.services.mozilla.com",
        "*.push.services.mozilla.com",
        "*.push.apple.com",
        "*.notify.windows.com",
    ],
)
WEBPUSH_TRUSTED_ORIGINS = env.list("WEBPUSH_TRUSTED_ORIGINS", default=[])  # exact origins exempt (self-hosted)
DEVICES_PER_USER_MAX = env.int("DEVICES_PER_USER_MAX", default=50)  # per kind (APNs, FCM, Web Push)
# Per-sender limit on the send endpoints ("<n>/<s|m|h|d>", e.g. "6000/m"; "off" disables). 429 + Retry-After.
NOTIFICATIONS_SEND_RATE = env.str("NOTIFICATIONS_SEND_RATE", default="500/s")
# Other budgets ("<n>/<period>", "off" disables), 429 + Retry-After: WebSocket tickets and exports per user,
# sign-in attempts per client address and per username.
WS_TICKET_RATE = env.str("WS_TICKET_RATE", default="30/m")
EXPORT_RATE = env.str("EXPORT_RATE", default="10/h")
LOGIN_RATE_ADDRESS = env.str("LOGIN_RATE_ADDRESS", default="30/m")
LOGIN_RATE_USERNAME = env.str("LOGIN_RATE_USERNAME", default="10/m")
# GET /metrics: staff session, or `Authorization: Bearer <METRICS_TOKEN>` (empty: staff only).
METRICS_TOKEN = env.str("METRICS_TOKEN", default="")

# --- Notifications -----------------------------------------------------------------------------------------------
NOTIFICATIONS_RETENTION_DAYS = max(30, env.int("NOTIFICATIONS_RETENTION_DAYS", default=90))
# PostgreSQL: months per partition of the notification table (1..12, calendar-aligned), and how many periods ahead
# of the current one the daily maintenance keeps created (docs/scaling.md, retention at scale).
NOTIFICATIONS_PARTITION_MONTHS = min(12, max(1, env.int("NOTIFICATIONS_PARTITION_MONTHS", default=1)))
NOTIFICATIONS_PARTITIONS_AHEAD = max(1, env.int("NOTIFICATIONS_PARTITIONS_AHEAD", default=2))
# Each process keeps the categories in memory; edits are announced to every process, this bounds a lost announcement.
CATEGORY_CACHE_SECONDS = env.float("CATEGORY_CACHE_SECONDS", default=60.0)
# How long a process may use its copy of an API token and its user's permissions if the announcement of a change
# (token deleted, user deactivated, permission removed) is lost; changes normally reach every process at once.
API_TOKEN_CACHE_SECONDS = env.float("API_TOKEN_CACHE_SECONDS", default=10.0)

# --- WebSocket (docs/protocol.md) ----------------------------------------------------------------------------------
WS_TICKET_TTL = 60  # seconds; single use
WS_MAX_FRAME_BYTES = 64 * 1024  # larger client frames close with 1009 (daphne: --websocket-max-message-size)
WS_RATE_PER_SECOND = env.float("WS_RATE_PER_SECOND", default=20.0)  # client frames per socket, sustained
WS_RATE_BURST = env.int("WS_RATE_BURST", default=60)
WS_REPLAY_PAGE = 200
# Open sockets re-check their session or token this often, and reconnect (close 1000, then resume) after this long.
WS_REVALIDATE_SECONDS = env.float("WS_REVALIDATE_SECONDS", default=300.0)
WS_MAX_LIFETIME_SECONDS = env.float("WS_MAX_LIFETIME_SECONDS", default=12 * 3600.0)
WS_CREDENTIALS_RECHECK_DELAY = 1.0  # after a password change (see NotificationConsumer.credentials_changed)
# Per user and web process; more are refused at the handshake (403).
WS_MAX_SOCKETS_PER_USER = env.int("WS_MAX_SOCKETS_PER_USER", default=20)

# --- Push (django-push-notifications models; sending and error handling in notifications/delivery/) ----------------
PUSH_NOTIFICATIONS_SETTINGS = {
    "CONFIG": "push_notifications.conf.AppConfig",
    "APPLICATIONS": {},
    "UNIQUE_REG_ID": True,
    "USER_MODEL": "auth.User",
}
# APNs token auth; all four set = APNs on.
APNS_KEY_PATH = env.str("APNS_KEY_PATH", default="")
APNS_KEY_ID = env.str("APNS_KEY_ID", default="")
APNS_TEAM_ID = env.str("APNS_TEAM_ID", default="")
APNS_TOPIC = env.str("APNS_TOPIC", default="")
APNS_USE_SANDBOX = env.bool("APNS_USE_SANDBOX", default=DEBUG)
# Where APNs requests go. Unset: Apple's production or sandbox host (APNS_USE_SANDBOX), port 443. The test suite
# points these at a loopback HTTP/2 server; APNS_CA_FILE is a CA bundle to trust instead of the system's.
APNS_HOST = env.str("APNS_HOST", default="")
APNS_PORT = env.int("APNS_PORT", default=443)
APNS_CA_FILE = env.str("APNS_CA_FILE", default="")
# Path of a Firebase service-account JSON file; set = FCM on.
FCM_CREDENTIALS = env.str("FCM_CREDENTIALS", default="")
# Base URL of the FCM HTTP v1 API. Unset: Google's. The test suite points it at a loopback server (the OAuth token
# endpoint is the service-account file's own token_uri).
FCM_API_URL = env.str("FCM_API_URL", default="")
# Web Push (VAPID). Unset: a key pair is generated on first use and kept in VAPID_KEY_FILE (git-ignored).
VAPID_PUBLIC_KEY = env.str("VAPID_PUBLIC_KEY", default="")
VAPID_PRIVATE_KEY = env.str("VAPID_PRIVATE_KEY", default="")
VAPID_SUBJECT = env.str("VAPID_SUBJECT", default="mailto:notifications@localhost")
VAPID_KEY_FILE = env.str("VAPID_KEY_FILE", default=str(BASE_DIR / ".var" / "vapid.json"))

# --- Logging: never log notification content (privacy) ------------------------------------------------------------
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}

if not DEBUG:
    SESSION_COOKIE_SECURE = env.bool("DJANGO_SECURE_COOKIES", default=True)
    CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

# --- Security headers ---------------------------------------------------------------------------------------------
# HTTPS-only deployments set these; the defaults keep plain-HTTP development working.
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=False)
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=False)
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=False)
# Content-Security-Policy (notifyproject/security.py): first-party scripts and styles only, no inline code.
_CSP_BASE = (
    "default-src 'self'; img-src 'self' data: https:; connect-src 'self'; object-src 'none'; base-uri 'self'; "
    "form-action 'self'; frame-ancestors 'none'; script-src 'self'"
)
CSP_POLICY = env.str("CSP_POLICY", default=f"{_CSP_BASE}; style-src 'self'")
CSP_POLICY_DOCS = env.str("CSP_POLICY_DOCS", default=f"{_CSP_BASE}; style-src 'self' 'unsafe-inline'")
CSP_DOCS_PREFIX = "/api/v1/docs/"
