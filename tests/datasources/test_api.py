"""The data source API: CRUD, write-only secrets, validation, test and purge actions."""

import time

import pytest
from django.utils.text import slugify
from rest_framework.test import APIClient

from apps.datasources.models import AuditEntry, DataSource, TokenState
from apps.tenants.services import api_key_create
from tests.datasources.helpers import write_shape
from tests.factories import DataSourceFactory

MODES = ["none", "basic", "api_key", "token", "oauth2_client_credentials",
         "oauth2_authorization_code"]  # fmt: skip


def create(api, body, expect=201):
    response = api.post("/api/v1/datasources/", body, format="json")
    assert response.status_code == expect, response.content
    return response.json()


@pytest.mark.parametrize("mode", MODES)
def test_create_and_read_each_mode_without_secrets(mode, acme, upstream, oauth):
    body = write_shape(mode, upstream, oauth)

    created = create(acme.api(), body)
    read = acme.api().get(f"/api/v1/datasources/{created['id']}/").json()

    assert created == read
    assert read["auth"]["mode"] == mode
    secret_names = {"basic": ["password"], "api_key": ["value"], "token": ["token"],
                    "oauth2_client_credentials": ["client_secret"],
                    "oauth2_authorization_code": ["client_secret"], "none": []}[mode]  # fmt: skip
    assert read["auth"]["secrets_set"] == secret_names
    for name in secret_names:
        assert name not in read["auth"]
        assert body["auth"][name] not in str(read["auth"])
    assert read["slug"] == slugify(body["name"])
    assert read["status"] == "unknown"
    if mode == "oauth2_authorization_code":
        assert read["auth"]["connected"] is False
        assert read["auth"]["connect_url"].endswith(f"/t/acme/datasources/{read['id']}/connect/")


@pytest.mark.parametrize("mode", ["none", "basic", "api_key", "token", "oauth2_client_credentials"])
def test_the_test_action_passes_against_the_real_upstream(mode, acme, upstream, oauth):
    created = create(acme.api(), write_shape(mode, upstream, oauth))

    result = acme.api().post(f"/api/v1/datasources/{created['id']}/test/").json()

    assert result["ok"] is True, result
    assert [s["name"] for s in result["steps"]] == [
        "dns",
        "connect",
        "tls",
        "auth",
        "request",
        "check",
    ]
    assert all(s["ok"] for s in result["steps"])
    assert result["status_code"] == 200 and result["elapsed_ms"] > 0
    assert acme.api().get(f"/api/v1/datasources/{created['id']}/").json()["status"] == "ok"


def test_a_failing_check_names_the_step_and_marks_the_source(acme, upstream):
    body = write_shape("basic", upstream)
    body["auth"]["password"] = "wrong"
    created = create(acme.api(), body)

    result = acme.api().post(f"/api/v1/datasources/{created['id']}/test/").json()

    assert result["ok"] is False
    steps = {s["name"]: s for s in result["steps"]}
    assert steps["tls"]["ok"] and not steps["auth"]["ok"]
    assert "401" in steps["auth"]["detail"]
    read = acme.api().get(f"/api/v1/datasources/{created['id']}/").json()
    assert read["status"] == "needs_attention" and read["last_error"]


def test_a_success_value_mismatch_fails_the_check_step(acme, upstream):
    created = create(acme.api(), write_shape(
        "none", upstream, ping={"path": "/get", "success_path": "url", "success_values": ["nope"]}
    ))  # fmt: skip
    result = acme.api().post(f"/api/v1/datasources/{created['id']}/test/").json()
    check = result["steps"][-1]
    assert not result["ok"] and check["name"] == "check" and not check["ok"]
    assert "expected one of: nope" in check["detail"]


def test_a_tls_failure_is_reported_at_the_tls_step(acme, upstream):
    created = create(
        acme.api(), write_shape("none", upstream, base_url=upstream.url(host="wrong-name.test"))
    )
    result = acme.api().post(f"/api/v1/datasources/{created['id']}/test/").json()
    steps = {s["name"]: s for s in result["steps"]}
    assert steps["dns"]["ok"] and steps["connect"]["ok"] and not steps["tls"]["ok"]


def test_a_blocked_destination_is_reported_at_the_dns_step(acme, upstream, test_dns):
    test_dns["private.test"] = ["10.1.2.3"]
    created = create(acme.api(), write_shape("none", upstream, base_url="https://private.test"))
    result = acme.api().post(f"/api/v1/datasources/{created['id']}/test/").json()
    assert not result["steps"][0]["ok"] and "not allowed" in result["steps"][0]["detail"]


@pytest.mark.parametrize(
    ("patch", "field", "code"),
    [
        ({"base_url": "http://api.example.com"}, "base_url", "https_required"),
        ({"base_url": "ftp://api.example.com"}, "base_url", "https_required"),
        ({"headers": [{"name": "Cookie", "value": "a=b"}]}, "headers", "forbidden_header"),
        ({"headers": [{"name": "Authorization", "value": "x"}]}, "headers", "forbidden_header"),
        ({"headers": [{"name": "Proxy-Foo", "value": "x"}]}, "headers", "forbidden_header"),
        ({"headers": [{"name": "Sec-Fetch-Mode", "value": "x"}]}, "headers", "forbidden_header"),
        ({"headers": [{"name": "Bad Name", "value": "x"}]}, "headers", "invalid_header"),
        (
            {"headers": [{"name": f"X-{i}", "value": "v"} for i in range(21)]},
            "headers",
            "too_many_headers",
        ),
        ({"timeout_seconds": 0}, "timeout_seconds", "invalid"),
        ({"timeout_seconds": 61}, "timeout_seconds", "invalid"),
        ({"auth": {"mode": "basic", "username": "u"}}, "auth.password", "invalid"),
        (
            {
                "auth": {
                    "mode": "oauth2_client_credentials",
                    "token_url": "http://x.example/t",
                    "client_id": "c",
                    "client_secret": "s",
                }
            },
            "auth.token_url",
            "https_required",
        ),
        ({"auth": {"mode": "nope"}}, "auth.mode", "invalid_choice"),
        ({"ping": {"path": "https://elsewhere.example/"}}, "ping.path", "invalid"),
    ],
)
def test_validation_errors_name_the_field(patch, field, code, acme, upstream):
    created = create(acme.api(), write_shape("none", upstream))
    response = acme.api().patch(f"/api/v1/datasources/{created['id']}/", patch, format="json")

    assert response.status_code == 400
    error = response.json()["error"]
    assert field in error["details"]["fields"], error
    assert error["details"]["fields"][field][0]["code"] == code
    if code not in ("invalid", "invalid_choice"):
        assert error["code"] == code
    assert error["message"].startswith(field)


def test_create_needs_https_and_a_name(acme):
    response = acme.api().post("/api/v1/datasources/", {"name": "x", "base_url": "http://a.example",
                                                        "auth": {"mode": "none"}}, format="json")  # fmt: skip
    assert response.status_code == 400 and response.json()["error"]["code"] == "https_required"
    response = acme.api().post(
        "/api/v1/datasources/", {"base_url": "https://a.example"}, format="json"
    )
    assert response.json()["error"]["details"]["fields"]["name"][0]["code"] == "required"


def test_slugs_default_from_the_name_and_stay_unique(acme, upstream):
    first = create(acme.api(), write_shape("none", upstream, name="Jira Cloud"))
    second = create(acme.api(), write_shape("none", upstream, name="Jira Cloud"))
    assert (first["slug"], second["slug"]) == ("jira-cloud", "jira-cloud-2")
    taken = acme.api().post("/api/v1/datasources/", write_shape("none", upstream, slug="jira-cloud"),
                            format="json")  # fmt: skip
    assert taken.status_code == 400
    assert "slug" in taken.json()["error"]["details"]["fields"]


def test_patch_keeps_omitted_secrets_replaces_sent_ones_and_null_clears(acme, upstream):
    created = create(acme.api(), write_shape("basic", upstream))
    url = f"/api/v1/datasources/{created['id']}/"

    acme.api().patch(url, {"auth": {"username": "other"}}, format="json")
    ds = DataSource.objects.get(pk=created["id"])
    assert ds.auth_config["username"] == "other" and ds.secrets == {"password": "connect"}

    acme.api().patch(url, {"auth": {"password": "new-pw"}}, format="json")
    assert DataSource.objects.get(pk=created["id"]).secrets == {"password": "new-pw"}

    response = acme.api().patch(url, {"auth": {"password": None}}, format="json")
    assert response.status_code == 400  # basic needs a password: clearing it is refused...
    assert DataSource.objects.get(pk=created["id"]).secrets == {"password": "new-pw"}  # ...kept

    token_created = create(acme.api(), write_shape("token", upstream))
    refresh = {"method": "POST", "path": "/anything", "media_type": "json", "body": "{}",
               "token_path": "json.t", "refresh_token": "rt-1"}  # fmt: skip
    turl = f"/api/v1/datasources/{token_created['id']}/"
    acme.api().patch(turl, {"auth": {"refresh": refresh}}, format="json")
    assert DataSource.objects.get(pk=token_created["id"]).secrets["refresh.refresh_token"] == "rt-1"
    cleared = (
        acme.api().patch(turl, {"auth": {"refresh": {"refresh_token": None}}}, format="json").json()
    )
    assert cleared["auth"]["secrets_set"] == ["token"]


def test_secrets_never_follow_the_data_source_to_a_new_host(acme, upstream):
    created = create(acme.api(), write_shape("basic", upstream))
    url = f"/api/v1/datasources/{created['id']}/"

    moved = acme.api().patch(url, {"base_url": "https://api.example.com/v2"}, format="json")
    assert moved.status_code == 400
    assert moved.json()["error"]["code"] == "secrets_required"
    assert "password" in moved.json()["error"]["message"]
    assert DataSource.objects.get(pk=created["id"]).base_url == upstream.url()

    same_host = acme.api().patch(url, {"base_url": upstream.url("/v2")}, format="json")
    assert same_host.status_code == 200

    resent = acme.api().patch(
        url,
        {"base_url": "https://api.example.com/v2", "auth": {"password": "again"}},
        format="json",
    )
    assert resent.status_code == 200


def test_a_token_url_on_another_host_also_needs_the_secrets(acme, upstream, oauth):
    created = create(acme.api(), write_shape("oauth2_client_credentials", upstream, oauth))
    response = acme.api().patch(
        f"/api/v1/datasources/{created['id']}/",
        {"auth": {"token_url": "https://auth.example.com/token"}},
        format="json",
    )
    assert response.json()["error"]["code"] == "secrets_required"


def test_changing_auth_settings_forgets_stored_tokens(acme, upstream, oauth):
    created = create(acme.api(), write_shape("oauth2_client_credentials", upstream, oauth))
    assert acme.api().post(f"/api/v1/datasources/{created['id']}/test/").json()["ok"]
    assert TokenState.objects.filter(datasource_id=created["id"]).exists()

    acme.api().patch(
        f"/api/v1/datasources/{created['id']}/", {"auth": {"scope": "write"}}, format="json"
    )

    assert not TokenState.objects.filter(datasource_id=created["id"]).exists()


def test_list_is_paginated_and_searchable(acme, globex, upstream):
    for index in range(3):
        create(acme.api(), write_shape("none", upstream, name=f"Alpha {index}"))
    create(acme.api(), write_shape("none", upstream, name="Beta"))
    DataSourceFactory(tenant=globex.tenant, name="Alpha elsewhere")

    page = acme.api().get("/api/v1/datasources/?page_size=2").json()
    assert page["count"] == 4 and len(page["results"]) == 2 and page["next"]
    found = acme.api().get("/api/v1/datasources/?q=alpha").json()
    assert [r["name"] for r in found["results"]] == ["Alpha 0", "Alpha 1", "Alpha 2"]


def test_delete_removes_it_and_keeps_the_audit(acme, upstream):
    created = create(acme.api(), write_shape("basic", upstream))
    assert acme.api().delete(f"/api/v1/datasources/{created['id']}/").status_code == 204
    assert acme.api().get(f"/api/v1/datasources/{created['id']}/").status_code == 404
    actions = list(AuditEntry.objects.filter(tenant=acme.tenant).values_list("action", flat=True))
    assert actions == ["deleted", "created"]
    assert all(e.actor_label.startswith("API key “acme admin”") for e in AuditEntry.objects.all())


def test_purge_cache_answers_with_a_count(acme, upstream):
    from apps.items.cache import backend

    created = create(acme.api(), write_shape("none", upstream))
    for index in range(3):
        name = f"1:{created['id']}:1:item:1:digest{index}"
        backend.store(
            name, created["id"], [{"value": "v", "label": "l"}], [{"a": index}], time.time()
        )

    response = acme.api().post(f"/api/v1/datasources/{created['id']}/purge-cache/")

    assert response.status_code == 200
    assert response.json() == {"purged": 3}
    assert acme.api().post(f"/api/v1/datasources/{created['id']}/purge-cache/").json() == {
        "purged": 0
    }


@pytest.mark.parametrize(
    ("method", "suffix"),
    [("get", ""), ("patch", ""), ("delete", ""), ("post", "test/"), ("post", "purge-cache/")],
)
def test_another_tenants_data_source_is_404(method, suffix, acme, globex, upstream):
    theirs = create(globex.api(), write_shape("basic", upstream))
    response = getattr(acme.api(), method)(
        f"/api/v1/datasources/{theirs['id']}/{suffix}", {"name": "x"}, format="json"
    )
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"
    assert DataSource.objects.get(pk=theirs["id"]).name == "basic source"


def test_a_widget_key_cannot_use_the_data_source_api(acme):
    _, raw = api_key_create(tenant=acme.tenant, scope="widget")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert client.get("/api/v1/datasources/").status_code == 403


def test_viewers_read_but_cannot_change(acme, victor, api_session, upstream):
    created = create(acme.api(), write_shape("basic", upstream))
    api = api_session(victor, "acme")
    api.get("/t/acme/")
    token = {"HTTP_X_CSRFTOKEN": api.cookies["csrftoken"].value}
    assert api.get(f"/api/v1/datasources/{created['id']}/").status_code == 200
    for method, suffix in [
        ("patch", ""),
        ("delete", ""),
        ("post", "test/"),
        ("post", "purge-cache/"),
    ]:
        response = getattr(api, method)(
            f"/api/v1/datasources/{created['id']}/{suffix}", {}, format="json", **token
        )
        assert response.status_code == 403, (method, suffix)
    assert (
        api.post(
            "/api/v1/datasources/", write_shape("none", upstream), format="json", **token
        ).status_code
        == 403
    )


def test_the_schema_has_an_example_per_auth_mode(acme):
    schema = acme.api().get("/api/schema/").content.decode()
    for mode in MODES:
        assert f"auth: {mode}" in schema


@pytest.mark.django_db(transaction=True)
def test_authorization_code_through_the_api_and_its_connect_url(acme, upstream, oauth, client):
    from tests.outbound.oauth_helpers import consent, start_connect

    created = create(acme.api(), write_shape("oauth2_authorization_code", upstream, oauth))
    assert acme.api().post(f"/api/v1/datasources/{created['id']}/test/").json()["ok"] is False

    # The one step that needs a person: open connect_url in a browser and grant access.
    client.force_login(acme.owner)
    authorize_url = start_connect(
        client, created["auth"]["connect_url"].replace("http://testserver", "")
    )
    callback = consent(authorize_url, oauth.ca_pem)
    assert client.get(callback.replace("http://testserver", "")).status_code == 302

    read = acme.api().get(f"/api/v1/datasources/{created['id']}/").json()
    assert read["auth"]["connected"] is True
    result = acme.api().post(f"/api/v1/datasources/{created['id']}/test/").json()
    assert result["ok"] is True, result


def test_an_echoed_credential_is_masked_in_the_check_step(acme, upstream):
    created = create(acme.api(), write_shape(
        "token", upstream, auth={"mode": "token", "token": "tok-echo-canary"},
        ping={"path": "/headers", "success_path": "headers.Authorization", "success_values": ["x"]},
    ))  # fmt: skip
    result = acme.api().post(f"/api/v1/datasources/{created['id']}/test/")
    assert "tok-echo-canary" not in result.content.decode()
    assert "[secret]" in result.json()["steps"][-1]["detail"]
