"""Checks behind /healthz: each dependency answers ok or error, quickly."""

from __future__ import annotations

import logging
import os
import secrets
from collections.abc import Callable
from pathlib import Path

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


def health_report() -> tuple[bool, dict]:
    """Run every check; returns (all ok, JSON-ready report). Error texts never carry URLs."""
    report: dict = {}
    errors: dict[str, str] = {}
    for name, check in CHECKS.items():
        try:
            check()
        except Exception as exc:
            logger.warning("health check %s failed: %s", name, type(exc).__name__)
            report[name] = "error"
            errors[name] = f"{type(exc).__name__}"
        else:
            report[name] = "ok"
    healthy = not errors
    report["status"] = "ok" if healthy else "error"
    if errors:
        report["errors"] = errors
    try:
        last = (
            WorkerHeartbeat.objects.order_by("-seen_at").values_list("seen_at", flat=True).first()
        )
    except Exception:
        last = None
    report["worker_last_seen"] = last.isoformat() if last else None
    return healthy, report
