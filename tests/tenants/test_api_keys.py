"""API keys: scopes, origins, revocation and hashing at rest."""

import hashlib

import pytest
from django.db import connection
from rest_framework.test import APIClient

from apps.tenants.models import ApiKey
from apps.tenants.services import api_key_create

pytestmark = pytest.mark.urls("tests.tenants.urls_probe")


def bearer(raw: str, **headers) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}", **headers)
    return client


def test_key_is_stored_as_a_sha256_hash_and_never_in_plain_text(acme):
    raw = acme.admin_key_raw
    row = ApiKey.objects.get(pk=acme.admin_key.pk)

    assert row.key_hash == hashlib.sha256(raw.encode()).hexdigest()
    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM tenants_apikey")
        dumped = repr(cursor.fetchall())
    secret_part = raw.split("_", 2)[2]
    assert secret_part not in dumped
    assert raw not in dumped


def test_api_create_returns_the_key_once_and_it_works(acme):
    response = acme.api().post("/api/v1/api-keys/", {"scope": "admin", "name": "ci"}, format="json")
    assert response.status_code == 201
    raw = response.json()["key"]

    listed = acme.api().get("/api/v1/api-keys/").content.decode()
    assert raw not in listed
    assert "key" not in acme.api().get(f"/api/v1/api-keys/{response.json()['id']}/").json()
    assert bearer(raw).get("/api/v1/api-keys/").status_code == 200


def test_a_revoked_key_is_refused(acme):
    key, raw = api_key_create(tenant=acme.tenant, scope="admin", name="temp")
    assert bearer(raw).get("/api/v1/api-keys/").status_code == 200

    assert acme.api().delete(f"/api/v1/api-keys/{key.id}/").status_code == 204

    response = bearer(raw).get("/api/v1/api-keys/")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "authentication_failed"
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_a_revoked_key_in_the_ui_is_refused(acme, session_client):
    key, raw = api_key_create(tenant=acme.tenant, scope="admin", name="ui-revoked")

    response = session_client(acme.owner).post(f"/t/acme/api-keys/{key.id}/revoke/")

    assert response.status_code == 302
    assert bearer(raw).get("/api/v1/api-keys/").status_code == 401


@pytest.mark.parametrize("value", ["pb_00000000_nope", "garbage", "pb__x", ""])
def test_unknown_or_malformed_keys_are_refused(db, value):
    response = bearer(value).get("/api/v1/api-keys/")
    assert response.status_code == 401


def test_a_key_with_a_known_prefix_but_wrong_secret_is_refused(acme):
    raw = acme.admin_key_raw
    forged = raw[:-4] + ("AAAA" if not raw.endswith("AAAA") else "BBBB")
    assert bearer(forged).get("/api/v1/api-keys/").status_code == 401


def test_widget_key_cannot_use_admin_endpoints(acme):
    _, raw = api_key_create(tenant=acme.tenant, scope="widget", name="w")

    response = bearer(raw).get("/api/v1/api-keys/")

    assert response.status_code == 403
    assert response.json()["error"]["code"] == "scope_not_allowed"


def test_widget_key_reaches_widget_endpoints_from_allowed_origins_only(acme):
    _, raw = api_key_create(
        tenant=acme.tenant, scope="widget", name="w", origins=["https://Intranet.Example.com:443/"]
    )

    assert bearer(raw).get("/api/v1/probe/widget/").json() == {"tenant": "acme"}
    ok = bearer(raw, HTTP_ORIGIN="https://intranet.example.com").get("/api/v1/probe/widget/")
    assert ok.status_code == 200
    denied = bearer(raw, HTTP_ORIGIN="https://evil.example.com").get("/api/v1/probe/widget/")
    assert denied.status_code == 403
    assert denied.json()["error"]["code"] == "origin_not_allowed"


def test_widget_key_cannot_write_even_to_widget_endpoints(acme):
    _, raw = api_key_create(tenant=acme.tenant, scope="widget", name="w")
    assert bearer(raw).post("/api/v1/probe/widget/").status_code == 403


def test_origins_are_only_for_widget_keys_and_must_be_origins(acme):
    response = acme.api().post(
        "/api/v1/api-keys/",
        {"scope": "admin", "allowed_origins": ["https://a.example"]},
        format="json",
    )
    assert response.status_code == 400
    assert "allowed_origins" in response.json()["error"]["details"]["fields"]

    response = acme.api().post(
        "/api/v1/api-keys/",
        {"scope": "widget", "allowed_origins": ["https://a.example/path"]},
        format="json",
    )
    assert response.status_code == 400


def test_ui_creates_a_key_shown_once(acme, session_client):
    client = session_client(acme.owner)

    response = client.post(
        "/t/acme/api-keys/",
        {"name": "widget", "scope": "widget", "allowed_origins": "https://intranet.example"},
    )

    assert response.status_code == 200
    raw = response.context["new_key"]["raw"]
    assert raw in response.content.decode()
    assert raw not in client.get("/t/acme/api-keys/").content.decode()
    key = ApiKey.objects.get(tenant=acme.tenant, name="widget")
    assert key.allowed_origins == ["https://intranet.example"]
    assert response.headers["Cache-Control"].startswith("max-age=0")


def test_ui_form_errors_keep_what_was_typed(acme, session_client):
    response = session_client(acme.owner).post(
        "/t/acme/api-keys/",
        {"name": "typed name", "scope": "widget", "allowed_origins": "not an origin"},
    )

    assert response.status_code == 400
    body = response.content.decode()
    assert "is not an origin" in body
    assert 'value="typed name"' in body
