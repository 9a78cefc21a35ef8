"""Real servers on loopback for the tests: an HTTPS upstream (httpbin plus a few test routes) on
127.0.0.2 and an OAuth 2.0 authorization server (django-oauth-toolkit) on 127.0.0.3, each in its
own gunicorn process, stopped when the session ends."""

from __future__ import annotations

import json
import os
import socket
import ssl
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.tls import TestPKI

ROOT = Path(__file__).resolve().parents[2]
UPSTREAM_IP = "127.0.0.2"
OAUTH_IP = "127.0.0.3"
ALLOWED_NETWORKS = [f"{UPSTREAM_IP}/32", f"{OAUTH_IP}/32"]
TEST_DNS = {
    "upstream.test": [UPSTREAM_IP],
    "oauth.test": [OAUTH_IP],
    "wrong-name.test": [UPSTREAM_IP],  # not in the server certificate
    "api.example.com": ["93.184.216.34"],  # public; only reached through `responses`
    "auth.example.com": ["93.184.216.35"],
}


def free_port(host: str) -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


class ServerProcess:
    def __init__(self, args: list[str], host: str, port: int, env: dict[str, str], log: Path):
        self.host, self.port, self.log = host, port, log
        self._log_handle = open(log, "wb")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            args, cwd=ROOT, env=env, stdout=self._log_handle, stderr=subprocess.STDOUT
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                break
            try:
                with socket.create_connection((host, port), timeout=0.5):
                    return
            except OSError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"server on {host}:{port} did not start:\n{log.read_text()[-3000:]}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        self._log_handle.close()


def gunicorn(app: str, host: str, pki: TestPKI, log: Path, env: dict[str, str] | None = None,
             threads: int = 16) -> ServerProcess:  # fmt: skip
    port = free_port(host)
    args = [
        sys.executable, "-m", "gunicorn", app,
        "--bind", f"{host}:{port}",
        "--certfile", str(pki.cert_pem), "--keyfile", str(pki.key_pem),
        "--worker-class", "gthread", "--workers", "1", "--threads", str(threads),
        "--keep-alive", "30", "--timeout", "120", "--graceful-timeout", "2",
        "--log-level", "warning", "--no-control-socket",
    ]  # fmt: skip
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("DJANGO_")}
    full_env.update(env or {})
    return ServerProcess(args, host, port, full_env, log)


@dataclass
class Upstream:
    port: int
    ca_pem: Path

    def url(self, path: str = "", host: str = "upstream.test") -> str:
        return f"https://{host}:{self.port}{path}"

    @property
    def ip_url(self) -> str:
        return f"https://{UPSTREAM_IP}:{self.port}"


@dataclass
class OAuthServer:
    port: int
    ca_pem: Path

    def url(self, path: str = "", host: str = "oauth.test") -> str:
        return f"https://{host}:{self.port}{path}"

    def call(self, path: str, body: dict | None = None) -> dict | None:
        """Call one of the server's test hooks (not through the product's client)."""
        context = ssl.create_default_context(cafile=str(self.ca_pem))
        data = json.dumps(body or {}).encode() if body is not None else None
        request = urllib.request.Request(
            f"https://{OAUTH_IP}:{self.port}{path}", data=data, method="POST" if data else "GET"
        )
        with urllib.request.urlopen(request, context=context, timeout=10) as response:
            raw = response.read()
        return json.loads(raw) if raw else None

    def stats(self) -> dict:
        return self.call("/_test/stats")  # type: ignore[return-value]


@pytest.fixture(scope="session")
def upstream_server(pki, tmp_path_factory) -> Iterator[Upstream]:
    log = tmp_path_factory.mktemp("logs") / "upstream.log"
    server = gunicorn("tests.support.upstream_app:app", UPSTREAM_IP, pki, log)
    try:
        yield Upstream(port=server.port, ca_pem=pki.ca_pem)
    finally:
        server.stop()


@pytest.fixture(scope="session")
def oauth_server(pki, tmp_path_factory) -> Iterator[OAuthServer]:
    folder = tmp_path_factory.mktemp("oauth")
    env = {
        "OAUTH_SERVER_DB": str(folder / "oauth.sqlite3"),
        "DJANGO_SETTINGS_MODULE": "tests.support.oauth_server.settings",
    }
    setup_env = {**{k: v for k, v in os.environ.items() if not k.startswith("DJANGO_")}, **env}
    subprocess.run(
        [sys.executable, "-m", "tests.support.oauth_server.setup_server", "http://testserver/oauth/callback/"],
        cwd=ROOT, env=setup_env, check=True, timeout=120,
    )  # fmt: skip
    server = gunicorn("tests.support.oauth_server.wsgi:application", OAUTH_IP, pki,
                      folder / "oauth.log", env=env)  # fmt: skip
    try:
        yield OAuthServer(port=server.port, ca_pem=pki.ca_pem)
    finally:
        server.stop()


@pytest.fixture
def test_dns(monkeypatch):
    """Resolve the test names (upstream.test, oauth.test...) for the duration of one test; the
    table may be extended by the test. Other names resolve as usual."""
    real = socket.getaddrinfo
    table = dict(TEST_DNS)

    def fake(host, port, family=0, type=0, proto=0, flags=0):
        if host in table:
            return [
                (socket.AF_INET6 if ":" in ip else socket.AF_INET, socket.SOCK_STREAM, 6, "",
                 (ip, port, 0, 0) if ":" in ip else (ip, port))
                for ip in table[host]
            ]  # fmt: skip
        if host.endswith(".test") or host.endswith(".example.com"):
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return real(host, port, family, type, proto, flags)

    monkeypatch.setattr(socket, "getaddrinfo", fake)
    return table


@pytest.fixture
def outbound_to_loopback(settings, pki, test_dns):
    """Trust the test CA and open exactly the two loopback servers' addresses."""
    settings.OUTBOUND_CA_BUNDLE = str(pki.ca_pem)
    settings.OUTBOUND_ALLOWED_NETWORKS = list(ALLOWED_NETWORKS)
    return settings


@pytest.fixture
def upstream(upstream_server, outbound_to_loopback) -> Upstream:
    return upstream_server


@pytest.fixture
def oauth(oauth_server, outbound_to_loopback) -> OAuthServer:
    return oauth_server


@dataclass
class PlugboardServer:
    """Plugboard itself under gunicorn (plain HTTP on loopback), on the test database."""

    port: int
    process: ServerProcess

    def url(self, path: str = "") -> str:
        return f"http://127.0.0.1:{self.port}{path}"


@pytest.fixture(scope="session")
def plugboard_server(django_db_setup, django_db_blocker, pki, tmp_path_factory):
    """For what only a real server shows: paths as the client wrote them (RAW_URI), streaming,
    memory. Tests using it write with ``transaction=True`` so that the server sees their rows;
    it resolves no test names, so data sources name the loopback servers by address."""
    from tests.support.worker import worker_env

    port = free_port("127.0.0.1")
    log = tmp_path_factory.mktemp("logs") / "plugboard.log"
    env = worker_env({
        "OUTBOUND_CA_BUNDLE": str(pki.ca_pem),
        "OUTBOUND_ALLOWED_NETWORKS": ",".join(ALLOWED_NETWORKS),
    })  # fmt: skip
    args = [
        sys.executable, "-m", "gunicorn", "config.wsgi", "--bind", f"127.0.0.1:{port}",
        "--worker-class", "gthread", "--workers", "2", "--threads", "4",
        "--timeout", "120", "--graceful-timeout", "2", "--log-level", "warning",
        "--no-control-socket",
    ]  # fmt: skip
    with django_db_blocker.unblock():
        process = ServerProcess(args, "127.0.0.1", port, env, log)
    try:
        yield PlugboardServer(port=port, process=process)
    finally:
        process.stop()


class UpstreamCounters:
    """Reads the upstream's own count of calls (not the product's idea of them)."""

    def __init__(self, upstream):
        self.upstream = upstream
        self.context = ssl.create_default_context(cafile=str(upstream.ca_pem))

    def _get(self, path):
        url = f"https://{UPSTREAM_IP}:{self.upstream.port}{path}"
        with urllib.request.urlopen(url, context=self.context, timeout=10) as response:
            return json.loads(response.read())

    def calls(self, path: str) -> int:
        return self._get("/_test/counts").get(path, 0)

    def fail_with(self, value: str) -> None:
        self._get(f"/_test/switch?name=fail&value={value}")


@pytest.fixture
def counters(upstream):
    counters = UpstreamCounters(upstream)
    counters.fail_with("")
    counters._get("/_test/counts?reset=1")
    yield counters
    counters.fail_with("")
