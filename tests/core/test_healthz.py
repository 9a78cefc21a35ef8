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
