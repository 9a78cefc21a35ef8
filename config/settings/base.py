"""Settings shared by every environment. Each environment module overrides only a little."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import certifi

from config.env import BASE_DIR, env
from config.log import logging_config
from config.schedule import BEAT_SCHEDULE

# --- Core -----------------------------------------------------------------------------------

SECRET_KEY = env.str("SECRET_KEY", default="")
DEBUG = env.bool("DEBUG", default=False)
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "csp",
    "axes",
    "apps.core",
    "apps.tenants",
    "apps.outbound",
    "apps.datasources",
    "apps.items",
    "apps.proxy",
    "apps.events",
    "apps.bulk",
]

MIDDLEWARE = [
    # First: the request id is set before anything logs, and every answer is counted.
    "apps.core.middleware.RequestObservationMiddleware",
    "django.middleware.security.SecurityMiddleware",
    # Outside everything that answers (static files, CORS preflights, lockouts, views): every
    # response gets the Content-Security-Policy and the Permissions-Policy.
    "apps.core.middleware.ContentSecurityPolicyMiddleware",
    "apps.core.middleware.PermissionsPolicyMiddleware",
    # The hot API routes answer here: what follows has nothing to do for them (see
    # apps.core.middleware.HotRouteMiddleware).
    "apps.proxy.middleware.ProxyMiddleware",
    "apps.events.middleware.InboundMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "apps.items.cors.OptionsPreflightMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "apps.core.middleware.ApplicationErrorPageMiddleware",
    # Last, as django-axes asks: it answers a locked-out login.
    "axes.middleware.AxesMiddleware",
]

# Failed logins (the login page and the admin's) are counted per user name and address: after
# AXES_FAILURE_LIMIT of them that pair is locked out for AXES_COOLOFF_MINUTES, with a page that
# says so; a success resets the count. Behind a proxy, set AXES_IPWARE_PROXY_COUNT so the client
# address is read from X-Forwarded-For.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = env.int("AXES_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = timedelta(minutes=env.float("AXES_COOLOFF_MINUTES", default=15))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_CALLABLE = "apps.tenants.views.locked_out"
AXES_IPWARE_PROXY_COUNT = env.int("AXES_IPWARE_PROXY_COUNT", default=0) or None
AXES_VERBOSE = False

ROOT_URLCONF = "config.urls"


def _item_url(item: object) -> str:
    from django.urls import reverse

    return reverse("item-edit", args=[item.tenant.slug, item.key])  # type: ignore[attr-defined]


# Pages of rows that a lower app lists without importing their app (a data source's delete page
# names the connected items that go with it, linked: apps.datasources.selectors).
ABSOLUTE_URL_OVERRIDES = {"items.connecteditem": _item_url}
WSGI_APPLICATION = "config.wsgi.application"

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
                "apps.tenants.context_processors.tenant",
            ],
        },
    },
]

# --- Data -----------------------------------------------------------------------------------

DATABASES = {
    "default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}"),
}
DATABASES["default"]["ATOMIC_REQUESTS"] = False
DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=60)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
if DATABASES["default"]["ENGINE"].endswith("postgresql"):
    # A database address that takes the connection and never answers (a frozen server, a
    # failover in progress) must not hold a request for psycopg's default of 130 s. A
    # connect_timeout in DATABASE_URL wins.
    DATABASES["default"].setdefault("OPTIONS", {}).setdefault(
        "connect_timeout", env.int("DATABASE_CONNECT_TIMEOUT", default=5)
    )
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = env.str("REDIS_URL", default="")
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": "pb",
            "OPTIONS": {
                "CLIENT_CLASS": "django_redis.client.DefaultClient",
                # A cache that is down must not hang a request: fail fast, then degrade.
                "SOCKET_CONNECT_TIMEOUT": 1,
                "SOCKET_TIMEOUT": 1,
            },
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# --- Auth and sessions ----------------------------------------------------------------------

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "tenant-picker"
LOGOUT_REDIRECT_URL = "login"
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
X_FRAME_OPTIONS = "DENY"
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CONTENT_TYPE_NOSNIFF = True

# A strict Content-Security-Policy on every response (django-csp): scripts, styles and images
# from this origin only (images also as data: URLs, which the admin's CSS uses), no inline
# script, style or event handler, no plugins, no <base>, never framed, forms post here. A
# response that brings its own policy keeps it (the proxy's sandbox). The configure page of a
# data source widens form-action to https: alone: "Save and connect" redirects the form to the
# OAuth provider, and Chromium checks form-action on a form's redirects too.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "object-src": ["'none'"],
        "base-uri": ["'none'"],
        "frame-ancestors": ["'none'"],
        "form-action": ["'self'"],
    },
}
# Powerful browser features no Plugboard page uses, turned off for every page (and whatever a
# page might embed or a script injected could ask for).
PERMISSIONS_POLICY = ", ".join(
    f"{feature}=()"
    for feature in (
        "accelerometer", "camera", "display-capture", "geolocation", "gyroscope",
        "magnetometer", "microphone", "midi", "payment", "usb",
    )
)  # fmt: skip

# --- Internationalisation and static files --------------------------------------------------

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = Path(env.str("STATIC_ROOT", default=str(BASE_DIR / "staticfiles")))
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    # Bulk jobs' uploaded files and query results. The web processes write uploads and the
    # workers read them (and write results the web serves): with several machines, a storage
    # all of them reach (a shared folder, or any django-storages backend with its options as
    # JSON, e.g. BULK_STORAGE_BACKEND=storages.backends.s3.S3Storage and
    # BULK_STORAGE_OPTIONS={"bucket_name": "plugboard-bulk"}).
    "bulk": {
        "BACKEND": env.str(
            "BULK_STORAGE_BACKEND", default="django.core.files.storage.FileSystemStorage"
        ),
        "OPTIONS": env.json(
            "BULK_STORAGE_OPTIONS", default={"location": str(BASE_DIR / "var" / "bulk")}
        ),
    },
}

# --- API ------------------------------------------------------------------------------------

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "apps.tenants.authentication.ApiKeyAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PAGINATION_CLASS": "apps.core.pagination.PageNumberPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_SCHEMA_CLASS": "apps.core.schema.AutoSchema",
    "EXCEPTION_HANDLER": "apps.core.errors.api_exception_handler",
    "DEFAULT_RENDERER_CLASSES": [
        # JSON only: no browsable HTML API (its forms and inline scripts are another surface).
        "rest_framework.renderers.JSONRenderer",
    ],
    "DEFAULT_CONTENT_NEGOTIATION_CLASS": "apps.core.negotiation.FallbackContentNegotiation",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}

# The schema (/api/schema/) and Swagger UI (/api/docs/) are for signed-in users and admin API
# keys; API_DOCS_PUBLIC=true publishes them to anyone.
API_DOCS_PUBLIC = env.bool("API_DOCS_PUBLIC", default=False)

SPECTACULAR_SETTINGS = {
    "TITLE": "Plugboard API",
    # What this API has, as Swagger UI shows it: each tag below is a group of operations.
    "DESCRIPTION": (
        "Connect a REST API once as a data source, then use it everywhere: connected items "
        "(the options of a form field, for the widget), the proxy, events and bulk jobs.\n\n"
        "**Authentication.** `Authorization: Bearer <api key>`: an admin key reaches every "
        "operation here; a widget key only an item's options, from its allowed origins. A "
        "signed-in browser session works too (with its CSRF token; the tenant comes from the "
        "`X-Plugboard-Tenant` header, else the tenant last opened): viewers read, owners and "
        "admins write.\n\n"
        '**Errors** answer `{"error": {"code", "message", "details"}}`; another '
        "tenant's objects are 404s.\n\n"
        "Not listed: the inbound webhook URL of each data source (`POST /api/v1/inbound/{token}`, "
        "shown on its page), which needs no API key."
    ),
    "TAGS": [
        {"name": "api-keys", "description": "Keys of your tenant: created (shown once), revoked."},
        {"name": "bulk", "description": "A bulk job: its status, cancel, its errors and result."},
        {
            "name": "datasources",
            "description": "Data sources: connection settings, secrets (write-only), the "
            "connection test, the cache; a data source's events, bulk jobs and proxy statistics.",
        },
        {"name": "events", "description": "One event, and delivering it again."},
        {
            "name": "items",
            "description": "Connected items and their options (what the widget shows).",
        },
        {
            "name": "proxy",
            "description": "Call a data source's API through Plugboard, which adds its base "
            "URL, headers and credentials.",
        },
    ],
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SCHEMA_PATH_PREFIX": r"/api/v1",
    "COMPONENT_SPLIT_REQUEST": True,
    # Swagger UI's assets are served by this instance, not fetched from a CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}

# --- Celery ---------------------------------------------------------------------------------

CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default="") or "filesystem://"
CELERY_FILESYSTEM_BROKER_DIR = BASE_DIR / "var" / "celery"
if CELERY_BROKER_URL.startswith("filesystem://"):
    # The embedded default: a real broker that needs no server, good for one machine.
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(CELERY_FILESYSTEM_BROKER_DIR / "queue"),
        "data_folder_out": str(CELERY_FILESYSTEM_BROKER_DIR / "queue"),
        "control_folder": str(CELERY_FILESYSTEM_BROKER_DIR / "control"),
        "store_processed": False,
    }
else:
    CELERY_BROKER_TRANSPORT_OPTIONS = {}
CELERY_BROKER_CONNECTION_TIMEOUT = 3
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_TIME_LIMIT = 15 * 60
CELERY_TASK_SOFT_TIME_LIMIT = 14 * 60
CELERY_BEAT_SCHEDULE = BEAT_SCHEDULE
CELERY_BEAT_SCHEDULE_FILENAME = str(BASE_DIR / "var" / "celerybeat-schedule")
CELERY_TIMEZONE = TIME_ZONE

# --- Secrets and outbound calls -------------------------------------------------------------

FIELD_ENCRYPTION_KEYS = env.list("FIELD_ENCRYPTION_KEYS", default=[])
OUTBOUND_ALLOWED_NETWORKS = env.list("OUTBOUND_ALLOWED_NETWORKS", default=[])
OUTBOUND_CA_BUNDLE = env.str("OUTBOUND_CA_BUNDLE", default="") or certifi.where()

# The externally visible base URL, for inbound event URLs and OAuth redirect URIs (unset: taken
# from each request).
PUBLIC_URL = env.str("PUBLIC_URL", default="").rstrip("/")

# --- Events ---------------------------------------------------------------------------------

# Seconds between delivery attempts (the Svix schedule): 1 + len(schedule) attempts in all.
EVENTS_RETRY_SCHEDULE = env.list(
    "EVENTS_RETRY_SCHEDULE", cast=int, default=[5, 300, 1800, 7200, 18000, 36000]
)
EVENTS_RETENTION_DAYS = env.int("EVENTS_RETENTION_DAYS", default=30)
# One delivery attempt's whole deadline (at most 30 s).
EVENTS_DELIVERY_TIMEOUT = min(max(env.float("EVENTS_DELIVERY_TIMEOUT", default=30.0), 1.0), 30.0)
# How often the sweep re-enqueues deliveries no task holds, and how late a queued delivery may
# be before the sweep presumes its task lost (a killed worker, a restarted broker).
EVENTS_SWEEP_SECONDS = env.float("EVENTS_SWEEP_SECONDS", default=30.0)
EVENTS_REQUEUE_AFTER = env.float("EVENTS_REQUEUE_AFTER", default=300.0)
# The Celery queue of deliveries and polls (empty: the default queue).
EVENTS_QUEUE = env.str("EVENTS_QUEUE", default="")
if EVENTS_QUEUE:  # beat's sweeps and scans go there too (a worker must consume it: -Q)
    CELERY_TASK_ROUTES = {"apps.events.tasks.*": {"queue": EVENTS_QUEUE}}
CELERY_BEAT_SCHEDULE["sweep-event-deliveries"]["schedule"] = timedelta(seconds=EVENTS_SWEEP_SECONDS)

# --- Limits ---------------------------------------------------------------------------------

# Requests a minute, per API key ("key") and per tenant ("tenant"; for inbound events, per
# inbound URL: "source"); the tenant's concurrent upstream calls; the bytes its cached options
# may take. A tenant's own limits (Django admin, Tenants) override these; RATE_LIMITS (JSON, the
# same shape, partial) overrides them for every tenant. 0: no limit.
RATE_LIMITS = {
    "options": {"key": 6000, "tenant": 20000},
    "proxy": {"key": 1200, "tenant": 3000},
    "bulk": {"key": 30, "tenant": 60},
    "inbound": {"source": 1200, "tenant": 6000},
    "upstream_concurrency": 32,
    "cache_bytes": 64 * 1024 * 1024,
}
for _name, _value in env.json("RATE_LIMITS", default={}).items():
    if isinstance(_value, dict) and isinstance(RATE_LIMITS.get(_name), dict):
        RATE_LIMITS[_name] = {**RATE_LIMITS[_name], **_value}
    else:
        RATE_LIMITS[_name] = _value

# --- Bulk jobs ------------------------------------------------------------------------------

BULK_MAX_UPLOAD_BYTES = env.int("BULK_MAX_UPLOAD_BYTES", default=100 * 1024 * 1024)
# Uploads past 2.5 MB go to a temporary file, never whole into memory; none may pass the limit.
FILE_UPLOAD_HANDLERS = [
    "apps.bulk.files.SizeLimitUploadHandler",
    "django.core.files.uploadhandler.MemoryFileUploadHandler",
    "django.core.files.uploadhandler.TemporaryFileUploadHandler",
]
# Requests one job keeps in flight: each data source chooses (default 4), never above this.
BULK_MAX_CONCURRENCY = max(env.int("BULK_MAX_CONCURRENCY", default=16), 1)
# Seconds before a row's second and third attempt after a timeout, a connection failure or a
# 5xx; a 429 waits for its Retry-After, at most BULK_MAX_RETRY_AFTER seconds.
BULK_RETRY_BACKOFF = env.list("BULK_RETRY_BACKOFF", cast=float, default=[2.0, 10.0])
BULK_MAX_RETRY_AFTER = env.float("BULK_MAX_RETRY_AFTER", default=300.0)
# A running job holds a lease it renews; a job whose lease ran out (its worker died) is resumed
# by the sweep, which runs every BULK_SWEEP_SECONDS.
BULK_LEASE_SECONDS = env.float("BULK_LEASE_SECONDS", default=30.0)
BULK_SWEEP_SECONDS = env.float("BULK_SWEEP_SECONDS", default=30.0)
# A job runs in slices of this many seconds (each one task), so that no task outlives Celery's
# time limit and a deploy's restart costs at most a slice's in-flight rows.
BULK_SLICE_SECONDS = env.float("BULK_SLICE_SECONDS", default=600.0)
BULK_RESULT_DAYS = env.int("BULK_RESULT_DAYS", default=7)
# The Celery queue of bulk jobs (empty: the default queue).
BULK_QUEUE = env.str("BULK_QUEUE", default="")
if BULK_QUEUE:
    CELERY_TASK_ROUTES = {**globals().get("CELERY_TASK_ROUTES", {}),
                          "apps.bulk.tasks.*": {"queue": BULK_QUEUE}}  # fmt: skip
CELERY_BEAT_SCHEDULE["resume-bulk-jobs"]["schedule"] = timedelta(seconds=BULK_SWEEP_SECONDS)

# --- Logging and metrics --------------------------------------------------------------------

LOG_LEVEL = env.str("LOG_LEVEL", default="INFO")
# plain (local, tests) or json (production's default): one JSON object per line.
LOG_FORMAT = env.str("LOG_FORMAT", default="plain")
LOGGING = logging_config(level=LOG_LEVEL, fmt=LOG_FORMAT)

# How long each process remembers a health check's outcome (database, cache, broker) for
# /healthz and /readyz: probes come often, and a broker that is down takes seconds to say so.
HEALTH_CHECK_SECONDS = env.float("HEALTH_CHECK_SECONDS", default=5.0)

# /metrics answers only "Authorization: Bearer <METRICS_TOKEN>"; unset, it is a 404.
METRICS_TOKEN = env.str("METRICS_TOKEN", default="")
# A folder where every process of a machine keeps its counts, so that /metrics adds them up
# (prometheus-client's multiprocess mode, which reads the variable itself); see README.
PROMETHEUS_MULTIPROC_DIR = env.str("PROMETHEUS_MULTIPROC_DIR", default="")
