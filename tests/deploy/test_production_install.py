"""Deployment smoke test: a production install, made and run the way README's Production section
says, with nothing from the dev requirements to hide a missing runtime dependency.

From a clean virtualenv of ``requirements/production.txt`` alone (tests/support/deploy.py), with
``config.settings.production`` and every variable it requires, against a fresh PostgreSQL
database and Redis DB 13 (the other tests use 15 and 14): ``check --deploy``, ``migrate`` and
``collectstatic``, then gunicorn, ``celery worker`` and ``celery beat`` as separate processes.

Beat does not send an interval task when it starts: a new schedule file records each entry as
run "now", so the heartbeat would first go out 60 s later. Rather than wait, the schedule file
is written beforehand through Celery's own ``PersistentScheduler`` as a beat stopped an hour ago
would have left it; every entry of ``CELERY_BEAT_SCHEDULE`` is then overdue and beat sends it at
its first tick, as it does after any restart. Production settings are not changed for the test.

Runs on one machine take turns (a lock in the temporary folder): they share Redis DB 13, whose
keys this test deletes, and the ``plugboard_deploy_*`` databases, which it drops.
"""

from __future__ import annotations

import json
import os
import secrets
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest
import redis
from cryptography.fernet import Fernet
from django.conf import settings
from psycopg import sql

from config.schedule import BEAT_SCHEDULE
from tests.support.deploy import ROOT, Service, file_lock, production_venv
from tests.support.servers import free_port

pytestmark = [pytest.mark.deploy, pytest.mark.timeout(1200)]

REDIS_DB = 13
REDIS_PATTERNS = ("pb:*", "_kombu.*", "celery*", "unacked*")  # the cache's and Kombu's keys
DATABASE_PREFIX = "plugboard_deploy_"
LOCK = Path(tempfile.gettempdir()) / "plugboard-deploy-smoke.lock"
LOCK_WAIT = 300
COMMAND_TIMEOUT = 180

SEED_SCHEDULE = """
from datetime import timedelta
from celery.beat import PersistentScheduler
from config.celery import app
scheduler = PersistentScheduler(app=app, schedule_filename={path!r})
for name in app.conf.beat_schedule:
    entry = scheduler.schedule[name]
    entry.last_run_at = entry.default_now() - timedelta(hours=1)
scheduler.close()
"""
METRICS_TOKEN = secrets.token_urlsafe(32)
SEND_HEARTBEAT = "from apps.core.tasks import worker_heartbeat; worker_heartbeat.delay({name!r})"


# --- The services the other tests use: PostgreSQL and Redis ---------------------------------


def postgres() -> psycopg.Connection:
    db = settings.DATABASES["default"]
    return psycopg.connect(
        host=db["HOST"] or "127.0.0.1", port=db["PORT"] or 5432, user=db["USER"],
        password=db["PASSWORD"] or None, dbname="postgres", autocommit=True, connect_timeout=5,
    )  # fmt: skip


def database_url(name: str) -> str:
    db = settings.DATABASES["default"]
    auth = db["USER"] + (f":{db['PASSWORD']}" if db["PASSWORD"] else "")
    return f"postgres://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{name}"


def drop_database(conn: psycopg.Connection, name: str) -> None:
    conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def redis_url() -> str:
    """The test settings' Redis server, DB 13."""
    parts = urlsplit(settings.REDIS_URL)
    return urlunsplit(parts._replace(path=f"/{REDIS_DB}"))


def delete_redis_keys(client: redis.Redis) -> None:
    for pattern in REDIS_PATTERNS:
        keys = list(client.scan_iter(match=pattern, count=500))
        if keys:
            client.delete(*keys)


# --- The deployment -------------------------------------------------------------------------


def wait_until(predicate: Callable[[], object], timeout: float, interval: float = 0.2):
    """``predicate()``'s first truthy value within ``timeout`` seconds, else None."""
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if result or time.monotonic() > deadline:
            return result
        time.sleep(interval)


class Deployment:
    def __init__(self, venv: Path, env: dict[str, str], folder: Path) -> None:
        self.venv, self.env, self.folder = venv, env, folder
        self.static_root = Path(env["STATIC_ROOT"])
        self.port = free_port("127.0.0.1")
        self.services: dict[str, Service] = {}
        self.steps: dict[str, subprocess.CompletedProcess] = {}

    @property
    def python(self) -> str:
        return str(self.venv / "bin" / "python")

    def manage(self, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [self.python, "manage.py", *args], cwd=ROOT, env=self.env,
            capture_output=True, text=True, timeout=COMMAND_TIMEOUT,
        )  # fmt: skip

    def spawn(self, *args: str) -> subprocess.Popen:
        return subprocess.Popen(
            [self.python, *args], cwd=ROOT, env=self.env,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip

    def prepare(self) -> None:
        """check --deploy, migrate, collectstatic and the beat schedule file, side by side."""
        steps = {
            "check": ["check", "--deploy", "--fail-level", "WARNING"],
            "migrate": ["migrate", "--noinput"],
            "collectstatic": ["collectstatic", "--noinput"],
            "seed-schedule": ["shell", "-c", SEED_SCHEDULE.format(path=str(self.schedule_file))],
        }
        running = {name: self.spawn("manage.py", *args) for name, args in steps.items()}
        deadline = time.monotonic() + COMMAND_TIMEOUT
        for name, proc in running.items():
            try:
                out, err = proc.communicate(timeout=max(deadline - time.monotonic(), 1))
            except subprocess.TimeoutExpired:
                proc.kill()
                out, err = proc.communicate(timeout=10)
                err += f"\n(killed after {COMMAND_TIMEOUT} s)"
            self.steps[name] = subprocess.CompletedProcess(proc.args, proc.returncode, out, err)
        for name in ("migrate", "collectstatic", "seed-schedule"):  # what the services need
            result = self.steps[name]
            assert result.returncode == 0, f"{name} failed:\n{result.stdout}\n{result.stderr}"

    @property
    def schedule_file(self) -> Path:
        return self.folder / "celerybeat-schedule"

    def start(self) -> None:
        bin_ = self.venv / "bin"
        commands = {
            "gunicorn": [str(bin_ / "gunicorn"), "config.wsgi",
                         "--bind", f"127.0.0.1:{self.port}", "--workers", "2", "--threads", "4",
                         "--graceful-timeout", "5", "--access-logfile", "-",
                         "--control-socket", str(self.folder / "gunicorn.ctl")],
            "worker": [str(bin_ / "celery"), "-A", "config", "worker", "--loglevel=INFO",
                       "--concurrency=2", "-n", f"deploy-{uuid.uuid4().hex[:8]}@%h"],
            "beat": [str(bin_ / "celery"), "-A", "config", "beat", "--loglevel=INFO",
                     "--schedule", str(self.schedule_file)],
        }  # fmt: skip
        for name, args in commands.items():
            self.services[name] = Service(name, args, self.env, self.folder)
        # Each is waited for, never failed for, here: the tests say which one did not come up.
        wait_until(lambda: self.get("/healthz")[0] or not self.services["gunicorn"].running(), 30)
        self.services["worker"].wait_for_output(" ready.", 60)
        self.services["beat"].wait_for_output("beat: Starting...", 30)

    def stop(self) -> None:
        for service in self.services.values():  # all at once, then each waited for
            service.terminate()
        for service in self.services.values():
            service.stop(timeout=20)

    def get(
        self, path: str, headers: dict[str, str] | None = None
    ) -> tuple[int, bytes, dict[str, str]]:
        """(status, body, headers) as the TLS-terminating proxy would ask; status 0 if no answer."""
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.port}{path}",
            headers={"X-Forwarded-Proto": "https", **(headers or {})},
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return response.status, response.read(), dict(response.headers)
        except urllib.error.HTTPError as error:
            return error.code, error.read(), dict(error.headers)
        except OSError:
            return 0, b"", {}

    def heartbeat_seen(self, name: str) -> bool:
        with psycopg.connect(self.env["DATABASE_URL"], connect_timeout=5) as conn:
            row = conn.execute(
                "SELECT seen_at FROM core_workerheartbeat WHERE name = %s", (name,)
            ).fetchone()
        return row is not None

    def report(self) -> str:
        """The tail of every process's output, for a failure message."""
        return "\n\n" + "\n\n".join(service.tail() for service in self.services.values())


def production_env(venv: Path, database: str, folder: Path) -> dict[str, str]:
    """A clean environment: production settings, every variable they require, nothing else
    from this (dev) process but PATH without the dev venv, HOME and the locale."""
    dev_bins = {os.path.dirname(sys.executable), os.path.dirname(os.path.realpath(sys.executable))}
    path = [p for p in os.environ.get("PATH", "").split(os.pathsep) if p and p not in dev_bins]
    env = {k: v for k, v in os.environ.items() if k in ("HOME", "LANG", "LC_ALL")}
    env.update(
        PATH=os.pathsep.join([str(venv / "bin"), *path]),
        PYTHONUNBUFFERED="1",
        PYTHONNOUSERSITE="1",
        DJANGO_SETTINGS_MODULE="config.settings.production",
        SECRET_KEY=secrets.token_urlsafe(64),
        DATABASE_URL=database_url(database),
        REDIS_URL=redis_url(),
        CELERY_BROKER_URL=redis_url(),
        FIELD_ENCRYPTION_KEYS=Fernet.generate_key().decode(),
        ALLOWED_HOSTS="127.0.0.1",
        STATIC_ROOT=str(folder / "static"),
        METRICS_TOKEN=METRICS_TOKEN,
        PROMETHEUS_MULTIPROC_DIR=str(folder / "metrics"),
    )
    return env


@pytest.fixture(scope="module")
def deployment(tmp_path_factory) -> Iterator[Deployment]:
    venv = production_venv()
    folder = tmp_path_factory.mktemp("deploy")
    with file_lock(LOCK, timeout=LOCK_WAIT):
        cache = redis.Redis.from_url(redis_url(), socket_timeout=5)
        database = f"{DATABASE_PREFIX}{uuid.uuid4().hex[:8]}"
        deployment = None
        try:
            with postgres() as conn:
                # Under the lock, any other deploy database or DB 13 key was left by a killed run.
                for (stale,) in conn.execute(
                    "SELECT datname FROM pg_database WHERE datname LIKE 'plugboard\\_deploy\\_%'"
                ).fetchall():
                    drop_database(conn, stale)
                delete_redis_keys(cache)
                conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(database)))
            deployment = Deployment(venv, production_env(venv, database, folder), folder)
            deployment.prepare()
            deployment.start()
            yield deployment
        finally:
            if deployment is not None:
                deployment.stop()
            with postgres() as conn:
                drop_database(conn, database)
            delete_redis_keys(cache)
            cache.close()


# --- The tests ------------------------------------------------------------------------------


def test_the_installed_set_is_consistent(deployment):
    result = subprocess.run(
        [deployment.python, "-m", "pip", "check"], capture_output=True, text=True, timeout=60
    )

    assert result.returncode == 0, result.stdout + result.stderr


def test_check_deploy_passes_without_warnings(deployment):
    result = deployment.steps["check"]

    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_healthz_reports_database_cache_and_broker_ok(deployment):
    status, body, _ = deployment.get("/healthz")

    assert status == 200, f"/healthz answered {status}: {body!r}{deployment.report()}"
    report = json.loads(body)
    assert (report["database"], report["cache"], report["broker"]) == ("ok", "ok", "ok")


def test_a_task_sent_by_the_app_runs_on_the_worker(deployment):
    worker = deployment.services["worker"]
    assert worker.running(), f"the worker is not running{deployment.report()}"
    name = f"deploy-probe-{uuid.uuid4().hex[:8]}"

    sent = deployment.manage("shell", "-c", SEND_HEARTBEAT.format(name=name))

    assert sent.returncode == 0, sent.stdout + sent.stderr + deployment.report()
    assert wait_until(lambda: deployment.heartbeat_seen(name), timeout=30), (
        f"the worker did not record heartbeat {name!r}{deployment.report()}"
    )
    assert "apps.core.tasks.worker_heartbeat" in worker.output()


def test_beat_sends_every_scheduled_task_and_the_worker_runs_it(deployment):
    beat, worker = deployment.services["beat"], deployment.services["worker"]

    for name, entry in BEAT_SCHEDULE.items():
        assert beat.wait_for_output(f"Sending due task {name} ", 30), (
            f"beat did not send {name}{deployment.report()}"
        )
        assert wait_until(lambda task=entry["task"]: _succeeded(worker.output(), task), 30), (
            f"the worker did not run {entry['task']}{deployment.report()}"
        )
    # The scheduled heartbeat carries no name: the worker records its host name.
    assert deployment.heartbeat_seen(socket.gethostname()), deployment.report()
    status, body, _ = deployment.get("/healthz")
    assert status == 200
    assert json.loads(body)["worker_last_seen"] is not None


def _succeeded(output: str, task: str) -> bool:
    return any(f"Task {task}[" in line and "succeeded" in line for line in output.splitlines())


def test_collected_static_files_are_served_by_gunicorn(deployment):
    manifest = json.loads((deployment.static_root / "staticfiles.json").read_text())
    hashed = manifest["paths"]["admin/css/base.css"]

    status, body, headers = deployment.get(f"/static/{hashed}")

    assert status == 200, f"/static/{hashed} answered {status}{deployment.report()}"
    assert body == (deployment.static_root / hashed).read_bytes()
    assert "immutable" in headers.get("Cache-Control", "")


def _healthz_count(deployment) -> float:
    status, body, _ = deployment.get("/metrics", {"Authorization": f"Bearer {METRICS_TOKEN}"})
    assert status == 200, f"/metrics answered {status}{deployment.report()}"
    line = next(
        (line for line in body.decode().splitlines()
         if line.startswith("plugboard_http_requests_total{") and 'route="healthz"' in line
         and 'status="200"' in line),
        None,
    )  # fmt: skip
    return float(line.rsplit(" ", 1)[1]) if line else 0.0


def test_metrics_add_up_every_process_and_stay_private(deployment):
    assert deployment.get("/metrics")[0] == 404
    assert deployment.get("/metrics", {"Authorization": "Bearer wrong"})[0] == 404
    before = _healthz_count(deployment)

    for _ in range(20):
        assert deployment.get("/healthz")[0] == 200

    # Whichever gunicorn worker answers a scrape, it adds up what every process counted.
    assert [_healthz_count(deployment) - before for _ in range(4)] == [20.0] * 4
    # Each gunicorn worker keeps its counts in files of its own there.
    master = deployment.services["gunicorn"].proc.pid
    workers = Path(f"/proc/{master}/task/{master}/children").read_text().split()
    files = {path.name for path in (deployment.folder / "metrics").iterdir()}
    assert len(workers) == 2 and {f"counter_{pid}.db" for pid in workers} <= files, files


def test_production_logs_are_json_lines_with_request_ids(deployment):
    status, _, headers = deployment.get("/no-such-page/", {"X-Request-ID": "deploy-probe-1"})

    assert status == 404 and headers.get("X-Request-ID") == "deploy-probe-1"
    gunicorn = deployment.services["gunicorn"]
    assert gunicorn.wait_for_output('"request_id": "deploy-probe-1"', 10), deployment.report()
    line = next(line for line in gunicorn.output().splitlines() if "deploy-probe-1" in line)
    record = json.loads(line)
    assert {"time", "level", "logger", "message", "request_id"} <= set(record)
    assert record["message"] == "Not Found: /no-such-page/"
    worker_lines = [line for line in deployment.services["worker"].output().splitlines()
                    if line.startswith("{")]  # fmt: skip
    assert worker_lines and all("request_id" in json.loads(line) for line in worker_lines)
