"""The items API."""

import pytest

from apps.items.models import ConnectedItem
from tests.factories import DataSourceFactory


def body(source, **extra):
    data = {"key": "asset", "name": "Asset", "datasource": str(source.pk), "method": "GET",
            "path": "/search?jql=project={project}&maxResults=50", "body": None,
            "results_path": "issues", "value": "{key}", "label": "{key} – {fields.summary}"}  # fmt: skip
    data.update(extra)
    return data


def test_create_read_update_delete(acme, source):
    api = acme.api()
    created = api.post("/api/v1/items/", body(source), format="json")
    assert created.status_code == 201, created.content
    assert created.json()["dependencies"] == ["project"]
    assert (
        api.get("/api/v1/items/asset/").json()["path"]
        == "/search?jql=project={project}&maxResults=50"
    )
    assert [i["key"] for i in api.get("/api/v1/items/").json()["results"]] == ["asset"]

    patched = api.patch("/api/v1/items/asset/", {"label": "{fields.summary}"}, format="json")
    assert patched.json()["label"] == "{fields.summary}"
    assert ConnectedItem.objects.get(key="asset").cache_version == 2

    assert api.delete("/api/v1/items/asset/").status_code == 204
    assert api.get("/api/v1/items/asset/").status_code == 404


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"key": "has space"}, "key"),
        ({"path": "https://elsewhere.example/"}, "path"),
        ({"method": "DELETE"}, "method"),
        ({"value": ""}, "value"),
        ({"label": "no reference"}, "label"),
        ({"body": '{"a": 1}'}, "body"),  # a body on a GET
        ({"method": "POST", "body": "not json"}, "body"),
        ({"datasource": "00000000-0000-0000-0000-000000000000"}, "datasource"),
    ],
)
def test_validation_errors_name_the_field(change, field, acme, source):
    response = acme.api().post("/api/v1/items/", body(source, **change), format="json")
    assert response.status_code == 400
    assert field in response.json()["error"]["details"]["fields"]


def test_keys_are_unique_per_tenant_only(acme, globex, source):
    acme.api().post("/api/v1/items/", body(source), format="json")
    again = acme.api().post("/api/v1/items/", body(source), format="json")
    assert again.status_code == 400 and "key" in again.json()["error"]["details"]["fields"]
    theirs = DataSourceFactory(tenant=globex.tenant)
    assert globex.api().post("/api/v1/items/", body(theirs), format="json").status_code == 201


def test_an_item_cannot_use_another_tenants_data_source(acme, globex):
    theirs = DataSourceFactory(tenant=globex.tenant)
    response = acme.api().post("/api/v1/items/", body(theirs), format="json")
    assert response.status_code == 400
    assert (
        response.json()["error"]["details"]["fields"]["datasource"][0]["message"]
        == "No such data source."
    )


@pytest.mark.parametrize("method", ["get", "patch", "delete"])
def test_another_tenants_item_is_404(method, acme, globex):
    theirs = DataSourceFactory(tenant=globex.tenant)
    globex.api().post("/api/v1/items/", body(theirs), format="json")
    response = getattr(acme.api(), method)("/api/v1/items/asset/", {"name": "x"}, format="json")
    assert response.status_code == 404
    assert ConnectedItem.objects.get(key="asset").name == "Asset"


def test_widget_keys_cannot_manage_items(acme, source):
    from rest_framework.test import APIClient

    from apps.tenants.services import api_key_create

    _, raw = api_key_create(tenant=acme.tenant, scope="widget")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert client.get("/api/v1/items/").status_code == 403
