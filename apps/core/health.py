"""Checks behind /healthz and /readyz: each dependency answers ok or error, quickly.

A check's outcome is remembered in the process for ``settings.HEALTH_CHECK_SECONDS``, so a
flood of probes costs the broker, the cache and the database one check each per interval per
process, not one per request (a broker that is down would otherwise hold every probe for its
connect timeout). While one thread runs a check, the others wait for its outcome."""

from __future__ import annotations

import logging
import os
import secrets
import threading
import time
from collections.abc import Callable
from pathlib import Path

from django.conf import settings
from django.core.cache import cache
from django.db import connection

from apps.core.models import WorkerHeartbeat
from config.celery import app as celery_app

logger = logging.getLogger(__name__)


def check_database() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()


def check_cache() -> None:
    nonce = secrets.token_hex(8)
    cache.set("healthz:probe", nonce, timeout=10)
    if cache.get("healthz:probe") != nonce:
        raise RuntimeError("the cache did not return what was written")


def check_broker() -> None:
    url = celery_app.conf.broker_url or ""
    if url.startswith("filesystem://"):
        options = celery_app.conf.broker_transport_options or {}
        for key in ("data_folder_in", "data_folder_out"):
            folder = Path(options[key])
            if not folder.is_dir() or not os.access(folder, os.W_OK):
                raise RuntimeError(f"broker folder {folder} is missing or not writable")
        return
    with celery_app.connection_for_write(connect_timeout=2) as conn:
        conn.ensure_connection(max_retries=1, interval_start=0, interval_step=0, timeout=3)


CHECKS: dict[str, Callable[[], None]] = {
    "database": check_database,
    "cache": check_cache,
    "broker": check_broker,
}


# name -> (monotonic time it was checked, None when ok or the error's class name)
_outcomes: dict[str, tuple[float, str | None]] = {}
_locks = {name: threading.Lock() for name in CHECKS}


def forget() -> None:
    """Drop every remembered outcome (the next probe checks again)."""
    _outcomes.clear()


def _fresh(name: str, max_age: float) -> tuple[float, str | None] | None:
    outcome = _outcomes.get(name)
    if outcome is not None and time.monotonic() - outcome[0] < max_age:
        return outcome
    return None


def check_outcome(name: str) -> str | None:
    """None when the check ``name`` passes, else its error's class name (never a message: an
    exception's text may carry a URL with a password). Remembered for HEALTH_CHECK_SECONDS."""
    max_age = settings.HEALTH_CHECK_SECONDS
    if (outcome := _fresh(name, max_age)) is not None:
        return outcome[1]
    with _locks[name]:
        if (outcome := _fresh(name, max_age)) is not None:  # another thread just checked
            return outcome[1]
        error: str | None = None
        try:
            CHECKS[name]()
        except Exception as exc:
            logger.warning("health check %s failed: %s", name, type(exc).__name__)
            error = type(exc).__name__
        _outcomes[name] = (time.monotonic(), error)
        return error


def readiness() -> tuple[bool, dict]:
    """Database, cache and broker: (all ok, ``{"status", "database", "cache", "broker"}``
    with ``errors`` naming the failures' classes)."""
    report: dict = {}
    errors: dict[str, str] = {}
    for name in CHECKS:
        error = check_outcome(name)
        report[name] = "ok" if error is None else "error"
        if error is not None:
            errors[name] = error
    healthy = not errors
    report["status"] = "ok" if healthy else "error"
    if errors:
        report["errors"] = errors
    return healthy, report


def health_report() -> tuple[bool, dict]:
    """Every check; returns (all ok, JSON-ready report): readiness's, with the age of the
    workers' last heartbeat. Error texts never carry URLs."""
    healthy, report = readiness()
    try:
        last = (
            WorkerHeartbeat.objects.order_by("-seen_at").values_list("seen_at", flat=True).first()
        )
    except Exception:
        last = None
    report["worker_last_seen"] = last.isoformat() if last else None
    return healthy, report
