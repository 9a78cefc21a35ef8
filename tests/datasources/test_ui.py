"""The data source pages, through Django's test client."""

import re

import pytest

from apps.datasources.models import AuditEntry, DataSource
from tests.factories import DataSourceFactory

SECRET = "canary-ui-secret-4c1"


def configure_post(upstream, **overrides):
    data = {
        "name": "Bin", "slug": "bin", "base_url": upstream.url(), "timeout_seconds": "10",
        "docs_url": "", "health_check_path": "", "auth_mode": "basic",
        "basic__username": "elements", "basic__password": "connect",
        "api_key__in": "header", "token__in": "header",
        "oauth2_client_credentials__client_auth": "basic",
        "oauth2_authorization_code__provider": "generic",
        "token__refresh_method": "POST", "token__refresh_media_type": "form",
        "expired__status_codes": "401",
        "ping__method": "GET", "ping__path": "/basic-auth/elements/connect",
        "ping__success_path": "authenticated", "ping__success_values": "true",
        "header_name": ["X-Env", "X-Team"], "header_value": ["prod", "crm"],
    }  # fmt: skip
    data.update(overrides)
    return data


@pytest.fixture
def owner(acme, session_client):
    return session_client(acme.owner)


def test_the_wizard_creates_then_configures(owner, acme, upstream):
    assert b"REST API" in owner.get("/t/acme/datasources/new/").content
    name_step = owner.post("/t/acme/datasources/new/", {"type": "rest"})
    assert b'name="name"' in name_step.content

    created = owner.post("/t/acme/datasources/new/", {"type": "rest", "name": "HTTP bin"})

    ds = DataSource.objects.get(tenant=acme.tenant)
    assert created.headers["Location"] == f"/t/acme/datasources/{ds.pk}/configure/"
    assert (ds.name, ds.slug, ds.base_url) == ("HTTP bin", "http-bin", "")
    saved = owner.post(created.headers["Location"], configure_post(upstream))
    assert saved.status_code == 302
    ds.refresh_from_db()
    assert ds.base_url == upstream.url() and ds.secrets == {"password": "connect"}
    assert ds.headers == [{"name": "X-Env", "value": "prod"}, {"name": "X-Team", "value": "crm"}]
    assert ds.ping["success_values"] == ["true"]


def test_an_empty_name_keeps_the_user_on_the_name_step(owner, acme):
    response = owner.post("/t/acme/datasources/new/", {"type": "rest", "name": ""})
    assert response.status_code == 400
    assert not DataSource.objects.exists()


def test_a_stored_secret_is_never_rendered(owner, acme, upstream):
    ds = DataSourceFactory(tenant=acme.tenant, base_url=upstream.url(), auth_mode="basic",
                           auth_config={"username": "u"}, secrets={"password": SECRET})  # fmt: skip
    for url in (f"/t/acme/datasources/{ds.pk}/configure/", f"/t/acme/datasources/{ds.pk}/",
                "/t/acme/datasources/"):  # fmt: skip
        body = owner.get(url).content.decode()
        assert SECRET not in body
    page = owner.get(f"/t/acme/datasources/{ds.pk}/configure/").content.decode()
    field = re.search(r'<input type="password" name="basic__password"[^>]*>', page).group(0)
    assert "value=" not in field
    assert "Stored and unchanged" in page


def test_a_failed_save_keeps_everything_typed_except_secrets(owner, acme, upstream):
    ds = DataSourceFactory(tenant=acme.tenant)
    response = owner.post(
        f"/t/acme/datasources/{ds.pk}/configure/",
        configure_post(upstream, base_url="http://insecure.example", basic__password=SECRET,
                       header_name=["X-Kept"], header_value=["kept-value"]),
    )  # fmt: skip

    assert response.status_code == 400
    page = response.content.decode()
    assert "Only https:// URLs are allowed." in page
    assert 'value="http://insecure.example"' in page
    assert 'value="X-Kept"' in page and 'value="kept-value"' in page
    assert 'value="elements"' in page and 'value="/basic-auth/elements/connect"' in page
    assert SECRET not in page
    ds.refresh_from_db()
    assert ds.base_url == "https://api.example.com"


def test_header_errors_are_shown_in_the_headers_section(owner, acme, upstream):
    ds = DataSourceFactory(tenant=acme.tenant)
    response = owner.post(f"/t/acme/datasources/{ds.pk}/configure/",
                          configure_post(upstream, header_name=["Host"], header_value=["x"]))  # fmt: skip
    assert response.status_code == 400
    assert "The header Host cannot be set." in response.content.decode()


def test_test_connection_uses_the_unsaved_values_without_saving_them(owner, acme, upstream):
    ds = DataSourceFactory(tenant=acme.tenant, base_url=upstream.url(), auth_mode="basic",
                           auth_config={"username": "elements"}, secrets={"password": "wrong"},
                           ping={"path": "/basic-auth/elements/connect"})  # fmt: skip

    result = owner.post(f"/t/acme/datasources/{ds.pk}/test/", configure_post(upstream)).json()

    assert result["ok"] is True, result
    ds.refresh_from_db()
    assert ds.secrets == {"password": "wrong"}
    assert ds.status == "unknown"  # an unsaved test does not judge the saved settings
    saved = owner.post(f"/t/acme/datasources/{ds.pk}/test/").json()
    assert saved["ok"] is False
    ds.refresh_from_db()
    assert ds.status == "needs_attention"


def test_test_connection_with_invalid_values_answers_field_errors(owner, acme, upstream):
    ds = DataSourceFactory(tenant=acme.tenant)
    response = owner.post(f"/t/acme/datasources/{ds.pk}/test/",
                          configure_post(upstream, base_url="http://x.example"))  # fmt: skip
    assert response.status_code == 400
    assert "base_url" in response.json()["errors"]


def test_test_connection_refuses_stored_secrets_for_a_new_host(owner, acme, upstream, canary):
    ds = DataSourceFactory(tenant=acme.tenant, base_url=upstream.url(), auth_mode="basic",
                           auth_config={"username": "elements"}, secrets={"password": SECRET})  # fmt: skip
    data = configure_post(upstream, base_url=f"https://evil.test:{canary.port}")
    del data["basic__password"]

    response = owner.post(f"/t/acme/datasources/{ds.pk}/test/", data)

    assert response.status_code == 400
    # On the secret to type again, in words (not on the base URL, not by its key).
    errors = response.json()["errors"]
    assert list(errors) == ["basic__password"]
    assert errors["basic__password"][0].startswith("Type the password again: ")
    assert response.json()["fields"][0]["label"] == "Password"
    assert canary.connections == []


def test_the_detail_page_shows_status_and_history_without_secrets(owner, acme, upstream):
    ds = DataSourceFactory(tenant=acme.tenant)
    owner.post(
        f"/t/acme/datasources/{ds.pk}/configure/", configure_post(upstream, basic__password=SECRET)
    )
    owner.post(f"/t/acme/datasources/{ds.pk}/test/")

    page = owner.get(f"/t/acme/datasources/{ds.pk}/").content.decode()

    assert "Changed" in page and "Tested" in page and "alice" in page
    assert "auth.password (secret)" in page
    assert SECRET not in page
    assert list(AuditEntry.objects.filter(datasource=ds).values_list("action", flat=True)) == [
        "tested",
        "changed",
    ]


def test_the_list_searches_paginates_and_shows_status(owner, acme, globex):
    for index in range(30):
        DataSourceFactory(tenant=acme.tenant, name=f"Source {index:02d}", status="ok")
    DataSourceFactory(tenant=acme.tenant, name="Zeta", status="needs_attention", last_error="boom")
    DataSourceFactory(tenant=globex.tenant, name="Zeta of globex")

    first = owner.get("/t/acme/datasources/").content.decode()
    assert "Page 1 of 2" in first and "Source 00" in first and "Zeta" not in first
    found = owner.get("/t/acme/datasources/?q=zeta").content.decode()
    assert "Needs attention" in found and "globex" not in found
    assert "No data source matches" in owner.get("/t/acme/datasources/?q=nothing").content.decode()


def test_the_empty_list_says_what_to_do(owner, acme):
    assert "Create data source" in owner.get("/t/acme/datasources/").content.decode()


def test_delete_and_purge(owner, acme):
    ds = DataSourceFactory(tenant=acme.tenant)
    response = owner.post(f"/t/acme/datasources/{ds.pk}/purge-cache/", follow=True)
    assert "Cache purged: 0 cached answers removed." in response.content.decode()
    assert "Yes, delete" in owner.get(f"/t/acme/datasources/{ds.pk}/delete/").content.decode()
    owner.post(f"/t/acme/datasources/{ds.pk}/delete/")
    assert not DataSource.objects.filter(pk=ds.pk).exists()


ROUTES = ["", "configure/", "delete/", "connect/"]
POST_ROUTES = ["configure/", "test/", "delete/", "purge-cache/"]


@pytest.mark.parametrize("suffix", ROUTES)
def test_every_page_of_another_tenants_data_source_is_404(suffix, acme, globex, session_client):
    theirs = DataSourceFactory(tenant=globex.tenant)
    client = session_client(acme.owner)
    assert client.get(f"/t/acme/datasources/{theirs.pk}/{suffix}").status_code == 404
    assert client.get(f"/t/globex/datasources/{theirs.pk}/{suffix}").status_code == 404


@pytest.mark.parametrize("suffix", POST_ROUTES)
def test_every_action_on_another_tenants_data_source_is_404(suffix, acme, globex, session_client):
    theirs = DataSourceFactory(tenant=globex.tenant, name="Theirs")
    client = session_client(acme.owner)
    assert (
        client.post(f"/t/acme/datasources/{theirs.pk}/{suffix}", {"name": "x"}).status_code == 404
    )
    assert DataSource.objects.get(pk=theirs.pk).name == "Theirs"


@pytest.mark.parametrize("suffix", POST_ROUTES)
def test_viewers_cannot_change_anything(suffix, acme, victor, session_client):
    ds = DataSourceFactory(tenant=acme.tenant, name="Mine")
    client = session_client(victor)
    assert client.get(f"/t/acme/datasources/{ds.pk}/").status_code == 200
    assert client.post(f"/t/acme/datasources/{ds.pk}/{suffix}", {"name": "x"}).status_code == 403
    assert DataSource.objects.get(pk=ds.pk).name == "Mine"


@pytest.mark.parametrize("path", ["datasources/new/", "datasources/{pk}/configure/",
                                  "datasources/{pk}/delete/", "datasources/{pk}/connect/"])  # fmt: skip
def test_viewers_do_not_get_the_editing_pages(path, acme, victor, session_client):
    ds = DataSourceFactory(tenant=acme.tenant)
    response = session_client(victor).get("/t/acme/" + path.format(pk=ds.pk))
    assert response.status_code == 403


def test_viewers_see_no_editing_controls(acme, victor, session_client):
    ds = DataSourceFactory(tenant=acme.tenant)
    page = session_client(victor).get(f"/t/acme/datasources/{ds.pk}/").content.decode()
    assert "Configure" not in page and "Test connection" not in page
    assert (
        "Create data source"
        not in session_client(victor).get("/t/acme/datasources/").content.decode()
    )
