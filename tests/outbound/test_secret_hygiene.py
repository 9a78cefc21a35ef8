"""Secrets stay out of logs, errors, answers and the cache: in any encoding an upstream echoes
them back in, in templated token paths, and when a value cannot be sent as a header at all."""

from __future__ import annotations

import base64
import json
import logging
from urllib.parse import quote, quote_plus

import pytest
import responses

from apps.datasources.connections import datasource_request
from apps.datasources.models import DataSource
from apps.items.services import item_create
from apps.outbound.errors import InvalidRequestSettings, TokenRefreshFailed
from tests.datasources.test_secret_canaries import everything_in_redis
from tests.factories import DataSourceFactory

SECRET = 's3cr3t+key/"é=x'  # changes under every encoding


def encodings(value: str) -> list[str]:
    percent = quote(value, safe="")
    return [value, percent, percent.lower(), quote_plus(value), json.dumps(value)[1:-1],
            base64.b64encode(value.encode()).decode()]  # fmt: skip


@pytest.fixture
def echo_item(acme, upstream):
    def make(**source):
        ds = DataSourceFactory(tenant=acme.tenant, base_url=upstream.url(), **source)
        item_create(tenant=acme.tenant, data={
            "key": "echo", "name": "Echo", "datasource": str(ds.pk),
            "path": "/_test/data/echo-credential", "value": "{id}", "label": "{echo}",
        })  # fmt: skip
        return ds

    return make


@pytest.mark.parametrize(
    ("source", "secrets"),
    [
        ({"auth_mode": "api_key", "auth_config": {"name": "X-API-Key", "in": "header"},
          "secrets": {"value": SECRET}}, [SECRET]),
        ({"auth_mode": "basic", "auth_config": {"username": "elements"},
          "secrets": {"password": SECRET}},
         [SECRET, "Basic " + base64.b64encode(f"elements:{SECRET}".encode()).decode()]),
    ],
    ids=["api_key", "basic"],
)  # fmt: skip
def test_an_echoed_secret_is_masked_in_every_encoding_in_answers_previews_and_the_cache(
    acme, echo_item, session_client, source, secrets
):
    ds = echo_item(**source)

    answer = acme.api().get("/api/v1/items/echo/options/")
    preview = session_client(acme.owner).post("/t/acme/items/preview/", {
        "key": "echo", "name": "Echo", "datasource": str(ds.pk), "method": "GET",
        "path": "/_test/data/echo-credential", "value": "{id}", "label": "{echo}",
        "original_key": "echo",
    })  # fmt: skip

    assert answer.status_code == 200 and preview.status_code == 200
    options = answer.json()["options"]
    assert len(options) >= 6 and all("[secret]" in o["label"] for o in options)
    forms = [form for secret in secrets for form in encodings(secret)]
    for text in (answer.content.decode(), preview.content.decode(), everything_in_redis()):
        for form in forms:
            assert form not in text
            assert json.dumps(form)[1:-1] not in text


def test_a_secret_in_a_templated_token_path_is_not_logged(acme, upstream, caplog):
    caplog.set_level(logging.DEBUG)
    refresh_token = "rt+canary/7="
    ds = DataSourceFactory(
        tenant=acme.tenant, base_url=upstream.url(), auth_mode="token",
        auth_config={"in": "header", "header_name": "Authorization", "scheme": "Bearer",
                     "refresh": {"method": "POST", "path": "/anything/{{refresh_token}}",
                                 "media_type": "form", "token_path": "access_token"}},
        secrets={"refresh.refresh_token": refresh_token},
    )  # fmt: skip

    with pytest.raises(TokenRefreshFailed) as info:
        datasource_request(ds, path="/get")

    assert "/anything/" in caplog.text  # the call was logged...
    shown = caplog.text + str(info.value) + DataSource.objects.get(pk=ds.pk).last_error
    for form in encodings(refresh_token):
        assert form not in shown  # ...without the token, raw or encoded
    assert "[secret]" in caplog.text


@pytest.mark.parametrize(
    ("auth", "field"),
    [
        ({"mode": "token", "token": " leading-space"}, "auth.token"),
        ({"mode": "token", "token": "line\nbreak"}, "auth.token"),
        ({"mode": "token", "token": "ctrl\x01char"}, "auth.token"),
        ({"mode": "token", "token": "ok-token", "scheme": "Bear er"}, "auth.scheme"),
        ({"mode": "api_key", "name": "X-Key", "value": "tab\tand\rcr", "in": "header"}, "auth.value"),
        ({"mode": "api_key", "name": "X-Key", "value": "snow☃man", "in": "header"}, "auth.value"),
        ({"mode": "basic", "username": "a:b", "password": "pw"}, "auth.username"),
    ],
)  # fmt: skip
def test_a_value_that_cannot_be_a_header_is_refused_on_save_without_repeating_it(
    acme, upstream, auth, field
):
    response = acme.api().post(
        "/api/v1/datasources/",
        {"name": "Bad", "base_url": upstream.url(), "auth": auth},
        format="json",
    )
    assert response.status_code == 400
    error = response.json()["error"]
    assert field in error["details"]["fields"], error
    secret = auth.get("token") or auth.get("value") or ""
    if secret.strip():
        assert secret not in response.content.decode()


def test_a_custom_header_value_with_surrounding_spaces_is_refused(acme, upstream):
    response = acme.api().post(
        "/api/v1/datasources/",
        {
            "name": "Bad",
            "base_url": upstream.url(),
            "headers": [{"name": "X-Env", "value": " prod"}],
        },
        format="json",
    )
    assert response.status_code == 400
    assert "headers" in response.json()["error"]["details"]["fields"]


@responses.activate
def test_a_token_that_cannot_be_sent_is_a_typed_error_without_its_value(acme, test_dns, caplog):
    caplog.set_level(logging.DEBUG)
    ds = DataSourceFactory(
        tenant=acme.tenant, base_url="https://api.example.com",
        auth_mode="oauth2_client_credentials",
        auth_config={"token_url": "https://auth.example.com/token", "client_id": "id"},
        secrets={"client_secret": "secret"},
    )  # fmt: skip
    bad = "tok-canary\r\nX-Injected: 1"
    responses.post("https://auth.example.com/token",
                   json={"access_token": bad, "expires_in": 3600})  # fmt: skip

    with pytest.raises(InvalidRequestSettings) as info:
        datasource_request(ds, path="/items")

    assert info.value.code == "invalid_request_settings"
    assert "Authorization" in info.value.message
    assert "tok-canary" not in info.value.message + caplog.text
    assert len(responses.calls) == 1  # the token request only; nothing sent with the bad value
