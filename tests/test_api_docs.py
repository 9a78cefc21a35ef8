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
def schema(client):
    response = client.get("/api/schema/", {"format": "json"})
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
