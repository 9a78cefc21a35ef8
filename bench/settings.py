"""Production settings plus one bench-only view (a bare Django view serving bytes from Redis)."""

from config.settings.production import *  # noqa: F403

ROOT_URLCONF = "bench.urls"
