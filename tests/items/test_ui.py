"""Connected item pages: list, create, edit with live preview, demo; isolation and roles."""

import pytest

from apps.items.models import ConnectedItem
from tests.factories import DataSourceFactory


def form(source, **extra):
    data = {"key": "issue", "name": "Issue", "datasource": str(source.pk), "method": "GET",
            "path": "/_test/data/issues?project={project}", "body": "", "results_path": "data.items",
            "value": "{key}", "label": "{key} – {fields.summary}"}  # fmt: skip
    data.update(extra)
    return data


@pytest.fixture
def owner(acme, session_client):
    return session_client(acme.owner)


def test_create_then_edit_an_item(owner, acme, source):
    assert "No connected items yet" in owner.get("/t/acme/items/").content.decode()
    page = owner.get("/t/acme/items/new/").content.decode()
    assert "Tracker" in page  # the tenant's data sources are offered

    created = owner.post("/t/acme/items/new/", form(source))
    assert created.status_code == 302 and created.headers["Location"] == "/t/acme/items/issue/"
    edited = owner.post("/t/acme/items/issue/", form(source, name="Ticket"))
    assert edited.status_code == 302
    assert ConnectedItem.objects.get(key="issue").name == "Ticket"
    assert "Ticket" in owner.get("/t/acme/items/").content.decode()


def test_a_failed_save_keeps_what_was_typed(owner, acme, source):
    response = owner.post("/t/acme/items/new/", form(source, path="https://evil.example/x"))
    assert response.status_code == 400
    page = response.content.decode()
    assert "relative to the base URL" in page
    assert 'value="https://evil.example/x"' in page and 'value="{key} – {fields.summary}"' in page


def test_the_live_preview_shows_options_and_the_raw_answer(owner, acme, source):
    result = owner.post("/t/acme/items/preview/", {**form(source), "dep_project": "PB"}).json()

    assert result["ok"] is True and result["count"] == 5
    assert result["options"][0] == {"value": "PB-1", "label": "PB-1 – Plugboard task 1"}
    assert '"summary": "Plugboard task 1"' in result["raw"]
    assert result["request"] == "GET /_test/data/issues?project=PB"
    assert not ConnectedItem.objects.exists()  # nothing saved


def test_the_preview_reports_missing_dependencies_and_upstream_errors(owner, acme, source):
    missing = owner.post("/t/acme/items/preview/", form(source)).json()
    assert missing["ok"] is False and missing["code"] == "missing_dependency"
    failing = owner.post(
        "/t/acme/items/preview/", form(source, path="/_test/data/status?code=500")
    ).json()
    assert failing["ok"] is False and failing["status_code"] == 500


def test_the_preview_masks_credentials_echoed_back(owner, acme, upstream):
    ds = DataSourceFactory(tenant=acme.tenant, base_url=upstream.url(), auth_mode="basic",
                           auth_config={"username": "u"}, secrets={"password": "pw-canary-preview"})  # fmt: skip
    result = owner.post("/t/acme/items/preview/", form(ds, path="/headers", results_path="",
                                                       value="{}", label="{}")).json()  # fmt: skip
    import base64

    encoded = base64.b64encode(b"u:pw-canary-preview").decode()
    assert encoded not in result["raw"] and "pw-canary-preview" not in result["raw"]
    assert "[secret]" in result["raw"]


def test_the_demo_page_embeds_the_widget(owner, acme, issues):
    page = owner.get("/t/acme/items/issue/demo/").content.decode()
    assert 'data-plugboard-item="issue"' in page
    assert 'data-plugboard-depends="project=#dep-project"' in page
    assert "/static/plugboard/widget.js" in page
    assert "YOUR_WIDGET_KEY" in page


@pytest.mark.parametrize("suffix", ["", "demo/"])
def test_another_tenants_item_pages_are_404(suffix, acme, globex, session_client):
    from apps.items.services import item_create

    theirs = DataSourceFactory(tenant=globex.tenant)
    item_create(tenant=globex.tenant, data=form(theirs))
    assert session_client(acme.owner).get(f"/t/acme/items/issue/{suffix}").status_code == 404


def test_viewers_see_items_but_cannot_change_or_preview(
    acme, victor, session_client, issues, source
):
    client = session_client(victor)
    assert client.get("/t/acme/items/issue/").status_code == 200
    assert client.get("/t/acme/items/issue/demo/").status_code == 200
    assert client.get("/t/acme/items/new/").status_code == 403
    assert client.post("/t/acme/items/issue/", form(source, name="X")).status_code == 403
    assert client.post("/t/acme/items/preview/", form(source)).status_code == 403
    assert client.post("/t/acme/items/issue/delete/").status_code == 403
    assert ConnectedItem.objects.get(key="issue").name == "Issue"
