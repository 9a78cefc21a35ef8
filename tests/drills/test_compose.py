"""docker/compose.yaml runs the production processes the README names, with the environment
production settings require: migrate once before the rest, gunicorn, a worker for every queue a
task can be routed to, exactly one beat, and the bulk files on storage shared by the web and
the bulk worker.

``docker compose config`` validates the file when the Compose plugin is installed; the checks
below then run on what it resolved. Where it is not (a Docker CLI without the plugin, no
engine), the file is parsed with PyYAML, its variables are filled as Compose would, and the
same checks run on that — and the run says so in its warnings summary, rather than skipping.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
import warnings
from pathlib import Path

import pytest
import yaml
from cryptography.fernet import Fernet

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker" / "compose.yaml"
DOCKERFILE = ROOT / "docker" / "Dockerfile"
DEFAULT_QUEUE = "celery"  # Celery's default; the settings do not rename it
APP_SERVICES = {"migrate", "web", "worker", "worker-events", "worker-bulk", "beat"}
# What an operator puts in docker/.env (the values are throwaway).
OPERATOR_ENV = {
    "SECRET_KEY": "s" * 20 + "-compose-check-" + "k" * 30,
    "FIELD_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
    "POSTGRES_PASSWORD": "compose-check",
    "ALLOWED_HOSTS": "plugboard.example.com",
}
_VARIABLE = re.compile(r"\$\{(\w+)(?:(:?[-?])([^}]*))?\}")

pytestmark = pytest.mark.drill


def compose_available() -> bool:
    if not shutil.which("docker"):
        return False
    probe = subprocess.run(["docker", "compose", "version"], capture_output=True, timeout=30)
    return probe.returncode == 0


def interpolate(value, env: dict[str, str]):
    """Compose's ``${VAR}``, ``${VAR:-default}`` and ``${VAR:?error}``, recursively."""
    if isinstance(value, dict):
        return {k: interpolate(v, env) for k, v in value.items()}
    if isinstance(value, list):
        return [interpolate(v, env) for v in value]
    if not isinstance(value, str):
        return value

    def fill(match: re.Match) -> str:
        name, operator, argument = match.group(1), match.group(2), match.group(3)
        found = env.get(name)
        if operator in (":?", "?") and not found:
            raise AssertionError(f"${{{name}}} is required: {argument}")
        if operator in (":-", "-") and not found:
            return argument
        return found or ""

    return _VARIABLE.sub(fill, value)


def resolved_with_compose() -> dict:
    env = {**{k: v for k, v in os.environ.items() if k in ("PATH", "HOME")}, **OPERATOR_ENV}
    result = subprocess.run(
        ["docker", "compose", "-f", str(COMPOSE), "config"], capture_output=True, text=True,
        env=env, timeout=60,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return yaml.safe_load(result.stdout)


def resolved_by_parsing() -> dict:
    document = yaml.safe_load(COMPOSE.read_text())  # anchors and << merges included
    return interpolate(document, OPERATOR_ENV)


@pytest.fixture(scope="module")
def compose() -> dict:
    if compose_available():
        return resolved_with_compose()
    warnings.warn(
        "`docker compose` is not available on this machine: docker/compose.yaml was checked by "
        "parsing it (PyYAML, variables filled as Compose does), not by `docker compose config`.",
        stacklevel=1,
    )
    return resolved_by_parsing()


def command(service: dict) -> list[str]:
    value = service.get("command")
    if value is None:
        return dockerfile_command()
    return shlex.split(value) if isinstance(value, str) else [str(v) for v in value]


def dockerfile_command() -> list[str]:
    match = re.search(r"^CMD (\[.*?\])\s*$", DOCKERFILE.read_text(), re.M | re.S)
    assert match, "the Dockerfile has no CMD in exec form"
    return yaml.safe_load(match.group(1).replace("\\\n", ""))


def environment(service: dict) -> dict[str, str]:
    value = service.get("environment") or {}
    if isinstance(value, list):
        value = dict(item.split("=", 1) for item in value)
    return {k: "" if v is None else str(v) for k, v in value.items()}


def depends_on(service: dict) -> dict[str, str]:
    value = service.get("depends_on") or {}
    if isinstance(value, list):
        return dict.fromkeys(value, "service_started")
    return {name: spec.get("condition", "service_started") for name, spec in value.items()}


def queues_of(args: list[str]) -> set[str]:
    for flag in ("-Q", "--queues"):
        if flag in args:
            return set(args[args.index(flag) + 1].split(","))
    joined = [a.split("=", 1)[1] for a in args if a.startswith("--queues=")]
    return set(joined[0].split(",")) if joined else {DEFAULT_QUEUE}


def test_the_app_services_are_the_production_processes(compose):
    services = compose["services"]
    assert set(services) >= APP_SERVICES, sorted(services)
    images = {services[name].get("image") for name in APP_SERVICES}
    assert len(images) == 1, f"every process runs the one image: {images}"
    assert command(services["migrate"])[-3:] == ["manage.py", "migrate", "--noinput"]
    assert services["migrate"].get("restart") in ("no", None)
    web = command(services["web"])
    assert web[:2] == ["gunicorn", "config.wsgi"], web
    assert "--threads" in web, "sync workers are killed by gunicorn's timeout mid-request"
    assert "DJANGO_SETTINGS_MODULE=config.settings.production" in DOCKERFILE.read_text()


def test_everything_waits_for_migrate_and_migrate_for_the_database(compose):
    services = compose["services"]
    assert depends_on(services["migrate"]).get("db") == "service_healthy"
    for name in APP_SERVICES - {"migrate"}:
        assert depends_on(services[name]).get("migrate") == "service_completed_successfully", name


def test_the_environment_is_what_production_settings_require_and_the_same_everywhere(compose):
    services = compose["services"]
    envs = {name: environment(services[name]) for name in APP_SERVICES}
    first = envs["web"]
    for name, env in envs.items():
        assert env == first, f"{name}'s environment differs from web's"
    # Production settings load with exactly this environment (and refuse to without it).
    result = subprocess.run(
        [sys.executable, "-c", "import config.settings.production"], cwd=ROOT,
        env={"PATH": os.environ["PATH"], "DJANGO_SETTINGS_MODULE": "config.settings.production",
             **first},
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    # The cache and the broker are separate servers; the cache keeps nothing across a restart.
    cache_host = re.match(r"redis://([^:/]+)", first["REDIS_URL"]).group(1)
    broker_host = re.match(r"redis://([^:/]+)", first["CELERY_BROKER_URL"]).group(1)
    assert cache_host != broker_host
    cache_command = command(services[cache_host])
    assert cache_command[cache_command.index("--save") + 1] == ""
    assert cache_command[cache_command.index("--appendonly") + 1] == "no"


def test_the_metrics_folder_exists_and_starts_empty_in_every_process(compose):
    for name in APP_SERVICES:
        service = compose["services"][name]
        folder = environment(service).get("PROMETHEUS_MULTIPROC_DIR")
        if folder:
            tmpfs = service.get("tmpfs") or []
            assert folder in ([tmpfs] if isinstance(tmpfs, str) else tmpfs), name


def test_a_worker_consumes_every_queue_a_task_can_be_sent_to(compose):
    services = compose["services"]
    env = environment(services["web"])
    routed = {DEFAULT_QUEUE, env.get("EVENTS_QUEUE") or DEFAULT_QUEUE,
              env.get("BULK_QUEUE") or DEFAULT_QUEUE}  # fmt: skip
    consumed: set[str] = set()
    for name, service in services.items():
        args = command(service)
        if args[:4] == ["celery", "-A", "config", "worker"]:
            assert "--beat" not in args and "-B" not in args, f"{name} runs a beat of its own"
            consumed |= queues_of(args)
    assert routed <= consumed, f"queues nobody consumes: {routed - consumed}"
    assert {"events", "bulk"} <= routed, "deliveries and bulk jobs have queues of their own"


def test_exactly_one_beat(compose):
    beats = [name for name, service in compose["services"].items()
             if command(service)[:4] == ["celery", "-A", "config", "beat"]]  # fmt: skip
    assert beats == ["beat"]
    replicas = (compose["services"]["beat"].get("deploy") or {}).get("replicas", 1)
    assert int(replicas) == 1


def test_bulk_files_are_on_a_volume_the_web_and_the_bulk_worker_share(compose):
    services = compose["services"]

    def mounts(service: dict) -> set[tuple[str, str]]:
        found = set()
        for volume in service.get("volumes") or []:
            if isinstance(volume, str):
                source, target = volume.split(":")[:2]
            else:
                source, target = volume.get("source"), volume.get("target")
            found.add((source, target))
        return found

    # The image's default BULK_STORAGE_OPTIONS location (BASE_DIR / var / bulk, BASE_DIR /app).
    assert ("bulk", "/app/var/bulk") in mounts(services["web"])
    assert ("bulk", "/app/var/bulk") in mounts(services["worker-bulk"])
    assert "bulk" in (compose.get("volumes") or {})
    # The folder exists in the image, owned by the user the processes run as, so that the new
    # volume takes its owner.
    assert re.search(
        r"mkdir -p /app/var/bulk && chown -R plugboard /app/var", DOCKERFILE.read_text()
    )


def test_the_image_leaves_out_local_secrets_and_the_development_virtualenv():
    ignored = (ROOT / ".dockerignore").read_text().split()
    for entry in (".env", ".venv", ".git", "var", "db.sqlite3*"):
        assert entry in ignored, entry
