"""Shared fixtures. Every feature is tested with two tenants, so that isolation is tested too:

- ``acme`` with ``alice`` (owner) and ``victor`` (viewer);
- ``globex`` with ``bob`` (owner).
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from django.core.cache import cache
from rest_framework.test import APIClient

from apps.core import health
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
