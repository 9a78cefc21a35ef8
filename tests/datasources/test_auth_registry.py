"""The auth registry is the single source of truth: a mode registered here — and named nowhere
else — appears in the API's schema, the configure form and the write/read round trip, and
its credentials are sent on real calls."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from apps.datasources.connections import datasource_request
from apps.datasources.models import DataSource
from apps.outbound.auth import register, unregister
from apps.outbound.auth.base import AuthMode, FieldSpec, Kind
from apps.outbound.client import Credentials
from tests.datasources.test_api import create

NAME = "test_signed_header"


class SignedHeaderAuth(AuthMode):
    """A throwaway mode: an HMAC of the key id, sent in a header."""

    name = NAME
    label = "Signed header (test)"
    fields = (
        FieldSpec("key_id", "Key ID", required=True),
        FieldSpec("signing_key", "Signing key", kind=Kind.SECRET, required=True),
        FieldSpec("algorithm", "Algorithm", kind=Kind.CHOICE,
                  choices=(("sha256", "SHA-256"), ("sha512", "SHA-512")), default="sha256"),
    )  # fmt: skip
    example = {"mode": NAME, "key_id": "k1", "signing_key": "s3cr3t", "algorithm": "sha256"}

    def apply(self, connection) -> Credentials:
        key_id = connection.auth_config["key_id"]
        digest = hmac.new(
            connection.secrets["signing_key"].encode(),
            key_id.encode(),
            getattr(hashlib, connection.auth_config.get("algorithm", "sha256")),
        ).hexdigest()
        return Credentials(headers={"X-Signature": f"{key_id}:{digest}"})


@pytest.fixture
def signed_mode():
    mode = register(SignedHeaderAuth())
    yield mode
    unregister(mode.name)


def test_the_mode_appears_in_the_api_schema(acme, signed_mode, client):
    client.force_login(acme.owner)
    schema = client.get("/api/schema/", {"format": "json"}).json()

    components = schema["components"]["schemas"]
    request = components["TestSignedHeaderAuthRequest"]
    assert set(request["properties"]) >= {"mode", "key_id", "signing_key", "algorithm"}
    assert request["properties"]["signing_key"]["writeOnly"] is True
    algorithm = request["properties"]["algorithm"]
    if "$ref" in algorithm:
        algorithm = components[algorithm["$ref"].rsplit("/", 1)[1]]
    assert algorithm["enum"] == ["sha256", "sha512"]
    read = components["TestSignedHeaderAuth"]
    assert "signing_key" not in read["properties"] and "secrets_set" in read["properties"]
    mapping = components["AuthRequest"]["discriminator"]["mapping"]
    assert mapping[NAME].endswith("/TestSignedHeaderAuthRequest")
    examples = schema["paths"]["/api/v1/datasources/"]["post"]["requestBody"]["content"][
        "application/json"
    ]["examples"]
    assert any(e["value"]["auth"]["mode"] == NAME for e in examples.values())


def test_the_mode_appears_in_the_configure_form_and_saves_from_it(
    acme, signed_mode, upstream, session_client
):
    ds = create(acme.api(), {"name": "Signed", "base_url": upstream.url()})
    client = session_client(acme.owner)
    page = client.get(f"/t/acme/datasources/{ds['id']}/configure/").content.decode()
    assert f'<option value="{NAME}">Signed header (test)</option>' in page
    assert f'name="{NAME}__key_id"' in page
    assert f'type="password" name="{NAME}__signing_key"' in page

    saved = client.post(f"/t/acme/datasources/{ds['id']}/configure/", {
        "name": "Signed", "slug": ds["slug"], "base_url": upstream.url(),
        "timeout_seconds": "10", "auth_mode": NAME, f"{NAME}__key_id": "k1",
        f"{NAME}__signing_key": "form-key", f"{NAME}__algorithm": "sha512", "ping__method": "GET",
    })  # fmt: skip

    assert saved.status_code == 302, saved.content.decode()[:2000]
    stored = DataSource.objects.get(pk=ds["id"])
    assert stored.auth_config == {"key_id": "k1", "algorithm": "sha512"}
    assert stored.secrets == {"signing_key": "form-key"}


def test_the_mode_round_trips_through_the_api_and_signs_real_calls(acme, signed_mode, upstream):
    created = create(acme.api(), {
        "name": "Signed", "base_url": upstream.url(),
        "auth": {"mode": NAME, "key_id": "k1", "signing_key": "api-key-secret"},
        "ping": {"path": "/headers", "success_path": "headers.X-Signature"},
    })  # fmt: skip
    assert created["auth"] == {"mode": NAME, "key_id": "k1", "algorithm": "sha256",
                               "secrets_set": ["signing_key"]}  # fmt: skip

    url = f"/api/v1/datasources/{created['id']}/"
    read = acme.api().get(url).json()
    read["auth"]["key_id"] = "k2"
    written = acme.api().patch(url, read, format="json")
    assert written.status_code == 200 and written.json()["auth"]["key_id"] == "k2"

    missing = acme.api().patch(url, {"auth": {"mode": NAME, "key_id": "k3", "signing_key": None}},
                               format="json")  # fmt: skip
    assert missing.status_code == 400
    assert "auth.signing_key" in missing.json()["error"]["details"]["fields"]

    result = acme.api().post(f"{url}test/").json()
    assert result["ok"] is True, result
    assert result["steps"][-1]["detail"] == "headers.X-Signature = [secret]"  # a credential
    echoed = datasource_request(DataSource.objects.get(pk=created["id"]), path="/headers")
    expected = hmac.new(b"api-key-secret", b"k2", hashlib.sha256).hexdigest()
    assert echoed.json()["headers"]["X-Signature"] == f"k2:{expected}"
