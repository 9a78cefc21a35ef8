"""Settings for the test suite: real PostgreSQL and Redis, fixed throwaway keys.

Names in PostgreSQL and Redis carry a tag derived from the checkout's path, so that two checkouts
on one machine (a developer's and CI's clean clone) never share a test database or queue.
"""

import hashlib

from config.env import BASE_DIR, env
from config.settings.base import *  # noqa: F403

RUN_TAG = env.str(
    "PLUGBOARD_TEST_TAG", default=hashlib.sha256(str(BASE_DIR).encode()).hexdigest()[:8]
)

SECRET_KEY = "plugboard-test-secret-key-not-for-production-" + "x" * 20
DEBUG = False
ALLOWED_HOSTS = ["*"]

DATABASES = {
    "default": env.db("DATABASE_URL", default="postgres://postgres@127.0.0.1:5432/postgres"),
}
DATABASES["default"]["CONN_MAX_AGE"] = 0
DATABASES["default"]["TEST"] = {"NAME": f"test_plugboard_{RUN_TAG}"}

# Redis DB 13 on the same server belongs to the production install test (tests/deploy/).
REDIS_URL = env.str("REDIS_URL", default="redis://127.0.0.1:6379/15")
CACHES = {
    "default": {
        "BACKEND": "django_redis.cache.RedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": f"pbtest-{RUN_TAG}",
        "OPTIONS": {
            "CLIENT_CLASS": "django_redis.client.DefaultClient",
            "SOCKET_CONNECT_TIMEOUT": 1,
            "SOCKET_TIMEOUT": 2,
        },
    }
}

# Tests that need a worker start a real one (tests/support/worker.py) on this broker and queue.
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default="redis://127.0.0.1:6379/14")
CELERY_BROKER_TRANSPORT_OPTIONS = {}
CELERY_TASK_DEFAULT_QUEUE = f"plugboard-test-{RUN_TAG}"

# Fixed throwaway keys, so that a worker process started by the tests decrypts too.
FIELD_ENCRYPTION_KEYS = env.list(
    "FIELD_ENCRYPTION_KEYS", default=["0Pi2H8kOZ6Zq1fUP2zXJsd0mQ4bWcN3dB6bT8P0n1xA="]
)

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

STATIC_ROOT = None
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = True

# Short delivery retries, so that a test (and the test worker) sees a whole schedule.
EVENTS_RETRY_SCHEDULE = env.list("EVENTS_RETRY_SCHEDULE", cast=int, default=[1, 1, 1])
EVENTS_DELIVERY_TIMEOUT = env.float("EVENTS_DELIVERY_TIMEOUT", default=5.0)

# Bulk jobs: files in this run's own folder (the test worker shares it), quick retries and
# leases, so that a test sees a resumed job within seconds.
STORAGES["bulk"]["OPTIONS"] = {"location": str(BASE_DIR / "var" / f"test-bulk-{RUN_TAG}")}  # noqa: F405
BULK_RETRY_BACKOFF = env.list("BULK_RETRY_BACKOFF", cast=float, default=[0.2, 0.4])
BULK_MAX_RETRY_AFTER = env.float("BULK_MAX_RETRY_AFTER", default=5.0)
BULK_LEASE_SECONDS = env.float("BULK_LEASE_SECONDS", default=3.0)
BULK_SWEEP_SECONDS = env.float("BULK_SWEEP_SECONDS", default=1.0)
