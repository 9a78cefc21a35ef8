"""Log lines: one JSON object per line under production settings (time, level, logger,
message, request_id), plain text locally and in tests; LOG_FORMAT chooses."""

import json
import os
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from django.core.exceptions import ImproperlyConfigured

from config.log import logging_config

ROOT = Path(__file__).resolve().parents[2]

# A request with an id, a line outside any request, and an exception with its traceback.
SCRIPT = """
import logging
import django
django.setup()
from django.test import Client
Client().get("/no-such-page/", HTTP_X_REQUEST_ID="json-rid-1", secure=True)
logging.getLogger("plugboard.probe").info("outside a request: %s", "quoted \\"text\\"")
try:
    1 / 0
except ZeroDivisionError:
    logging.getLogger("plugboard.probe").exception("it broke")
"""


def run_script(tmp_path, **extra: str) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items()
             if not k.startswith(("DJANGO_", "DATABASE_", "LOG_"))}  # fmt: skip
    env = {
        **clean,
        "DJANGO_SETTINGS_MODULE": "config.settings.production",
        "SECRET_KEY": "k" + Fernet.generate_key().decode() + Fernet.generate_key().decode(),
        "DATABASE_URL": "postgres://postgres@127.0.0.1:5432/postgres",
        "FIELD_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
        "REDIS_URL": "redis://127.0.0.1:6379/13",
        "CELERY_BROKER_URL": "redis://127.0.0.1:6379/13",
        "ALLOWED_HOSTS": "testserver",
        "STATIC_ROOT": str(tmp_path),
        **extra,
    }
    return subprocess.run(
        [sys.executable, "-c", SCRIPT], cwd=ROOT, env=env, capture_output=True, text=True,
        timeout=60,
    )  # fmt: skip


def test_production_writes_one_json_object_per_line_with_the_request_id(tmp_path):
    result = run_script(tmp_path)

    assert result.returncode == 0, result.stderr
    lines = [json.loads(line) for line in result.stderr.splitlines() if line.startswith("{")]
    assert len(lines) == 3, result.stderr
    assert all({"time", "level", "logger", "message", "request_id"} <= set(line) for line in lines)
    not_found, outside, broke = lines
    assert (not_found["level"], not_found["logger"], not_found["request_id"]) == (
        "WARNING", "django.request", "json-rid-1",
    )  # fmt: skip
    assert not_found["message"] == "Not Found: /no-such-page/"
    assert outside["message"] == 'outside a request: quoted "text"'
    assert outside["request_id"] is None
    assert datetime.fromisoformat(outside["time"]).utcoffset().total_seconds() == 0
    assert broke["level"] == "ERROR" and "ZeroDivisionError" in broke["exc_info"]


def test_log_format_plain_keeps_text_lines_in_production(tmp_path):
    result = run_script(tmp_path, LOG_FORMAT="plain")

    assert result.returncode == 0, result.stderr
    assert "WARNING django.request [json-rid-1] Not Found: /no-such-page/" in result.stderr
    assert not any(line.startswith("{") for line in result.stderr.splitlines())


def test_an_unknown_log_format_is_refused():
    with pytest.raises(ImproperlyConfigured, match="LOG_FORMAT"):
        logging_config(level="INFO", fmt="xml")
