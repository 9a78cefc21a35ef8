"""Dependency substitution: values are URL-encoded into URLs and JSON-escaped into bodies, and
no value can add a query parameter, a path segment or a JSON member."""

import json

import pytest
from django.core.exceptions import ValidationError

from apps.items.rendering import (
    dependencies,
    render_body,
    render_option,
    render_path,
    validate_request_templates,
)
from apps.items.services import item_create

INJECTIONS = [
    "PB&admin=true",
    "PB?admin=true",
    "PB/../../admin",
    "../secret",
    "PB#fragment",
    "PB%26x%3D1",
    "a b+c",
    'quote"and\\backslash',
    "line\r\nX-Injected: 1",
    "ünïcødé ✓",
    "{project}",
]


def test_dependencies_are_the_placeholders_in_order():
    assert dependencies("/a/{x}?b={y}&c={x}", '{"z": "{z}"}') == ["x", "y", "z"]
    assert dependencies("/static", None) == []


@pytest.mark.parametrize("value", INJECTIONS)
def test_a_path_value_stays_one_encoded_value(value):
    rendered = render_path("/projects/{p}/issues?project={p}&max=5", {"p": value})
    path, _, query = rendered.partition("?")
    assert path.count("/") == 3
    assert query.count("&") == 1 and query.endswith("&max=5")
    from urllib.parse import parse_qs, unquote

    assert parse_qs(query)["project"] == [value]
    assert unquote(path.split("/")[2]) == value


@pytest.mark.parametrize("value", [*INJECTIONS, '", "admin": true, "x": "', "\\u0022"])
def test_a_body_value_stays_one_json_string(value):
    body = render_body('{"project": "{p}", "fixed": 1}', {"p": value})
    assert json.loads(body) == {"project": value, "fixed": 1}


def test_placeholders_must_sit_inside_json_strings():
    with pytest.raises(ValidationError) as info:
        validate_request_templates("/x", '{"n": {count}}', "POST")
    assert "inside a string" in str(info.value)
    validate_request_templates("/x", '{"n": "{count}"}', "POST")


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("https://evil.example/{x}", "relative"),
        ("//evil.example/", "relative"),
        ("/a b", "spaces"),
        ("/search?q={q}", "reserved"),
        ("/search?f={filter}", "reserved"),
    ],
)
def test_request_templates_that_are_refused(path, message):
    with pytest.raises(ValidationError, match=message):
        validate_request_templates(path, None, "GET")


def test_option_templates_read_dotted_paths():
    element = {"key": "PB-1", "fields": {"summary": "Hi", "n": 3, "flag": True, "none": None},
               "tags": ["a", "b"]}  # fmt: skip
    assert render_option("{key} – {fields.summary}", element) == "PB-1 – Hi"
    assert render_option("{fields.n}/{fields.flag}/{fields.none}/{missing}", element) == "3/true//"
    assert render_option("{tags.1}", element) == "b"
    assert render_option("{}", "plain") == "plain"


@pytest.mark.parametrize("value", INJECTIONS[:8])
def test_injections_through_the_real_upstream(value, acme, source):
    """The upstream's own view of the request: one path segment, one parameter, one string."""
    get_item = item_create(tenant=acme.tenant, data={
        "key": "echo-get", "name": "Echo", "datasource": str(source.pk),
        "path": "/_test/data/echo/{p}?project={p}&max=5", "value": "{query}", "label": "{path}",
    })  # fmt: skip
    post_item = item_create(tenant=acme.tenant, data={
        "key": "echo-post", "name": "Echo", "datasource": str(source.pk), "method": "POST",
        "path": "/_test/data/echo", "body": '{"project": "{p}"}', "value": "{body}", "label": "{body}",
    })  # fmt: skip

    got = acme.api().get("/api/v1/items/echo-get/options/", {"p": value}).json()["options"][0]
    posted = acme.api().get("/api/v1/items/echo-post/options/", {"p": value}).json()["options"][0]

    from urllib.parse import parse_qs

    args = parse_qs(got["value"], keep_blank_values=True)
    assert args == {"project": [value], "max": ["5"]}
    assert got["label"] == f"/_test/data/echo/{value}"
    assert json.loads(posted["value"]) == {"project": value}
    del get_item, post_item
