"""A dependency value of "." or ".." would make HTTP clients resolve a dot segment and leave the
data source's base path: it is refused before anything is sent; other values with dots are
sent as they are, inside their segment."""

from __future__ import annotations

import pytest

from apps.datasources.connections import datasource_request
from apps.datasources.models import DataSource
from apps.items.services import item_create
from apps.outbound.errors import DestinationBlocked, TokenRefreshFailed
from tests.factories import DataSourceFactory

OPTIONS = "/api/v1/items/echo/options/"


@pytest.fixture
def nested(acme, upstream):
    source = DataSourceFactory(tenant=acme.tenant, base_url=upstream.url("/_test/data/tenant-a"))
    item_create(tenant=acme.tenant, data={
        "key": "echo", "name": "Echo", "datasource": str(source.pk), "path": "/{p}/echo",
        "value": "{raw_path}", "label": "{path}",
    })  # fmt: skip
    return source


@pytest.mark.parametrize("value", ["..", "."])
def test_a_dot_segment_value_is_refused_before_any_call(acme, nested, counters, value):
    response = acme.api().get(OPTIONS, {"p": value})

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_dependency"
    assert counters.calls("/_test/data/echo") == 0
    assert counters.calls("/_test/data/tenant-a/echo") == 0


@pytest.mark.parametrize(
    ("value", "seen"),
    [("...", "/_test/data/tenant-a/.../echo"), ("a..b", "/_test/data/tenant-a/a..b/echo"),
     ("../x", "/_test/data/tenant-a/..%2Fx/echo"), ("%2e%2e", "/_test/data/tenant-a/%252e%252e/echo")],
)  # fmt: skip
def test_other_values_with_dots_stay_inside_their_segment(acme, nested, value, seen):
    response = acme.api().get(OPTIONS, {"p": value})

    assert response.status_code == 200, response.content
    assert response.json()["options"][0]["value"] == seen


def test_the_client_refuses_a_url_with_a_dot_segment(acme, nested, counters):
    for path in ("/a/../echo", "/a/%2E%2e/echo", "/./echo"):
        with pytest.raises(DestinationBlocked):
            datasource_request(nested, path=path)
    assert counters.calls("/_test/data/echo") == 0


def test_a_refresh_recipe_value_making_a_dot_segment_is_never_sent(acme, upstream, counters):
    ds = DataSourceFactory(
        tenant=acme.tenant, base_url=upstream.url("/_test/data/tenant-a"), auth_mode="token",
        auth_config={"in": "header", "header_name": "Authorization", "scheme": "Bearer",
                     "refresh": {"method": "POST", "path": "/{{refresh_token}}/echo",
                                 "media_type": "form", "token_path": "access_token"}},
        secrets={"refresh.refresh_token": ".."},
    )  # fmt: skip
    with pytest.raises(TokenRefreshFailed):
        datasource_request(ds, path="/get")
    assert counters.calls("/_test/data/echo") == 0
    assert DataSource.objects.get(pk=ds.pk).status == "needs_attention"
