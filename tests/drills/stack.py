"""Private services for the fault drills: a PostgreSQL cluster and a Redis server of their own,
which a drill may stop, restart or kill without touching the PostgreSQL and Redis that the rest
of the suite (and other checkouts on the machine) share; and Plugboard's own processes run
against them the way an operator runs them — gunicorn and Celery with production settings.

Every process here is started in its own process group and stopped (the group SIGKILLed if it
does not stop) by whoever started it; every wait is bounded.
"""

from __future__ import annotations

import contextlib
import glob
import json
import os
import pwd
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
import redis
import requests
from cryptography.fernet import Fernet

from tests.support.deploy import Service
from tests.support.servers import ALLOWED_NETWORKS, free_port
from tests.support.worker import wait_until as wait_for

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE_DB = "plugboard_template"
COMMAND_TIMEOUT = 120


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


# --- PostgreSQL -------------------------------------------------------------------------------


def _postgres_bin(name: str) -> str:
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(
        glob.glob(f"/usr/lib/postgresql/*/bin/{name}"),
        key=lambda p: int(Path(p).parts[-3]) if Path(p).parts[-3].isdigit() else 0,
    )
    if not candidates:
        raise RuntimeError(
            f"{name} not found: the drills run a private PostgreSQL cluster and need the "
            "PostgreSQL server binaries (apt-get install -y postgresql)."
        )
    return candidates[-1]


class PrivatePostgres:
    """A throwaway cluster on a free port (trust auth on loopback, no fsync), owned by an
    unprivileged user when the tests run as root (initdb refuses root)."""

    def __init__(self) -> None:
        self.port = free_port("127.0.0.1")
        self.folder = Path(tempfile.mkdtemp(prefix="plugboard-drill-pg-"))
        self.data = self.folder / "data"
        self.log = self.folder / "postgres.log"
        self.user = None
        if os.geteuid() == 0:
            for name in ("postgres", "nobody"):
                with contextlib.suppress(KeyError):
                    self.user = pwd.getpwnam(name)
                    break
            os.chown(self.folder, self.user.pw_uid, self.user.pw_gid)
        self.folder.chmod(0o700)
        try:
            self._run(_postgres_bin("initdb"), "-D", str(self.data), "-A", "trust",
                      "-U", "postgres", "--no-sync", "-E", "UTF8", "--locale", "C")  # fmt: skip
            options = (
                f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.folder} "
                "-c fsync=off -c synchronous_commit=off -c full_page_writes=off "
                "-c max_connections=200"
            )
            self._pg_ctl("start", "-o", options, "-l", str(self.log))
        except BaseException:
            self.stop()
            raise

    def _run(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
        command = list(args)
        if self.user is not None:
            command = ["runuser", "-u", self.user.pw_name, "--", *command]
        result = subprocess.run(
            command, capture_output=True, text=True, timeout=timeout, cwd=self.folder
        )
        if result.returncode != 0:
            raise RuntimeError(
                f"{' '.join(args[:2])} failed ({result.returncode}):\n{result.stdout}"
                f"{result.stderr}\n{self.log_tail()}"
            )
        return result

    def _pg_ctl(self, action: str, *args: str) -> None:
        # With -l the server's output goes to the log, never to (and holding open) our pipes.
        self._run(_postgres_bin("pg_ctl"), action, "-D", str(self.data), "-w", "-t", "30", *args)

    def restart(self) -> None:
        """``pg_ctl restart -m fast``: every connection is cut, then the server comes back."""
        self._pg_ctl("restart", "-m", "fast", "-l", str(self.log))

    def stop(self) -> None:
        with contextlib.suppress(Exception):
            self._pg_ctl("stop", "-m", "immediate")
        shutil.rmtree(self.folder, ignore_errors=True)

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def url(self, database: str) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/{database}"

    def connect(self, database: str = "postgres") -> psycopg.Connection:
        return psycopg.connect(self.url(database), autocommit=True, connect_timeout=5)

    def create_database(self, name: str, template: str | None = None) -> None:
        statement = f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else "")
        with self.connect() as conn:
            conn.execute(statement)


# --- Redis ------------------------------------------------------------------------------------


class PrivateRedis:
    """``redis-server`` on a free port, without persistence (a restart forgets everything, as a
    cache's Redis should); ``stop`` and ``start`` again keep the port."""

    def __init__(self) -> None:
        if not shutil.which("redis-server"):
            raise RuntimeError(
                "redis-server not found: the drills run a private Redis "
                "(apt-get install -y redis-server)."
            )
        self.port = free_port("127.0.0.1")
        self.proc: subprocess.Popen | None = None
        self.start()

    def start(self) -> None:
        assert self.proc is None or self.proc.poll() is not None
        self.proc = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--daemonize", "no", "--loglevel", "warning"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
        )  # fmt: skip
        wait_for(lambda: self.client().ping() if port_open(self.port) else False, 15)

    def stop(self) -> None:
        """Gone at once (SIGKILL: nothing saved, every connection cut)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)
        wait_for(lambda: not port_open(self.port), 10)

    def client(self, db: int = 0) -> redis.Redis:
        return redis.Redis(host="127.0.0.1", port=self.port, db=db, socket_timeout=2)

    def url(self, db: int) -> str:
        return f"redis://127.0.0.1:{self.port}/{db}"


# --- Plugboard's processes --------------------------------------------------------------------


def production_env(*, database_url: str, redis_url: str, broker_url: str, ca_pem: Path,
                   folder: Path, extra: dict[str, str] | None = None) -> dict[str, str]:  # fmt: skip
    """Production settings with every variable they require, on the private services; the
    outbound policy trusts the test CA and opens the loopback test servers."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("DJANGO_", "PLUGBOARD_", "CELERY_", "BULK_", "EVENTS_"))}  # fmt: skip
    env.update(
        DJANGO_SETTINGS_MODULE="config.settings.production",
        SECRET_KEY=secrets.token_urlsafe(64),
        DATABASE_URL=database_url,
        REDIS_URL=redis_url,
        CELERY_BROKER_URL=broker_url,
        FIELD_ENCRYPTION_KEYS=Fernet.generate_key().decode(),
        ALLOWED_HOSTS="127.0.0.1,localhost",
        STATIC_ROOT=str(folder / "static"),
        BULK_STORAGE_OPTIONS=json.dumps({"location": str(folder / "bulk")}),
        OUTBOUND_CA_BUNDLE=str(ca_pem),
        OUTBOUND_ALLOWED_NETWORKS=",".join(ALLOWED_NETWORKS),
        PYTHONUNBUFFERED="1",
        LOG_LEVEL="INFO",
    )
    env.update(extra or {})
    return env


def manage(env: dict[str, str], *args: str, timeout: float = COMMAND_TIMEOUT) -> str:
    result = subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True,
        text=True, timeout=timeout,
    )  # fmt: skip
    if result.returncode != 0:
        raise RuntimeError(f"manage.py {args[0]} failed:\n{result.stdout}\n{result.stderr}")
    return result.stdout


def shell_json(env: dict[str, str], code: str) -> object:
    """Run ``code`` in ``manage.py shell`` with ``env``; it prints one JSON line last."""
    return json.loads(manage(env, "shell", "-c", code).strip().splitlines()[-1])


class Web:
    """gunicorn serving Plugboard (production settings), as the README's Production section
    runs it; requests come as from a TLS-terminating proxy (X-Forwarded-Proto: https)."""

    def __init__(self, env: dict[str, str], folder: Path, *, name: str = "web", workers: int = 2,
                 threads: int = 4, timeout: int = 30, ready_path: str = "/healthz") -> None:  # fmt: skip
        self.port = free_port("127.0.0.1")
        self.ready_path = ready_path
        self.service = Service(
            name,
            [sys.executable, "-m", "gunicorn", "config.wsgi", "--bind", f"127.0.0.1:{self.port}",
             "--workers", str(workers), "--threads", str(threads), "--timeout", str(timeout),
             "--graceful-timeout", "1", "--no-control-socket", "--access-logfile", "-"],
            env, folder,
        )  # fmt: skip
        try:
            wait_for(lambda: self.answers() or not self.service.running(), 30)
            assert self.service.running(), self.service.tail()
        except BaseException:
            self.stop()
            raise

    def answers(self) -> bool:
        try:
            requests.get(self.url(self.ready_path), timeout=5, headers=PROXY_HEADERS)
        except requests.RequestException:
            return False
        return True

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def stop(self) -> None:
        self.service.stop(timeout=10)


PROXY_HEADERS = {"X-Forwarded-Proto": "https"}


@dataclass
class Api:
    """Calls one web instance with one API key."""

    web: Web
    key: str
    timeout: float = 30
    session: requests.Session = field(default_factory=requests.Session)

    def __post_init__(self) -> None:
        self.session.trust_env = False
        self.session.mount("http://", requests.adapters.HTTPAdapter(pool_maxsize=32))

    def call(self, method: str, path: str, **kwargs) -> requests.Response:
        headers = {**PROXY_HEADERS, "Authorization": f"Bearer {self.key}",
                   **kwargs.pop("headers", {})}  # fmt: skip
        kwargs.setdefault("timeout", self.timeout)
        return self.session.request(method, self.web.url(path), headers=headers, **kwargs)

    def get(self, path: str, **kwargs) -> requests.Response:
        return self.call("GET", path, **kwargs)

    def post(self, path: str, body: object = None, **kwargs) -> requests.Response:
        return self.call("POST", path, json=body, **kwargs)

    def delete(self, path: str, **kwargs) -> requests.Response:
        return self.call("DELETE", path, **kwargs)

    def with_key(self, key: str) -> Api:
        return Api(self.web, key, self.timeout)

    def on(self, web: Web) -> Api:
        return Api(web, self.key, self.timeout)


def timed(call: Callable[[], requests.Response]) -> tuple[requests.Response | Exception, float]:
    """(the answer or the exception, seconds it took)."""
    started = time.monotonic()
    try:
        result: requests.Response | Exception = call()
    except requests.RequestException as exc:
        result = exc
    return result, time.monotonic() - started


def error_code(response: requests.Response) -> str | None:
    try:
        return response.json()["error"]["code"]
    except (ValueError, KeyError, TypeError):
        return None


@dataclass
class Stack:
    """One module's Plugboard: its own database (a copy of the migrated template) on the private
    cluster, the private Redis (flushed), and the environment every process gets."""

    postgres: PrivatePostgres
    redis: PrivateRedis
    database: str
    env: dict[str, str]
    folder: Path
    services: list = field(default_factory=list)

    def web(self, **kwargs) -> Web:
        web = Web(self.env, self.folder, **kwargs)
        self.services.append(web)
        return web

    def sql(self, query: str, params: tuple = ()) -> list[tuple]:
        with self.postgres.connect(self.database) as conn:
            cursor = conn.execute(query, params)
            return cursor.fetchall() if cursor.description else []

    def send_task(self, name: str, *args: object, queue: str = "celery") -> None:
        """Publish a task by name on the private broker, as beat or the web would."""
        from celery import Celery

        app = Celery(broker=self.env["CELERY_BROKER_URL"])
        try:
            app.send_task(name, args=list(args), queue=queue)
        finally:
            app.close()

    def seed_tenant(self, slug: str) -> dict:
        """A tenant with an owner and an admin key (the key is shown once, here)."""
        code = (
            "import json\n"
            "from apps.tenants.models import Role\n"
            "from apps.tenants.services import api_key_create, membership_set, tenant_create, "
            "user_get_or_create\n"
            f"tenant = tenant_create(slug={slug!r}, name={slug.title()!r})\n"
            f"user, password = user_get_or_create(username={slug + '-owner'!r})\n"
            "membership_set(tenant=tenant, user=user, role=Role.OWNER)\n"
            "key, raw = api_key_create(tenant=tenant, scope='admin', name='drill admin')\n"
            "print(json.dumps({'tenant_id': tenant.pk, 'user': user.username, "
            "'password': password, 'key': raw, 'key_id': str(key.pk)}))\n"
        )
        return shell_json(self.env, code)  # type: ignore[return-value]

    def stop(self) -> None:
        for service in reversed(self.services):
            with contextlib.suppress(Exception):
                if hasattr(service, "kill"):  # a Celery worker: nothing of it is kept
                    service.kill()
                service.stop()
        self.services.clear()


def create_key(api: Api, name: str, scope: str = "admin") -> tuple[str, str]:
    """(id, raw key) of a new key of ``api``'s tenant."""
    body: dict = {"scope": scope, "name": name}
    if scope == "widget":
        body["allowed_origins"] = ["https://shop.example.com"]
    response = api.post("/api/v1/api-keys/", body)
    assert response.status_code == 201, response.text
    return response.json()["id"], response.json()["key"]


def create_datasource(api: Api, **fields) -> dict:
    body = {"name": f"Drill {secrets.token_hex(3)}", "type": "rest", "timeout_seconds": 5,
            "auth": {"mode": "none"}, **fields}  # fmt: skip
    response = api.post("/api/v1/datasources/", body)
    assert response.status_code == 201, response.text
    return response.json()


def create_item(api: Api, datasource_id: str, key: str, path: str, **fields) -> dict:
    body = {"key": key, "name": key.title(), "datasource": datasource_id, "method": "GET",
            "path": path, "results_path": "", "value": "{key}", "label": "{name}", **fields}  # fmt: skip
    response = api.post("/api/v1/items/", body)
    assert response.status_code == 201, response.text
    return response.json()


def upstream_counts(upstream) -> dict:
    """The test upstream's own count of calls, by path and query."""
    import ssl
    import urllib.request

    context = ssl.create_default_context(cafile=str(upstream.ca_pem))
    url = f"https://127.0.0.2:{upstream.port}/_test/counts"
    with urllib.request.urlopen(url, context=context, timeout=10) as response:
        return json.loads(response.read())


def create_cc_source(api: Api, oauth, *, token_url: str | None = None, timeout: int = 5) -> dict:
    """A data source on the test OAuth server's resource (``/api/hello``), authenticated with
    OAuth 2.0 client credentials (its token endpoint, or ``token_url``)."""
    base = f"https://127.0.0.3:{oauth.port}"
    return create_datasource(
        api, base_url=f"{base}/api", timeout_seconds=timeout,
        auth={"mode": "oauth2_client_credentials", "token_url": token_url or f"{base}/o/token/",
              "client_id": "cc-client", "client_secret": "cc-secret-value", "scope": "read",
              "client_auth": "basic"},
    )  # fmt: skip


def token_state(stack: Stack, datasource_id: str) -> dict | None:
    rows = stack.sql(
        "SELECT expires_at, obtained_at, last_refresh_error, expires_at - now() "
        "FROM datasources_tokenstate WHERE datasource_id = %s",
        (datasource_id,),
    )
    if not rows:
        return None
    expires_at, obtained_at, error, left = rows[0]
    return {"expires_at": expires_at, "obtained_at": obtained_at, "error": error,
            "seconds_left": left.total_seconds() if left is not None else None}  # fmt: skip


def expire_token_locally(stack: Stack, datasource_id: str) -> None:
    """As if the stored token's time were up (the provider would still take it)."""
    stack.sql(
        "UPDATE datasources_tokenstate SET expires_at = now() - interval '1 second' "
        "WHERE datasource_id = %s",
        (datasource_id,),
    )
