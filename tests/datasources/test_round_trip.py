"""What the API returns, it accepts back: a client that reads a resource, changes one field and
writes the whole read back succeeds; the contract's write examples (with "type": "rest") are
accepted; truly unknown fields are still refused. Paths whose query carries a URL are paths."""

from __future__ import annotations

import pytest

from tests.datasources.helpers import write_shape
from tests.datasources.test_api import MODES, create


@pytest.mark.parametrize("mode", MODES)
def test_a_read_written_back_with_one_change_is_accepted(mode, acme, upstream, oauth):
    created = create(acme.api(), write_shape(mode, upstream, oauth))
    url = f"/api/v1/datasources/{created['id']}/"
    read = acme.api().get(url).json()

    read["name"] = "Renamed"
    response = acme.api().patch(url, read, format="json")

    assert response.status_code == 200, response.content
    after = response.json()
    assert after["name"] == "Renamed"
    assert after["auth"]["secrets_set"] == read["auth"]["secrets_set"]
    assert {k: v for k, v in after.items() if k not in ("name", "updated_at")} == {
        k: v for k, v in read.items() if k not in ("name", "updated_at")
    }


def test_the_contracts_write_example_with_type_rest_is_accepted(acme, upstream):
    body = {**write_shape("basic", upstream), "type": "rest"}
    assert create(acme.api(), body)["type"] == "rest"


@pytest.mark.parametrize(
    ("body", "field"),
    [({"type": "soap"}, "type"), ({"colour": "red"}, "colour"), ({"events_x": {}}, "events_x")],
)
def test_another_type_or_an_unknown_field_is_refused_by_name(acme, upstream, body, field):
    response = acme.api().post(
        "/api/v1/datasources/", {**write_shape("none", upstream), **body}, format="json"
    )
    assert response.status_code == 400
    assert field in response.json()["error"]["details"]["fields"]


def test_an_item_read_written_back_is_accepted(acme, upstream):
    source = create(acme.api(), write_shape("none", upstream))
    item = {"key": "thing", "name": "Thing", "datasource": source["id"], "path": "/get",
            "value": "{url}", "label": "{url}"}  # fmt: skip
    assert acme.api().post("/api/v1/items/", item, format="json").status_code == 201
    read = acme.api().get("/api/v1/items/thing/").json()

    read["name"] = "Renamed thing"
    response = acme.api().patch("/api/v1/items/thing/", read, format="json")

    assert response.status_code == 200, response.content
    assert response.json()["name"] == "Renamed thing"
    unknown = acme.api().patch("/api/v1/items/thing/", {"colour": "red"}, format="json")
    assert unknown.status_code == 400
    assert "colour" in unknown.json()["error"]["details"]["fields"]


def test_an_api_key_read_sent_back_creates_a_key_and_unknown_fields_are_refused(acme):
    made = (
        acme.api()
        .post(
            "/api/v1/api-keys/",
            {"scope": "widget", "name": "w", "allowed_origins": ["https://a.example"]},
            format="json",
        )
        .json()
    )
    read = acme.api().get(f"/api/v1/api-keys/{made['id']}/").json()

    again = acme.api().post("/api/v1/api-keys/", {**read, "name": "w2"}, format="json")

    assert again.status_code == 201, again.content
    assert again.json()["name"] == "w2" and again.json()["id"] != read["id"]
    unknown = acme.api().post("/api/v1/api-keys/", {"scope": "admin", "colour": 1}, format="json")
    assert unknown.status_code == 400
    assert "colour" in unknown.json()["error"]["details"]["fields"]


QUERY_URL = "/anything?next=https://example.org/x"


def test_a_path_whose_query_carries_a_url_is_a_path(acme, upstream):
    created = create(acme.api(), write_shape(
        "none", upstream, health_check_path=QUERY_URL,
        ping={"path": QUERY_URL, "success_path": "args.next",
              "success_values": ["https://example.org/x"]},
    ))  # fmt: skip
    assert created["ping"]["path"] == QUERY_URL and created["health_check_path"] == QUERY_URL
    result = acme.api().post(f"/api/v1/datasources/{created['id']}/test/").json()
    assert result["ok"] is True, result

    item = {"key": "next", "name": "Next", "datasource": created["id"], "path": QUERY_URL,
            "results_path": "", "value": "{args.next}", "label": "{url}"}  # fmt: skip
    assert acme.api().post("/api/v1/items/", item, format="json").status_code == 201


@pytest.mark.parametrize(
    "path", ["https://elsewhere.example/x", "//elsewhere.example/x", "\\\\elsewhere\\x",
             "/\\elsewhere/x", "javascript:alert(1)", "/a/../b", "/a/%2e%2E/b", "/a/./b"],
)  # fmt: skip
def test_a_scheme_or_authority_in_front_or_a_dot_segment_is_refused(acme, upstream, path):
    for body in ({"health_check_path": path}, {"ping": {"path": path}}):
        response = acme.api().post(
            "/api/v1/datasources/", {**write_shape("none", upstream), **body}, format="json"
        )
        assert response.status_code == 400, (path, body)
    source = create(acme.api(), write_shape("none", upstream))
    item = {"key": "k", "name": "K", "datasource": source["id"], "path": path,
            "value": "{a}", "label": "{a}"}  # fmt: skip
    assert acme.api().post("/api/v1/items/", item, format="json").status_code == 400
