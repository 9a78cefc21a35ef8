"""Settings: embedded defaults generate their keys; production refuses to start without real
values and passes `check --deploy`."""

import os
import subprocess
import sys
from pathlib import Path

from cryptography.fernet import Fernet

from config.env import ensure_dotenv

ROOT = Path(__file__).resolve().parents[2]


def run_manage(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "DATABASE_"))}
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_first_run_generates_secret_and_encryption_keys(tmp_path):
    dotenv = tmp_path / ".env"

    assert ensure_dotenv(dotenv) is True
    values = dict(line.split("=", 1) for line in dotenv.read_text().splitlines() if "=" in line)
    assert len(values["SECRET_KEY"]) >= 50
    Fernet(values["FIELD_ENCRYPTION_KEYS"].encode())  # a valid key
    assert oct(dotenv.stat().st_mode & 0o777) == "0o600"

    before = dotenv.read_text()
    assert ensure_dotenv(dotenv) is False
    assert dotenv.read_text() == before


def test_production_refuses_to_start_without_real_values():
    result = run_manage("check", env={"DJANGO_SETTINGS_MODULE": "config.settings.production"})

    assert result.returncode != 0
    assert "SECRET_KEY" in result.stderr
    assert "FIELD_ENCRYPTION_KEYS" in result.stderr
    assert "DATABASE_URL" in result.stderr


def test_production_refuses_a_weak_secret_key():
    result = run_manage(
        "check",
        env={
            "DJANGO_SETTINGS_MODULE": "config.settings.production",
            "SECRET_KEY": "short",
            "DATABASE_URL": "postgres://postgres@127.0.0.1:5432/postgres",
            "FIELD_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
            "REDIS_URL": "redis://127.0.0.1:6379/0",
            "CELERY_BROKER_URL": "redis://127.0.0.1:6379/1",
            "ALLOWED_HOSTS": "plugboard.example.com",
        },
    )
    assert result.returncode != 0
    assert "SECRET_KEY is too weak" in result.stderr


def test_production_passes_check_deploy_without_warnings():
    result = run_manage(
        "check",
        "--deploy",
        "--fail-level",
        "WARNING",
        env={
            "DJANGO_SETTINGS_MODULE": "config.settings.production",
            "SECRET_KEY": "k" + Fernet.generate_key().decode() + Fernet.generate_key().decode(),
            "DATABASE_URL": "postgres://postgres@127.0.0.1:5432/postgres",
            "FIELD_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
            "REDIS_URL": "redis://127.0.0.1:6379/0",
            "CELERY_BROKER_URL": "amqp://guest:guest@127.0.0.1:5672//",
            "ALLOWED_HOSTS": "plugboard.example.com",
        },
    )
    assert result.returncode == 0, result.stderr
    assert "no issues" in result.stdout


def test_configuration_mistakes_are_reported_at_start_up(settings):
    from django.core.checks import run_checks

    settings.FIELD_ENCRYPTION_KEYS = ["not-a-key"]
    settings.OUTBOUND_ALLOWED_NETWORKS = ["10.0.0.0/8", "not-a-network"]
    settings.OUTBOUND_CA_BUNDLE = "/nonexistent/ca.pem"

    ids = {message.id for message in run_checks()}

    assert {"plugboard.E002", "plugboard.E003", "plugboard.E004"} <= ids
    settings.FIELD_ENCRYPTION_KEYS = []
    assert "plugboard.E001" in {message.id for message in run_checks()}
