"""Canary secrets never appear in plain text: not in any API response, HTML page, admin page,
log line, cache entry or database column."""

import contextlib
import logging
import time
import zlib

import pytest
from django.apps import apps as django_apps
from django.db import connection
from django_redis import get_redis_connection

from apps.datasources.models import DataSource, OAuthGrant, TokenState
from apps.items.cache import backend
from tests.datasources.helpers import CANARIES, write_shape
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db(transaction=True)

TOKEN_CANARIES = {"access": "canary-access-token-2b8", "refresh": "canary-refresh-token-3c9",
                  "verifier": "canary-code-verifier-4d0"}  # fmt: skip
ALL = [*CANARIES.values(), *TOKEN_CANARIES.values()]


def everything_in_the_database() -> str:
    chunks = []
    with connection.cursor() as cursor:
        for model in django_apps.get_models():
            cursor.execute(f"SELECT * FROM {connection.ops.quote_name(model._meta.db_table)}")  # noqa: S608
            chunks.append(repr(cursor.fetchall()))
    return "\n".join(chunks)


def everything_in_redis() -> str:
    client = get_redis_connection("default")
    chunks = []
    for key in client.scan_iter(count=1000):
        kind = client.type(key)
        if kind == b"string":
            value = client.get(key)
            chunks.append(repr(value))
            with contextlib.suppress(zlib.error):  # options entries are compressed
                chunks.append(repr(zlib.decompress(value)))
        elif kind == b"zset":
            chunks.append(repr(client.zrange(key, 0, -1)))
        elif kind == b"set":
            chunks.append(repr(client.smembers(key)))
        elif kind == b"list":
            chunks.append(repr(client.lrange(key, 0, -1)))
        elif kind == b"hash":
            chunks.append(repr(client.hgetall(key)))
    return "\n".join(chunks)


def test_canary_secrets_appear_nowhere_in_plain_text(acme, upstream, oauth, client, caplog):
    caplog.set_level(logging.DEBUG)
    api = acme.api()
    bodies = [
        write_shape("basic", upstream, name="Basic", auth={"mode": "basic", "username": "u",
                    "password": CANARIES["basic"]}),
        write_shape("api_key", upstream, name="Key"),
        write_shape("token", upstream, name="Token", auth={
            "mode": "token", "token": CANARIES["token"],
            "refresh": {"method": "POST", "path": "/anything", "media_type": "form",
                        "body": "u={{username}}&p={{password}}&r={{refresh_token}}",
                        "token_path": "form.p", "password": CANARIES["refresh_password"],
                        "refresh_token": CANARIES["refresh_token"]}},
                    ping={"path": "/status/401"}),  # refused: the recipe refreshes, echoing secrets
        write_shape("oauth2_client_credentials", upstream, oauth, name="Client credentials",
                    auth={"mode": "oauth2_client_credentials", "token_url": oauth.url("/o/token/"),
                          "client_id": "cc-client", "client_secret": CANARIES["client_secret"]}),
        write_shape("oauth2_authorization_code", upstream, oauth, name="Code",
                    auth={"mode": "oauth2_authorization_code", "provider": "generic",
                          "client_id": "code-client", "client_secret": CANARIES["code_secret"],
                          "authorize_url": oauth.url("/o/authorize/"),
                          "token_url": oauth.url("/o/token/")}),
    ]  # fmt: skip
    seen: list[str] = []
    ids = []
    for body in bodies:
        response = api.post("/api/v1/datasources/", body, format="json")
        assert response.status_code == 201, response.content
        seen.append(response.content.decode())
        ids.append(response.json()["id"])
    code_source = DataSource.objects.get(pk=ids[-1])
    TokenState.objects.create(datasource=code_source, access_token=TOKEN_CANARIES["access"],
                              refresh_token=TOKEN_CANARIES["refresh"])  # fmt: skip
    grant = OAuthGrant(tenant=acme.tenant, datasource=code_source, user=acme.owner,
                       state="state-1", redirect_uri="http://testserver/oauth/callback/")  # fmt: skip
    grant.code_verifier = TOKEN_CANARIES["verifier"]
    grant.save()
    backend.store(f"{acme.tenant.pk}:{ids[0]}:1:1:1:digest", ids[0], [], [{"id": 1}], time.time())

    # Every API read and action, including tests that use the secrets for real.
    seen.append(api.get("/api/v1/datasources/").content.decode())
    for pk in ids:
        seen.append(api.get(f"/api/v1/datasources/{pk}/").content.decode())
        seen.append(api.post(f"/api/v1/datasources/{pk}/test/").content.decode())
        seen.append(
            api.patch(
                f"/api/v1/datasources/{pk}/", {"name": "renamed"}, format="json"
            ).content.decode()
        )
    # Every page of the tenant UI, and the admin.
    client.force_login(acme.owner)
    for url in ["/t/acme/", "/t/acme/datasources/", "/t/acme/datasources/new/"]:
        seen.append(client.get(url).content.decode())
    for pk in ids:
        for suffix in ("", "configure/", "delete/"):
            seen.append(client.get(f"/t/acme/datasources/{pk}/{suffix}").content.decode())
    root = UserFactory(username="root", is_staff=True, is_superuser=True)
    client.force_login(root)
    for model in ("datasource", "tokenstate", "oauthgrant", "auditentry"):
        listing = client.get(f"/admin/datasources/{model}/")
        assert listing.status_code == 200
        seen.append(listing.content.decode())
    for pk in ids:
        seen.append(client.get(f"/admin/datasources/datasource/{pk}/change/").content.decode())
    seen.append(
        client.get(f"/admin/datasources/tokenstate/{code_source.pk}/change/").content.decode()
    )
    seen.append(client.get(f"/admin/datasources/oauthgrant/{grant.pk}/change/").content.decode())

    # The secrets were really used: the token data source's refresh went out with the recipe's
    # secrets, and httpbin echoed the password back as the new token, which was stored...
    state = TokenState.objects.get(datasource_id=ids[2])
    assert state.access_token == CANARIES["refresh_password"]
    # ...and yet no canary is anywhere.
    places = {
        "responses and pages": "\n".join(seen),
        "log output": caplog.text,
        "cache": everything_in_redis(),
        "database": everything_in_the_database(),
    }
    for place, text in places.items():
        for canary in ALL:
            assert canary not in text, f"{canary} found in {place}"
