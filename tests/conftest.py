"""Shared fixtures. Every feature is tested with two tenants, so that isolation is tested too:

- ``acme`` with ``alice`` (owner) and ``victor`` (viewer);
- ``globex`` with ``bob`` (owner).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import pytest
import redis
from django.core.cache import cache
from rest_framework.test import APIClient

from apps.core import health
from apps.core import redis as plugboard_redis
from apps.tenants.models import ApiKey, Role, Tenant
from apps.tenants.services import api_key_create
from tests.factories import MembershipFactory, TenantFactory, UserFactory

pytest_plugins = [
    "tests.support.worker",
    "tests.support.browser",
    "tests.support.tls",
    "tests.support.servers",
    "tests.support.canary",
]

PASSWORD = "correct horse battery"


@dataclass
class TenantWorld:
    tenant: Tenant
    owner: object
    admin_key: ApiKey
    admin_key_raw: str

    def api(self) -> APIClient:
        """An API client authenticated with this tenant's admin key."""
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {self.admin_key_raw}")
        return client


def _world(slug: str, name: str, owner: str) -> TenantWorld:
    tenant = TenantFactory(slug=slug, name=name)
    user = UserFactory(username=owner)
    MembershipFactory(user=user, tenant=tenant, role=Role.OWNER)
    key, raw = api_key_create(tenant=tenant, scope="admin", name=f"{slug} admin")
    return TenantWorld(tenant=tenant, owner=user, admin_key=key, admin_key_raw=raw)


@pytest.fixture
def acme(db) -> TenantWorld:
    return _world("acme", "Acme Corp", "alice")


@pytest.fixture
def globex(db) -> TenantWorld:
    return _world("globex", "Globex", "bob")


@pytest.fixture
def victor(acme):
    """A viewer of acme."""
    user = UserFactory(username="victor")
    MembershipFactory(user=user, tenant=acme.tenant, role=Role.VIEWER)
    return user


@pytest.fixture
def session_client(client):
    """Django's test client, logged in as the given user."""

    def login(user):
        client.force_login(user)
        return client

    return login


@pytest.fixture
def api_session():
    """A DRF client on a logged-in session (CSRF checks on, as in a browser)."""

    def make(user, tenant_slug: str | None = None) -> APIClient:
        api = APIClient(enforce_csrf_checks=True)
        api.force_login(user)
        if tenant_slug:
            api.credentials(HTTP_X_PLUGBOARD_TENANT=tenant_slug)
        return api

    return make


@pytest.fixture(autouse=True)
def _clean_cache():
    """Each test starts with this run's cache keys gone (other runs' keys are untouched), and
    no health check outcome remembered."""
    cache.delete_pattern("*")
    health.forget()
    yield


@pytest.fixture
def redis_commands(monkeypatch):
    """The commands the test's thread sends to Redis while the test runs, each round trip once
    (a pipeline is one round trip: PIPELINE); not those of background threads (slots given
    back, see apps.core.slots)."""
    sent: list[str] = []
    test_thread = threading.get_ident()
    execute_command = redis.Redis.execute_command
    execute_pipeline = redis.client.Pipeline.execute
    execute_batch = plugboard_redis.Batch.execute

    def command(self, *args, **options):
        if threading.get_ident() == test_thread:
            sent.append(str(args[0]).upper())
        return execute_command(self, *args, **options)

    def pipeline(self, *args, **kwargs):
        if threading.get_ident() == test_thread:
            sent.append("PIPELINE")
        return execute_pipeline(self, *args, **kwargs)

    def batch(self, *args, **kwargs):
        if len(self) and threading.get_ident() == test_thread:
            sent.append("PIPELINE")
        return execute_batch(self, *args, **kwargs)

    monkeypatch.setattr(redis.Redis, "execute_command", command)
    monkeypatch.setattr(redis.client.Pipeline, "execute", pipeline)
    monkeypatch.setattr(plugboard_redis.Batch, "execute", batch)
    return sent
