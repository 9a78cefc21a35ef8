"""API keys: scopes, origins, revocation and hashing at rest."""

import hashlib
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import connection
from rest_framework.test import APIClient

from apps.tenants.models import ApiKey
from apps.tenants.services import api_key_create, api_key_revoke

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


# --- Safer keys (issue 13, point 8) ---------------------------------------------------------

WIDGET_ORIGIN_SENTENCE = "A widget key needs at least one allowed origin"


def test_the_create_form_defaults_to_the_widget_scope(acme, session_client):
    response = session_client(acme.owner).get("/t/acme/api-keys/")

    assert response.context["form"]["scope"].value() == "widget"
    assert '<option value="widget" selected>' in response.content.decode()


def test_the_page_refuses_a_widget_key_without_an_origin_under_the_field(acme, session_client):
    response = session_client(acme.owner).post(
        "/t/acme/api-keys/", {"name": "Jira widget", "scope": "widget", "allowed_origins": " \n"}
    )

    assert response.status_code == 400
    assert not ApiKey.objects.filter(name="Jira widget").exists()
    body = response.content.decode()
    # The sentence says why, under the field it is about, which is marked invalid.
    field = body.index('id="id_allowed_origins"')
    error = body.index('<ul class="errorlist" id="id_allowed_origins_error">')
    assert field < error < body.index("id_allowed_origins_helptext", field)
    assert WIDGET_ORIGIN_SENTENCE in body[error:]
    assert "no web page could use it" in body[error:]
    textarea = body[body.rindex("<textarea", 0, field) : field + 300]
    assert 'aria-invalid="true"' in textarea
    assert 'value="Jira widget"' in body  # nothing typed is lost


def test_the_api_refuses_a_widget_key_without_an_origin(acme):
    response = acme.api().post("/api/v1/api-keys/", {"scope": "widget", "name": "w"}, format="json")

    assert response.status_code == 400
    error = response.json()["error"]
    (problem,) = error["details"]["fields"]["allowed_origins"]
    assert problem["code"] == "required"
    assert problem["message"].startswith(WIDGET_ORIGIN_SENTENCE)
    assert WIDGET_ORIGIN_SENTENCE in error["message"]
    assert not ApiKey.objects.filter(tenant=acme.tenant, scope="widget").exists()

    made = acme.api().post(
        "/api/v1/api-keys/",
        {"scope": "widget", "name": "w", "allowed_origins": ["https://a.example"]},
        format="json",
    )
    assert made.status_code == 201


def test_the_command_keeps_the_contracts_optional_origin(acme):
    """CONTRACT §2: ``create_api_key SLUG --scope admin|widget [--origin URL ...]``."""
    out = StringIO()
    call_command("create_api_key", "acme", "--scope", "widget", "--name", "server", stdout=out)

    key = ApiKey.objects.get(tenant=acme.tenant, name="server")
    assert key.scope == "widget" and key.allowed_origins == []
    assert out.getvalue().strip().splitlines()[-1].startswith("pb_")


def test_names_are_unique_among_active_keys_on_the_api(acme):
    first = acme.api().post("/api/v1/api-keys/", {"scope": "admin", "name": "CI"}, format="json")
    assert first.status_code == 201

    again = acme.api().post("/api/v1/api-keys/", {"scope": "admin", "name": "ci "}, format="json")

    assert again.status_code == 400
    error = again.json()["error"]
    assert error["code"] == "unique"
    (problem,) = error["details"]["fields"]["name"]
    assert "already named “ci”" in problem["message"]
    assert "another name" in problem["message"]
    assert ApiKey.objects.filter(tenant=acme.tenant, name__iexact="ci").count() == 1

    # Revoked, its name is free again; another tenant's names never were taken.
    assert acme.api().delete(f"/api/v1/api-keys/{first.json()['id']}/").status_code == 204
    reused = acme.api().post("/api/v1/api-keys/", {"scope": "admin", "name": "CI"}, format="json")
    assert reused.status_code == 201


def test_names_are_unique_among_active_keys_on_the_page(acme, globex, session_client):
    api_key_create(tenant=globex.tenant, scope="admin", name="Jira widget")
    client = session_client(acme.owner)
    data = {"name": "Jira widget", "scope": "widget", "allowed_origins": "https://a.example"}
    assert client.post("/t/acme/api-keys/", data).status_code == 200  # globex's name is not acme's

    response = client.post("/t/acme/api-keys/", data)

    assert response.status_code == 400
    body = response.content.decode()
    error = body.index('<ul class="errorlist" id="id_name_error">')
    assert body.index('id="id_name"') < error
    assert "already named “Jira widget”" in body[error:]
    assert ApiKey.objects.filter(tenant=acme.tenant, name="Jira widget").count() == 1

    api_key_revoke(api_key=ApiKey.objects.get(tenant=acme.tenant, name="Jira widget"))
    assert client.post("/t/acme/api-keys/", data).status_code == 200
    assert ApiKey.objects.filter(tenant=acme.tenant, name="Jira widget").count() == 2


def test_keys_without_a_name_get_one_that_is_free(acme):
    names = [
        api_key_create(tenant=acme.tenant, scope="widget", origins=["https://a.example"])[0].name
        for _ in range(3)
    ]
    assert names == ["widget key", "widget key 2", "widget key 3"]


def test_revoked_keys_are_hidden_until_shown_then_greyed_and_labelled(acme, session_client):
    gone, _ = api_key_create(tenant=acme.tenant, scope="admin", name="old automation")
    api_key_revoke(api_key=gone)
    client = session_client(acme.owner)

    listed = client.get("/t/acme/api-keys/")

    names = [key.name for key in listed.context["object_list"]]
    assert names == ["acme admin"]
    body = listed.content.decode()
    assert "old automation" not in body
    assert '<a href="/t/acme/api-keys/?revoked=1">Show revoked keys (1)</a>' in body

    shown = client.get("/t/acme/api-keys/?revoked=1")

    assert [key.name for key in shown.context["object_list"]] == ["acme admin", "old automation"]
    body = shown.content.decode()
    row = body[body.rindex("<tr", 0, body.index("old automation")) :]
    row = row[: row.index("</tr>")]
    assert 'class="pb-revoked"' in row and ">Revoked</span>" in row
    assert "Revoke</button>" not in row  # nothing left to revoke
    assert '<a href="/t/acme/api-keys/">Hide revoked keys</a>' in body


def test_no_toggle_without_revoked_keys_and_revoking_from_the_full_list_stays_there(
    acme, session_client
):
    client = session_client(acme.owner)
    assert "Show revoked keys" not in client.get("/t/acme/api-keys/").content.decode()

    key, _ = api_key_create(tenant=acme.tenant, scope="admin", name="temp")
    response = client.post(f"/t/acme/api-keys/{key.pk}/revoke/?revoked=1")

    assert response.status_code == 302
    assert response.headers["Location"] == "/t/acme/api-keys/?revoked=1"
