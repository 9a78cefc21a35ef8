"""The logging configuration: plain lines locally and in tests, one JSON object per line in
production; every line carries the request id (``apps.core.request_id``)."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ImproperlyConfigured

FORMATS = ("plain", "json")


def logging_config(*, level: str, fmt: str) -> dict[str, Any]:
    """Django's LOGGING for ``fmt`` (plain or json) at ``level``."""
    if fmt not in FORMATS:
        raise ImproperlyConfigured(f"LOG_FORMAT must be one of {', '.join(FORMATS)}, not {fmt!r}.")
    json_lines = fmt == "json"
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {
            "request_id": {
                "()": "apps.core.request_id.RequestIdFilter",
                # JSON says null where there is no request (beat, a scheduled task's own lines).
                "missing": None if json_lines else "-",
            },
        },
        "formatters": {
            "plain": {"format": "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"},
            "json": {
                "()": "pythonjsonlogger.json.JsonFormatter",
                # time: ISO 8601 in UTC; exceptions come as exc_info, and any extra= fields too.
                "fmt": "%(levelname)s %(name)s %(message)s %(request_id)s",
                "rename_fields": {"levelname": "level", "name": "logger"},
                "timestamp": "time",
            },
        },
        "handlers": {
            "console": {
                "class": "logging.StreamHandler",
                "formatter": fmt,
                "filters": ["request_id"],
            },
        },
        "root": {"handlers": ["console"], "level": level},
        "loggers": {
            "django.db.backends": {"level": "WARNING"},
            # urllib3's debug lines carry request paths and queries, where credentials may ride;
            # the outbound client logs every call itself, with secrets masked.
            "urllib3": {"level": "INFO"},
        },
    }
