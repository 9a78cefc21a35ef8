"""CORS preflights carry no key: they are answered only for origins that a widget key of a
tenant having the item allows — never an origin only another tenant allows."""

from __future__ import annotations

import pytest

from apps.items.services import item_create
from apps.tenants.services import api_key_create, api_key_revoke
from tests.factories import DataSourceFactory

OPTIONS = "/api/v1/items/{}/options/"


def preflight(client, key: str, origin: str):
    return client.options(
        OPTIONS.format(key), HTTP_ORIGIN=origin, HTTP_ACCESS_CONTROL_REQUEST_METHOD="GET",
        HTTP_ACCESS_CONTROL_REQUEST_HEADERS="authorization",
    )  # fmt: skip


def allowed(response) -> str | None:
    return response.headers.get("Access-Control-Allow-Origin")


@pytest.fixture
def two_tenants(acme, globex, projects):
    acme_key, _ = api_key_create(tenant=acme.tenant, scope="widget",
                                 origins=["https://acme.example"])  # fmt: skip
    api_key_create(tenant=globex.tenant, scope="widget", origins=["https://globex.example"])
    return acme_key


def test_a_preflight_is_answered_for_the_item_owners_origins_only(client, two_tenants):
    assert allowed(preflight(client, "project", "https://acme.example")) == "https://acme.example"
    # globex allows its own origin, but has no item "project": no oracle across tenants.
    assert allowed(preflight(client, "project", "https://globex.example")) is None
    assert allowed(preflight(client, "no-such-item", "https://acme.example")) is None


def test_an_item_key_two_tenants_share_answers_for_both_owners(client, globex, two_tenants):
    source = DataSourceFactory(tenant=globex.tenant, base_url="https://api.example.com")
    item_create(tenant=globex.tenant, data={
        "key": "project", "name": "Project", "datasource": str(source.pk),
        "path": "/projects", "value": "{id}", "label": "{name}",
    })  # fmt: skip
    assert allowed(preflight(client, "project", "https://globex.example")) is not None
    assert allowed(preflight(client, "project", "https://acme.example")) is not None


def test_preflights_are_answered_from_memory_and_follow_changes_at_once(
    client, acme, two_tenants, django_assert_num_queries
):
    preflight(client, "project", "https://acme.example")
    with django_assert_num_queries(0):
        for _ in range(5):
            assert allowed(preflight(client, "project", "https://acme.example"))

    api_key_revoke(api_key=two_tenants)
    assert allowed(preflight(client, "project", "https://acme.example")) is None

    api_key_create(tenant=acme.tenant, scope="widget", origins=["https://new.example"])
    assert allowed(preflight(client, "project", "https://new.example")) == "https://new.example"
