"""Production: every secret comes from the environment, and the process refuses to start
without real values."""

from django.core.exceptions import ImproperlyConfigured

from config.env import env
from config.log import logging_config
from config.settings.base import *  # noqa: F403
from config.settings.base import (
    FIELD_ENCRYPTION_KEYS,
    LOG_LEVEL,
    REDIS_URL,
    SECRET_KEY,
    STORAGES,
)

DEBUG = False

_missing = [
    name
    for name, value in (
        ("SECRET_KEY", SECRET_KEY),
        ("DATABASE_URL", env.str("DATABASE_URL", default="")),
        ("FIELD_ENCRYPTION_KEYS", FIELD_ENCRYPTION_KEYS),
        ("REDIS_URL", REDIS_URL),
        ("CELERY_BROKER_URL", env.str("CELERY_BROKER_URL", default="")),
        ("ALLOWED_HOSTS", env.str("ALLOWED_HOSTS", default="")),
    )
    if not value
]
if _missing:
    raise ImproperlyConfigured(
        "Production settings need these environment variables: " + ", ".join(_missing)
    )
if len(SECRET_KEY) < 50 or len(set(SECRET_KEY)) < 5 or SECRET_KEY.startswith("django-insecure"):
    raise ImproperlyConfigured(
        "SECRET_KEY is too weak: use at least 50 random characters "
        "(python -c 'import secrets; print(secrets.token_urlsafe(50))')."
    )

# Behind a TLS-terminating proxy that sets X-Forwarded-Proto.
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
# Probes and scrapes reach the processes directly, inside the network.
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$", r"^metrics$"]
SESSION_COOKIE_SECURE = True
CSRF_COOKIE_SECURE = True
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
SECURE_HSTS_PRELOAD = True

STORAGES = {
    **STORAGES,
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}

# One JSON object per line (time, level, logger, message, request_id), for a log collector.
LOG_FORMAT = env.str("LOG_FORMAT", default="json")
LOGGING = logging_config(level=LOG_LEVEL, fmt=LOG_FORMAT)
