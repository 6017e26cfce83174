"""Project settings, read from the environment through django-environ.

With DATABASE_URL and REDIS_URL unset the project runs on its embedded default:
SQLite, the in-memory channel layer and Celery tasks executed in-process. Setting
them switches to PostgreSQL, the Redis channel layer and real Celery workers.
"""

import importlib.util
from pathlib import Path

import environ

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = BASE_DIR / "var"

env = environ.Env()
if (BASE_DIR / ".env").exists():
    environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

from django.core.exceptions import ImproperlyConfigured  # noqa: E402

DEBUG = env.bool("DEBUG", default=False)
EMBEDDED = not env("DATABASE_URL", default="")
# The embedded default (a demo on one machine) may run on a built-in key; real mode may not.
_EMBEDDED_KEY = "embedded-default-only-" + "x" * 40
SECRET_KEY = env("SECRET_KEY", default=_EMBEDDED_KEY if EMBEDDED else "")
if not SECRET_KEY:
    raise ImproperlyConfigured(
        "SECRET_KEY is not set. Real mode (DATABASE_URL set) needs its own secret key: "
        "put SECRET_KEY=<50+ random characters> in .env or the environment "
        "(python -c 'import secrets; print(secrets.token_urlsafe(50))')."
    )
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "testserver"])
CSRF_TRUSTED_ORIGINS = env.list(
    "CSRF_TRUSTED_ORIGINS", default=["http://127.0.0.1:8000", "http://localhost:8000"]
)

INSTALLED_APPS = [
    "daphne",
    "web",  # the HTML and WebSocket edge; its templates and static files are beside it
    "web.apps.TowerAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "channels",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_htmx",
    "axes",
    "simple_history",
    "dispatch",
    "dispatch.engine",  # subscribes to the domain's facts it answers (customer messages)
    "carriers",
    "integrations",
    "infra",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # Pages, partials, JSON and static files compressed for a client that accepts it (a phone on a
    # mobile network: the driver app's first load). Django's GZip pads each response with random
    # bytes against BREACH (since 4.2).
    "django.middleware.gzip.GZipMiddleware",
    "web.middleware.ApiBodyLimitMiddleware",
    "web.middleware.DatabaseUnavailableMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "web.middleware.DriverAppMiddleware",
    "web.middleware.HubScopeMiddleware",
    "web.middleware.OrganizationTimeZoneMiddleware",
    "web.middleware.DomainErrorMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "simple_history.middleware.HistoryRequestMiddleware",
    "csp.middleware.CSPMiddleware",
    "infra.metrics.RequestMetricsMiddleware",
    # Last, as django-axes asks: it turns a locked-out login into its lockout response.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "controltower.urls"
ASGI_APPLICATION = "controltower.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
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

# --- Database -------------------------------------------------------------------------
VAR_DIR.mkdir(exist_ok=True)
if EMBEDDED:
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": env("SQLITE_PATH", default=str(VAR_DIR / "demo.sqlite3")),
            "OPTIONS": {
                "timeout": 30,
                "transaction_mode": "IMMEDIATE",
                "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
            },
        }
    }
else:
    DATABASES = {"default": env.db("DATABASE_URL")}
    DATABASES["default"].setdefault("CONN_MAX_AGE", 0)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
# HTTP requests one web process serves at once (each takes a thread and a database connection of
# its own); the others wait their turn (controltower.asgi.RequestSlots).
HTTP_CONCURRENCY = env.int("HTTP_CONCURRENCY", default=8)

# --- Redis: channel layer, Celery, event sequence numbers -----------------------------
REDIS_URL = env("REDIS_URL", default="")
# Socket settings are explicit, never a client library's default (redis-py 8 made its read timeout
# 5 s, shorter than a blocking receive, and idle sockets closed). Keepalive and health checks notice
# a dead server.
REDIS_SOCKET_OPTIONS = {
    "socket_timeout": env.float("REDIS_SOCKET_TIMEOUT", default=30.0),
    "socket_connect_timeout": env.float("REDIS_CONNECT_TIMEOUT", default=5.0),
    "socket_keepalive": True,
    "health_check_interval": 15,
}
# Per-connection capacity and expiry of the live channel: a client that stops reading keeps
# CHANNEL_CAPACITY hints and loses the ones after them, and a hint older than CHANNEL_EXPIRY_S when
# its connection gets to it is dropped (both counted in the metrics; the page resynchronizes on the
# gap in sequence numbers).
CHANNEL_CAPACITY = env.int("CHANNEL_CAPACITY", default=200)
# Hints a dashboard may have unread before the server stops sending and has it resynchronize.
LIVE_UNACKED_MAX = env.int("LIVE_UNACKED_MAX", default=40)
# How often a live connection re-joins its groups and checks that Redis did not restart.
LIVE_KEEPALIVE_S = env.float("LIVE_KEEPALIVE_S", default=5.0)
CHANNEL_EXPIRY_S = env.int("CHANNEL_EXPIRY_S", default=60)
if REDIS_URL:
    CHANNEL_LAYERS = {
        "default": {
            # Redis publish/subscribe, one message per hint and process (infra.channel_layers).
            "BACKEND": "infra.channel_layers.RedisHintsChannelLayer",
            "CONFIG": {
                "hosts": [{"address": REDIS_URL, **REDIS_SOCKET_OPTIONS}],
                "prefix": env("CHANNEL_PREFIX", default="ct"),
                "capacity": CHANNEL_CAPACITY,
                "expiry": CHANNEL_EXPIRY_S,
            },
        }
    }
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": env("CHANNEL_PREFIX", default="ct"),
            "OPTIONS": {"socket_timeout": 2.0, "socket_connect_timeout": 2.0},
        }
    }
else:
    CHANNEL_LAYERS = {
        "default": {"BACKEND": "infra.channel_layers.CountingInMemoryChannelLayer",
                    "CONFIG": {"capacity": CHANNEL_CAPACITY, "expiry": CHANNEL_EXPIRY_S}}
    }
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

CELERY_BROKER_URL = REDIS_URL or "memory://localhost/"
CELERY_RESULT_BACKEND = None
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=not REDIS_URL)
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_TIME_LIMIT = 120
CELERY_TASK_SOFT_TIME_LIMIT = 100
CELERY_TASK_DEFAULT_QUEUE = "default"
CELERY_TASK_ROUTES = {
    "dispatch.tasks.plan_new_orders": {"queue": "planner"},
    "dispatch.tasks.propose_decision": {"queue": "planner"},
    "dispatch.tasks.replan_networks": {"queue": "planner"},
}
# Longer than the longest task (CELERY_TASK_TIME_LIMIT) and than any countdown we set
# (dispatch.tasks.MAX_COUNTDOWN_S), so a task is never handed to a second worker while the first
# still runs it.
# Priority steps (kombu's own default, named here): 0 first; bulk work runs at 6 (infra.reliable_tasks.BULK).
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 600, "priority_steps": [0, 3, 6, 9]}
# Installations sharing one Redis (and the test suite, one per test) keep their queues apart.
if env("CELERY_BROKER_PREFIX", default=""):
    CELERY_BROKER_TRANSPORT_OPTIONS["global_keyprefix"] = env("CELERY_BROKER_PREFIX")
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BEAT_SCHEDULE = {
    "plan-pending-orders": {"task": "dispatch.tasks.plan_pending_everywhere", "schedule": 60.0},
    "detect-exceptions": {"task": "dispatch.tasks.detect_everywhere", "schedule": 60.0},
    "sweep-outbox": {"task": "dispatch.tasks.sweep_outbox", "schedule": 60.0},
    "send-due-messages": {"task": "dispatch.tasks.send_due_messages", "schedule": 5.0},
    "carrier-health": {"task": "carriers.tasks.check_carrier_health", "schedule": 30.0},
    "replan-networks": {"task": "dispatch.tasks.replan_networks", "schedule": 300.0},
    "refresh-reports": {"task": "dispatch.tasks.refresh_reports", "schedule": 60.0},
    "learn-travel": {"task": "dispatch.tasks.learn_travel", "schedule": 60.0},
    "apply-scheduled-settings": {"task": "dispatch.tasks.apply_scheduled_settings", "schedule": 60.0},
}

# --- Auth ------------------------------------------------------------------------------
AUTH_USER_MODEL = "dispatch.User"
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "dashboard"
LOGOUT_REDIRECT_URL = "login"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
]
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
# Login throttling (django-axes): after AXES_FAILURE_LIMIT wrong passwords for one username from
# one address, that pair is locked out for AXES_COOLOFF_MIN minutes, right password or not.
AXES_FAILURE_LIMIT = env.int("AXES_FAILURE_LIMIT", default=10)
AXES_COOLOFF_TIME = env.float("AXES_COOLOFF_MIN", default=15) / 60  # hours
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
AXES_ENABLED = env.bool("AXES_ENABLED", default=True)

# --- Deployment security: on by setting, never by editing this file --------------------
# HTTPS=true (behind TLS) turns on secure cookies, HSTS and the HTTPS redirect; `manage.py check
# --deploy` is clean with it (CI checks that).
HTTPS = env.bool("HTTPS", default=False)
SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = HTTPS
SECURE_SSL_REDIRECT = HTTPS
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31536000 if HTTPS else 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = HTTPS
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=HTTPS)
# An operator who will not submit the domain to the browsers' preload list says so deliberately.
SILENCED_SYSTEM_CHECKS = ["security.W021"] if HTTPS and not SECURE_HSTS_PRELOAD else []
if env.bool("BEHIND_PROXY", default=False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SESSION_COOKIE_HTTPONLY = True
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
# A basemap from the installation's own tile server or a provider it pays for, e.g.
# MAP_TILE_URL=https://tiles.example.com/{z}/{x}/{y}.png; unset, the map is a tile-less grid
# (the product needs no network).
MAP_TILE_URL = env("MAP_TILE_URL", default="")
MAP_TILE_ATTRIBUTION = env("MAP_TILE_ATTRIBUTION", default="")
_TILE_ORIGIN = "/".join(MAP_TILE_URL.split("/")[:3]) if MAP_TILE_URL.startswith(("http://", "https://")) else ""
# django-csp: everything from our own origin; the live socket on the same host.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'", "'unsafe-inline'"],
        "img-src": ["'self'", "data:"] + ([_TILE_ORIGIN] if _TILE_ORIGIN else []),
        "connect-src": ["'self'", "ws:", "wss:"],
        "frame-ancestors": ["'none'"],
        "form-action": ["'self'"],
        "base-uri": ["'self'"],
    }
}

# --- API -------------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "dispatch.api.auth.OrganizationTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["dispatch.api.auth.IsOrganizationMember"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    # A JSON API: bodies are JSON (a proof of delivery's photo is multipart, OrderProof says so). A
    # form or multipart body elsewhere is a 415 that says so, not a body half-read by a form parser.
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
    "EXCEPTION_HANDLER": "dispatch.api.errors.exception_handler",
    "DEFAULT_PAGINATION_CLASS": "dispatch.api.pagination.BoundedLimitOffsetPagination",
    "PAGE_SIZE": 100,
    "UNAUTHENTICATED_USER": None,
    # Per token or user, per minute; a client over it gets a 429 with Retry-After.
    "DEFAULT_THROTTLE_CLASSES": ["dispatch.api.throttles.OrganizationRateThrottle"],
    "DEFAULT_THROTTLE_RATES": {"organization": env("API_RATE", default="6000/min")},
}
API_MAX_PAGE = 1000
# Wrong API tokens from one address: after this many in a minute, 429 until the minute passes.
API_AUTH_FAILURES_PER_MIN = env.int("API_AUTH_FAILURES_PER_MIN", default=20)
SPECTACULAR_SETTINGS = {
    "TITLE": "Control Tower API",
    "DESCRIPTION": "Orders, vehicle positions, fleet status and carrier events for one organization.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "ENUM_NAME_OVERRIDES": {"DutyStatusEnum": "dispatch.status.DutyStatus.choices", "ProofKindEnum": "dispatch.status.ProofKind.choices"},
    "POSTPROCESSING_HOOKS": ["drf_spectacular.hooks.postprocess_schema_enums",
                             "dispatch.api.schema.declare_error_responses"],
}
# Outbound calls (subscriber webhooks, generic carrier endpoints) never go to private, loopback or
# link-local addresses unless the address or network is listed here (a self-hosted install that
# runs its own receivers inside; e.g. "127.0.0.1/32,10.1.2.0/24").
# Customer messages: what happens to an order within this many seconds of its first change is told
# in one message with the final state (0: each transaction's changes are one message).
# A moving van's ETAs are recomputed at most once per this many seconds of its position time
# (every ping when tasks run in-process); a change to its route recomputes them at once.
ETA_REFRESH_S = env.int("ETA_REFRESH_S", default=30)
CUSTOMER_MESSAGE_WINDOW_S = env.int("CUSTOMER_MESSAGE_WINDOW_S", default=3)
# A change of estimate (a new ETA, or late) is told once it has held this long (product seconds;
# checked again when it goes), and at most once per ESTIMATE_QUIET_S to one customer.
# Travel learned from the own fleet (dispatch.services.travel) is used by live ETAs, the at-risk
# flag and the planner; false keeps the travel model's own times (and learns nothing).
TRAVEL_LEARNING = env.bool("TRAVEL_LEARNING", default=True)
# The travel model every path asks (dispatch.selectors.travel.travel_model): empty is the embedded
# straight line (haversine x 1.3 at 28 km/h); a path to road data prepared by
# `manage.py build_roads region.osm.pbf` (its <name>.osrm) selects the road engine (OSRM in-process).
ROADS = env("ROADS", default="")
ESTIMATE_SETTLE_S = env.int("ESTIMATE_SETTLE_S", default=600)
ESTIMATE_QUIET_S = env.int("ESTIMATE_QUIET_S", default=1800)
# New orders are placed by the planner's repair: insertion, then this long re-optimizing the
# routes of the vans near them (0: insertion alone).
PLACEMENT_REOPTIMIZE_S = env.float("PLACEMENT_REOPTIMIZE_S", default=1.0)
OUTBOUND_ALLOWED_NETWORKS = env.list("OUTBOUND_ALLOWED_NETWORKS", default=[])
API_MAX_BODY_BYTES = env.int("API_MAX_BODY_BYTES", default=2_000_000)
DATA_UPLOAD_MAX_MEMORY_SIZE = API_MAX_BODY_BYTES
API_MAX_BATCH = 1000
# Orders imported from one file (the Import orders page, POST /api/orders/import/): checked row by
# row, then created all together or not at all.
ORDER_FILE_MAX_BYTES = API_MAX_BODY_BYTES
ORDER_FILE_MAX_ROWS = env.int("ORDER_FILE_MAX_ROWS", default=5000)
# A CSV uploaded on the Import orders page is streamed from disk, row by row: any number of rows,
# up to this size.
ORDER_STREAM_MAX_BYTES = env.int("ORDER_STREAM_MAX_BYTES", default=200 * 2**20)
# Shops (Shopify, WooCommerce) send orders by webhook; their secrets and API credentials are kept
# sealed with this key (empty: a key derived from SECRET_KEY). The Shopify Admin API version we speak.
SECRETS_KEY = env("SECRETS_KEY", default="")
SHOPIFY_API_VERSION = env("SHOPIFY_API_VERSION", default="2025-01")
SHOP_WEBHOOK_MAX_BYTES = env.int("SHOP_WEBHOOK_MAX_BYTES", default=512 * 1024)
# An order that needs an age check is handed over only to a recipient at least this old, by the
# date of birth on their ID (the driver app enters it; only the age is kept).
AGE_CHECK_MIN_YEARS = env.int("AGE_CHECK_MIN_YEARS", default=18)
# A driver's break, as the van's ETAs expect it to last.
BREAK_MIN = env.int("BREAK_MIN", default=30)
# A phone's browser sends no positions while the driver app is in the background (the driver
# navigates in another app): a van whose app said so is not taken for silent for this long.
APP_AWAY_MAX_MIN = env.int("APP_AWAY_MAX_MIN", default=45)

# --- Static files ----------------------------------------------------------------------
# Uploaded files (proof of delivery) through Django's storage API: local disk under var/media by
# default; S3_BUCKET puts them in an S3-compatible bucket instead (django-storages; S3_ENDPOINT_URL
# for a self-hosted one such as MinIO or Ceph, S3_ACCESS_KEY_ID/S3_SECRET_ACCESS_KEY, S3_REGION).
# Either way they are served by the control tower to their organization only, never from a public
# URL (objects are private, no ACL is set, names are never overwritten).
MEDIA_ROOT = env.path("MEDIA_ROOT", default=str(VAR_DIR / "media"))


def s3_storage(bucket: str, endpoint_url: str | None = None, access_key: str | None = None,
               secret_key: str | None = None, region: str | None = None) -> dict:
    return {"BACKEND": "storages.backends.s3.S3Storage",
            "OPTIONS": {"bucket_name": bucket, "endpoint_url": endpoint_url or None, "access_key": access_key or None,
                        "secret_key": secret_key or None, "region_name": region or None, "default_acl": None,
                        "file_overwrite": False, "querystring_auth": True, "location": env.str("S3_PREFIX", default="")}}


if env.str("S3_BUCKET", default=""):
    _MEDIA_STORAGE = s3_storage(env.str("S3_BUCKET"), env.str("S3_ENDPOINT_URL", default=""),
                                env.str("S3_ACCESS_KEY_ID", default=""), env.str("S3_SECRET_ACCESS_KEY", default=""),
                                env.str("S3_REGION", default=""))
else:
    _MEDIA_STORAGE = {"BACKEND": env.str("STORAGES_DEFAULT_BACKEND", default="django.core.files.storage.FileSystemStorage")}
STORAGES = {
    "default": _MEDIA_STORAGE,
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}

STATIC_URL = "/static/"
# Leaflet comes from the django-leaflet package. Only its static files are used: registering the
# app would import its GIS admin widgets, which need GDAL.
LEAFLET_STATIC = Path(importlib.util.find_spec("leaflet").submodule_search_locations[0]) / "static"
# plotly.min.js comes from the plotly package (served as /static/plotly/plotly.min.js).
PLOTLY_STATIC = Path(importlib.util.find_spec("plotly").submodule_search_locations[0]) / "package_data"
STATICFILES_DIRS = [LEAFLET_STATIC, ("plotly", PLOTLY_STATIC)]
STATIC_ROOT = VAR_DIR / "static"
STATIC_ROOT.mkdir(parents=True, exist_ok=True)
WHITENOISE_USE_FINDERS = True

LANGUAGE_CODE = "en-us"
TIME_ZONE = env("TIME_ZONE", default="America/Chicago")
USE_I18N = True
USE_TZ = True

# --- Email -----------------------------------------------------------------------------
EMAIL_HOST = env("EMAIL_HOST", default="127.0.0.1")
EMAIL_PORT = env.int("EMAIL_PORT", default=1025)
DEFAULT_FROM_EMAIL = env("DEFAULT_FROM_EMAIL", default="tracking@controltower.local")
# Real mode sends over SMTP; the embedded default writes each message to var/outbox/ instead.
EMAIL_BACKEND = env("EMAIL_BACKEND", default="django.core.mail.backends.filebased.EmailBackend" if EMBEDDED
                    else "django.core.mail.backends.smtp.EmailBackend")
EMAIL_FILE_PATH = VAR_DIR / "outbox"
EMAIL_TIMEOUT = 10
SMS_PROVIDER = env("SMS_PROVIDER", default="")
PUBLIC_BASE_URL = env("PUBLIC_BASE_URL", default="http://127.0.0.1:8000")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {
        "console": {"class": "logging.StreamHandler"},
    },
    "root": {"handlers": ["console"], "level": env("LOG_LEVEL", default="WARNING")},
}
METRICS_TOKEN = env("METRICS_TOKEN", default="")
