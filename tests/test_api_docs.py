"""The API's documentation (/api/schema/, shown by Swagger UI at /api/docs/): every operation
has a one-line summary, and the description and tag list name only what exists."""

from __future__ import annotations

import re

import pytest
from django.conf import settings
from django.urls import resolve

pytestmark = pytest.mark.django_db

METHODS = {"get", "post", "put", "patch", "delete"}


@pytest.fixture
def schema(acme):
    response = acme.api().get("/api/schema/", {"format": "json"})
    assert response.status_code == 200
    return response.json()


def operations(schema):
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            if method in METHODS:
                yield f"{method.upper()} {path}", operation


def test_every_operation_has_a_one_line_summary(schema):
    found = dict(operations(schema))
    assert len(found) > 30
    missing = [name for name, operation in found.items() if not operation.get("summary")]
    assert missing == []
    for name, operation in found.items():
        summary = operation["summary"]
        assert "\n" not in summary and len(summary) <= 80, name
        assert summary[0].isupper() and not summary.endswith("."), name


def test_the_tags_described_are_the_tags_used(schema):
    used = {tag for _, operation in operations(schema) for tag in operation.get("tags", [])}
    described = {tag["name"]: tag.get("description", "") for tag in schema.get("tags", [])}
    assert set(described) == used
    assert all(described.values())


def test_the_description_names_only_what_exists(schema):
    description = schema["info"]["description"]
    assert description == settings.SPECTACULAR_SETTINGS["DESCRIPTION"]
    # Every path it names is served, though not listed (the inbound URL).
    for path in re.findall(r"(/api/v1/[^` ]+)", description):
        assert resolve(path.replace("{token}", "abc")).url_name, path
    # What it says the API has, the API has: a tag for each.
    tags = {tag["name"] for tag in schema["tags"]}
    for thing, tag in [("data source", "datasources"), ("connected items", "items"),
                       ("proxy", "proxy"), ("events", "events"), ("bulk jobs", "bulk")]:  # fmt: skip
        assert thing in description and tag in tags, thing
    for auth in ("Authorization: Bearer <api key>", "X-Plugboard-Tenant", "widget key"):
        assert auth in description


# --- Who may read them ----------------------------------------------------------------------


def test_anonymous_callers_get_neither_the_schema_nor_swagger_ui(client):
    for query in ({"format": "json"}, {}):
        schema = client.get("/api/schema/", query)
        assert schema.status_code == 401
        assert schema["Content-Type"] == "application/json"
        assert schema.json()["error"]["code"] == "not_authenticated"
    for path in ("/api/docs/", "/api/docs/?script="):
        docs = client.get(path)
        assert docs.status_code == 302, path
        assert docs["Location"].startswith("/accounts/login/?next=/api/docs/")


def test_a_widget_key_is_refused_the_schema(acme, client):
    from apps.tenants.services import api_key_create

    _, raw = api_key_create(tenant=acme.tenant, scope="widget", name="form")
    response = client.get("/api/schema/", HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "scope_not_allowed"


def test_a_signed_in_user_reads_the_schema_and_swagger_ui(client, acme):
    client.force_login(acme.owner)
    assert client.get("/api/schema/", {"format": "json"}).json()["info"]["title"]
    page = client.get("/api/docs/")
    assert page.status_code == 200
    html = page.content.decode()
    # Strict-CSP ready: every script and stylesheet is a file of this origin, none inline.
    assert "<style" not in html and "style=" not in html
    assert re.findall(r"<script(?![^>]*\bsrc=)", html) == []
    assert 'src="/api/docs/?script="' in html
    assert re.search(r"<script src=\"/static/[^\"]*/swagger-ui-bundle.js\">", html), html
    script = client.get("/api/docs/?script=")
    assert script.status_code == 200
    assert script["Content-Type"].startswith("application/javascript")
    assert b"/api/schema/" in script.content


def test_api_docs_public_publishes_both_to_anyone(client, settings):
    settings.API_DOCS_PUBLIC = True
    assert client.get("/api/schema/", {"format": "json"}).status_code == 200
    assert client.get("/api/docs/").status_code == 200
    assert client.get("/api/docs/?script=").status_code == 200


# --- JSON only ------------------------------------------------------------------------------


@pytest.mark.parametrize("accept", ["text/html", "text/html,application/xhtml+xml,*/*;q=0.8",
                                    "application/xml"])  # fmt: skip
def test_the_api_answers_json_never_a_browsable_html_page(acme, client, accept):
    keyed = acme.api().get("/api/v1/datasources/", HTTP_ACCEPT=accept)
    assert keyed.status_code == 200
    assert keyed["Content-Type"] == "application/json"
    assert keyed.json()["results"] == []
    anonymous = client.get("/api/v1/datasources/", HTTP_ACCEPT=accept)
    assert anonymous.status_code == 401 and anonymous["Content-Type"] == "application/json"
    assert b"<html" not in keyed.content + anonymous.content
    assert settings.REST_FRAMEWORK["DEFAULT_RENDERER_CLASSES"] == [
        "rest_framework.renderers.JSONRenderer"
    ]
