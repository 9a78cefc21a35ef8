import socket

import pytest
from django.test import override_settings

from config.celery import app as celery_app


def closed_port() -> int:
    """A loopback port with nothing listening on it."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_all_services_up_is_200(client, db):
    response = client.get("/healthz")

    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert {body["database"], body["cache"], body["broker"]} == {"ok"}


def test_cache_down_is_503_naming_the_cache(client, db, settings):
    port = closed_port()
    with override_settings(
        CACHES={
            "default": {
                "BACKEND": "django_redis.cache.RedisCache",
                "LOCATION": f"redis://127.0.0.1:{port}/0",
                "OPTIONS": {"SOCKET_CONNECT_TIMEOUT": 1, "SOCKET_TIMEOUT": 1},
            }
        }
    ):
        response = client.get("/healthz")

    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "error"
    assert body["cache"] == "error"
    assert body["database"] == "ok"
    assert body["broker"] == "ok"
    assert str(port) not in response.content.decode()


def test_broker_down_is_503_naming_the_broker(client, db, monkeypatch):
    port = closed_port()
    monkeypatch.setattr(celery_app.conf, "broker_url", f"redis://:hunter2@127.0.0.1:{port}/0")

    response = client.get("/healthz")

    assert response.status_code == 503
    body = response.json()
    assert body["broker"] == "error"
    assert body["database"] == "ok" and body["cache"] == "ok"
    assert "hunter2" not in response.content.decode()


@pytest.fixture
def database_unreachable(transactional_db):
    """The default database's connection points at a closed port for one test."""
    from django.db import connections

    original = dict(connections["default"].settings_dict)
    connections["default"].close()
    connections["default"].settings_dict.update(PORT=closed_port(), CONN_HEALTH_CHECKS=False)
    yield
    connections["default"].close()
    connections["default"].settings_dict.clear()
    connections["default"].settings_dict.update(original)


def test_database_down_is_503_naming_the_database(client, database_unreachable):
    response = client.get("/healthz")

    assert response.status_code == 503
    assert response.json()["database"] == "error"


@pytest.fixture
def counted(monkeypatch):
    """Every check counted as it runs (and still run for real)."""
    from apps.core import health

    calls = {name: 0 for name in health.CHECKS}

    def counting(name, check):
        def run():
            calls[name] += 1
            check()

        return run

    for name, check in list(health.CHECKS.items()):
        monkeypatch.setitem(health.CHECKS, name, counting(name, check))
    return calls


def test_a_flood_of_probes_checks_each_dependency_once_per_interval(client, db, counted,
                                                                    settings, monkeypatch):  # fmt: skip
    from apps.core import health

    settings.HEALTH_CHECK_SECONDS = 5
    now = [1000.0]
    monkeypatch.setattr(health.time, "monotonic", lambda: now[0])
    for _ in range(25):
        assert client.get("/healthz").status_code == 200
        assert client.get("/readyz").status_code == 200
    assert counted == {"database": 1, "cache": 1, "broker": 1}

    now[0] += 4.9
    client.get("/healthz")
    assert counted["broker"] == 1
    now[0] += 0.2  # past the interval: checked again, once
    client.get("/healthz")
    client.get("/readyz")
    assert counted == {"database": 2, "cache": 2, "broker": 2}


def test_threads_probing_at_once_share_one_broker_check(db, counted, monkeypatch):
    import threading
    import time

    from apps.core import health

    slow = health.CHECKS["broker"]

    def slow_broker():
        time.sleep(0.3)  # a broker that is slow to answer
        slow()

    monkeypatch.setitem(health.CHECKS, "broker", slow_broker)
    outcomes = []
    threads = [threading.Thread(target=lambda: outcomes.append(health.check_outcome("broker")))
               for _ in range(8)]  # fmt: skip
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert outcomes == [None] * 8
    assert counted["broker"] == 1


def test_a_failure_is_remembered_too_and_healthz_keeps_its_shape(client, db, monkeypatch):
    from apps.core import health

    calls = []

    def broker_down():
        calls.append(1)
        raise ConnectionRefusedError("redis://:hunter2@broker:6379")

    monkeypatch.setitem(health.CHECKS, "broker", broker_down)
    first, second = client.get("/healthz"), client.get("/healthz")
    assert first.status_code == second.status_code == 503
    assert len(calls) == 1
    body = first.json()
    assert list(body) == ["database", "cache", "broker", "status", "errors", "worker_last_seen"]
    assert body["errors"] == {"broker": "ConnectionRefusedError"}
    assert "hunter2" not in first.content.decode()


def test_readyz_is_200_when_database_cache_and_broker_answer(client, db):
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json() == {"database": "ok", "cache": "ok", "broker": "ok", "status": "ok"}
    assert "no-cache" in response["Cache-Control"]


@pytest.mark.parametrize("down", ["database", "cache", "broker"])
def test_readyz_is_503_naming_the_dependency_that_is_down(client, db, monkeypatch, down):
    from apps.core import health

    def fails():
        raise TimeoutError("no answer")

    monkeypatch.setitem(health.CHECKS, down, fails)
    response = client.get("/readyz")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "error" and body[down] == "error"
    assert body["errors"] == {down: "TimeoutError"}
    assert {body[name] for name in health.CHECKS if name != down} == {"ok"}


def test_readyz_is_503_when_the_broker_really_is_unreachable(client, db, monkeypatch):
    monkeypatch.setattr(celery_app.conf, "broker_url", f"redis://127.0.0.1:{closed_port()}/0")
    response = client.get("/readyz")
    assert response.status_code == 503 and response.json()["broker"] == "error"


def test_readyz_is_exempt_from_the_https_redirect_like_healthz(client, db, settings):
    import ast
    import re
    from pathlib import Path

    source = (Path(settings.BASE_DIR) / "config/settings/production.py").read_text()
    exempt = ast.literal_eval(re.search(r"SECURE_REDIRECT_EXEMPT = (\[.*\])", source).group(1))
    settings.SECURE_SSL_REDIRECT = True
    settings.SECURE_REDIRECT_EXEMPT = exempt
    assert client.get("/readyz").status_code == 200
    assert client.get("/healthz").status_code == 200
    assert client.get("/accounts/login/").status_code == 301
