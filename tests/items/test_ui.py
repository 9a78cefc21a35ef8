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


# --- The item editor (issue 13, point 9) ----------------------------------------------------


def test_the_preview_warns_of_references_no_record_has(owner, acme, source):
    result = owner.post("/t/acme/items/preview/", {
        **form(source, value="{id}", label="{key} – {fields.summry} {fields.summry}"),
        "dep_project": "PB",
    }).json()  # fmt: skip

    assert result["ok"] is True and result["count"] == 5
    assert [(w["field"], w["reference"]) for w in result["warnings"]] == [
        ("value", "id"),
        ("label", "fields.summry"),
    ]
    warning = result["warnings"][1]
    assert warning["label"] == "Label"
    assert "{fields.summry} matches no field in any of the 5 records" in warning["message"]
    assert "The first record has: key, fields.summary, fields.priority." in warning["message"]


def test_no_warning_when_every_reference_matches_some_record(owner, acme, source):
    result = owner.post(
        "/t/acme/items/preview/", {**form(source, value="{key}"), "dep_project": "PB"}
    ).json()

    assert result["ok"] is True and result["warnings"] == []


def test_a_reference_to_a_null_field_is_not_unmatched(acme, source):
    from apps.items.services import item_unsaved, unmatched_references

    item = item_unsaved(tenant=acme.tenant, data=form(source, value="{a}", label="{a.b} {}"))
    assert unmatched_references(item=item, elements=[{"a": {"b": None}}]) == []
    # Matched by one record is enough; the hint names the first record's fields.
    assert unmatched_references(item=item, elements=[{"a": 1}, {"a": {"b": 2}}]) == []
    (warning,) = unmatched_references(item=item, elements=[{"a": 1}])
    assert warning["reference"] == "a.b"
    assert warning["message"] == (
        "{a.b} matches no field in the record of the preview, so it shows as empty. "
        "The first record has: a."
    )
    assert unmatched_references(item=item, elements=[]) == []


def test_the_new_item_page_shows_examples_as_placeholders_not_values(owner, acme, source):
    response = owner.get("/t/acme/items/new/")
    page = response.content.decode()

    for name, example in [("key", "jira-issue"), ("name", "Jira issue"),
                          ("results_path", "data.items"), ("value", "{id}"),
                          ("label", "{key} – {fields.summary}")]:  # fmt: skip
        tag = page[page.rindex("<input", 0, page.index(f'id="id_{name}"')) :]
        tag = tag[: tag.index(">")]
        assert f'placeholder="{example}"' in tag, name
        assert "value=" not in tag, name
    assert "data-derive-key" in page  # a new item's key follows its name (item.js)


def test_the_body_field_shows_for_methods_with_a_body_only(owner, acme, source, issues):
    def body_row(page):
        start = page.rindex("<div", 0, page.index('id="id_body"'))
        start = page.rindex('<div class="form-row', 0, start + 1)
        return page[start : page.index(">", start)]

    assert " hidden" in body_row(owner.get("/t/acme/items/new/").content.decode())
    assert " hidden" in body_row(owner.get("/t/acme/items/issue/").content.decode())
    posted = owner.post("/t/acme/items/new/", form(source, key="", method="POST"))
    assert " hidden" not in body_row(posted.content.decode())
    # A body sent with GET is refused, and shown with its error rather than hidden.
    refused = owner.post("/t/acme/items/new/", form(source, key="x", body='{"a": "b"}'))
    assert refused.status_code == 400
    row = body_row(refused.content.decode())
    assert " hidden" not in row and "errors" in row
    assert "Only POST requests take a body." in refused.content.decode()


def test_the_item_page_has_a_use_it_box_with_the_options_url_and_the_snippet(owner, acme, issues):
    response = owner.get("/t/acme/items/issue/")

    usage = response.context["usage"]
    assert usage.options_url == "http://testserver/api/v1/items/issue/options/?project="
    assert usage.snippet == (
        '<select name="issue" data-plugboard-item="issue" '
        'data-plugboard-api="http://testserver/api/v1"\n'
        '        data-plugboard-key="YOUR_WIDGET_KEY"\n'
        '        data-plugboard-depends="project=#project"></select>\n'
        '<script src="http://testserver/static/plugboard/widget.js" defer></script>'
    )
    page = response.content.decode()
    assert "<h2>Use it</h2>" in page
    assert 'value="http://testserver/api/v1/items/issue/options/?project="' in page
    assert 'data-copy-target="options-url"' in page and 'data-copy-target="embed-snippet"' in page
    assert "&lt;select name=&quot;issue&quot;" in page  # shown as text
    assert "/static/plugboard/copy.js" in page
    assert "<h2>Use it</h2>" not in owner.get("/t/acme/items/new/").content.decode()
    demo = owner.get("/t/acme/items/issue/demo/").content.decode()
    assert 'data-copy-target="embed-snippet"' in demo


def test_an_item_without_dependencies_has_a_plain_options_url(owner, acme, projects):
    usage = owner.get("/t/acme/items/project/").context["usage"]

    assert usage.options_url == "http://testserver/api/v1/items/project/options/"
    assert "data-plugboard-depends" not in usage.snippet


def test_required_fields_say_what_to_give(owner, acme, source):
    response = owner.post("/t/acme/items/new/", form(source, key="", value="", label=""))

    page = response.content.decode()
    assert "Give the item a key, like jira-issue." in page
    assert "Give a template, like {id}." in page
    assert "This field is required." not in page
