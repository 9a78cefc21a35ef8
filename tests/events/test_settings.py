"""The ``events`` block of a data source: written like auth (secrets write-only, PATCH keeps what
is omitted, null clears), validated, and read back with its inbound URL."""

import base64

import pytest

from apps.datasources.event_settings import new_signature_key
from apps.datasources.models import DataSource
from tests.factories import DataSourceFactory

BASE = {"name": "Jira", "base_url": "https://example.atlassian.net/rest/api/3"}


def key_of(size: int) -> str:
    return "whsec_" + base64.b64encode(b"k" * size).decode()


def create(api, events, **extra):
    return api.post("/api/v1/datasources/", {**BASE, **extra, "events": events}, format="json")


def field_errors(response) -> dict:
    return response.json()["error"]["details"]["fields"]


def test_events_are_written_and_read_without_their_secrets(acme):
    api = acme.api()
    key = new_signature_key()
    response = create(api, {
        "enabled": True, "callback_url": "https://app.example.com/hooks/jira",
        "signature_key": key, "inbound_secret": "gh-secret",
        "inbound_signature_header": "X-Hub-Signature-256",
        "inbound_signature_scheme": "hmac_sha256",
        "poll": {"enabled": True, "path": "/search?jql=updated>={since}", "interval_seconds": 300,
                 "results_path": "issues", "id_path": "id", "updated_path": "fields.updated"},
    })  # fmt: skip
    assert response.status_code == 201, response.content
    events = response.json()["events"]
    assert events["enabled"] is True
    assert events["callback_url"] == "https://app.example.com/hooks/jira"
    assert events["secrets_set"] == ["inbound_secret", "signature_key"]
    assert events["poll"]["updated_path"] == "fields.updated"
    assert key not in response.content.decode() and "gh-secret" not in response.content.decode()
    assert events["inbound_url"].startswith("http://testserver/api/v1/inbound/")
    read = api.get(f"/api/v1/datasources/{response.json()['id']}/").json()
    assert read["events"] == events


def test_what_is_read_is_accepted_back_unchanged(acme):
    api = acme.api()
    created = create(api, {"enabled": True, "callback_url": "https://app.example.com/h",
                           "signature_key": new_signature_key()}).json()  # fmt: skip
    read = api.get(f"/api/v1/datasources/{created['id']}/").json()
    response = api.patch(f"/api/v1/datasources/{created['id']}/", read, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["events"] == read["events"]
    # The secret stayed (the read does not carry it; omitted means kept).
    assert response.json()["events"]["secrets_set"] == ["signature_key"]


def test_patch_keeps_what_is_omitted_and_null_clears(acme):
    api = acme.api()
    created = create(api, {"enabled": True, "callback_url": "https://app.example.com/h",
                           "signature_key": new_signature_key(), "inbound_secret": "s"}).json()  # fmt: skip
    url = f"/api/v1/datasources/{created['id']}/"
    response = api.patch(url, {"events": {"inbound_secret": None}}, format="json")
    assert response.json()["events"]["secrets_set"] == ["signature_key"]
    assert response.json()["events"]["enabled"] is True
    response = api.patch(url, {"events": {"enabled": False, "callback_url": None}}, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["events"]["callback_url"] is None


def test_the_contract_example_without_a_real_key_is_refused_with_a_reason(acme):
    response = create(acme.api(), {"enabled": False, "callback_url": None, "signature_key": "…"})
    assert response.status_code == 400
    assert "whsec_" in field_errors(response)["events.signature_key"][0]["message"]


@pytest.mark.parametrize(("size", "ok"), [(23, False), (24, True), (64, True), (65, False)])
def test_a_signature_key_holds_24_to_64_bytes(acme, size, ok):
    response = create(acme.api(), {"signature_key": key_of(size)})
    assert (response.status_code == 201) is ok, response.content


@pytest.mark.parametrize("key", ["whsec_not base64!", "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "whsec_"])
def test_a_malformed_signature_key_is_refused(acme, key):
    response = create(acme.api(), {"signature_key": key})
    assert response.status_code == 400
    assert "events.signature_key" in field_errors(response)


def test_an_unpadded_key_is_accepted(acme):
    key = key_of(32).rstrip("=")
    assert create(acme.api(), {"signature_key": key}).status_code == 201


@pytest.mark.parametrize(
    ("url", "code"),
    [
        ("http://app.example.com/hooks", "https_required"),
        ("https://127.0.0.1/hooks", "destination_blocked"),
        ("https://169.254.169.254/latest/meta-data", "destination_blocked"),
        ("https://[::ffff:10.0.0.1]/hooks", "destination_blocked"),
        ("https://user:pw@app.example.com/hooks", "destination_blocked"),
        ("https://127.1/hooks", "destination_blocked"),
        ("https://2130706433/hooks", "destination_blocked"),
        ("https://0x7f000001/hooks", "destination_blocked"),
        ("https://0/hooks", "destination_blocked"),
        ("https://10.1/hooks", "destination_blocked"),
    ],
)
def test_the_callback_url_obeys_the_outbound_policy(acme, url, code):
    response = create(acme.api(), {"callback_url": url})
    assert response.status_code == 400
    assert field_errors(response)["events.callback_url"][0]["code"] == code


def test_delivery_needs_a_callback_url_and_a_key(acme):
    response = create(acme.api(), {"enabled": True})
    assert response.status_code == 400
    assert set(field_errors(response)) == {"events.callback_url", "events.signature_key"}


def test_a_standard_webhooks_inbound_secret_must_be_a_whsec_key(acme):
    response = create(acme.api(), {"inbound_secret": "plain",
                                   "inbound_signature_scheme": "standard_webhooks"})  # fmt: skip
    assert response.status_code == 400
    assert "events.inbound_secret" in field_errors(response)


@pytest.mark.parametrize(
    ("poll", "field"),
    [
        ({"enabled": True, "path": "/x", "interval_seconds": 59, "updated_path": "u"},
         "events.poll.interval_seconds"),
        ({"enabled": True, "path": "https://evil.example/x", "updated_path": "u"},
         "events.poll.path"),
        ({"enabled": True, "path": "/a/../b", "updated_path": "u"}, "events.poll.path"),
        ({"enabled": True, "path": "/x"}, "events.poll.updated_path"),
        ({"enabled": True, "updated_path": "u"}, "events.poll.path"),
    ],
)  # fmt: skip
def test_poll_settings_are_checked(acme, poll, field):
    response = create(acme.api(), {"poll": poll})
    assert response.status_code == 400, response.content
    assert field in field_errors(response)


def test_unknown_events_fields_are_refused(acme):
    response = create(acme.api(), {"enabeld": True})
    assert response.status_code == 400
    assert field_errors(response)["events.enabeld"][0]["code"] == "unknown_field"


def test_the_inbound_url_is_unguessable_and_stored_only_encrypted_and_digested(acme):
    created = create(acme.api(), {}).json()
    token = created["events"]["inbound_url"].rsplit("/", 1)[1]
    assert len(base64.urlsafe_b64decode(token + "==")) >= 16  # at least 128 bits
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT inbound_token, inbound_token_digest FROM datasources_datasource WHERE id = %s",
            [created["id"]],
        )
        stored, digest = cursor.fetchone()
    assert token not in stored and token not in digest
    other = create(acme.api(), {}, name="Other").json()
    assert other["events"]["inbound_url"] != created["events"]["inbound_url"]


def test_public_url_names_the_inbound_url(acme, settings):
    settings.PUBLIC_URL = "https://plugboard.example.com"
    created = create(acme.api(), {}).json()
    assert created["events"]["inbound_url"].startswith(
        "https://plugboard.example.com/api/v1/inbound/"
    )


def test_events_changes_are_audited_by_name_only(acme):
    api = acme.api()
    created = create(api, {}).json()
    key = new_signature_key()
    api.patch(f"/api/v1/datasources/{created['id']}/",
              {"events": {"signature_key": key, "callback_url": "https://a.example.com/h"}},
              format="json")  # fmt: skip
    entry = DataSource.objects.get(pk=created["id"]).audit_entries.first()
    assert entry.changes == ["events", "events.signature_key (secret)"]
    assert key not in str(entry.changes) + entry.summary


def test_a_data_source_made_elsewhere_has_an_inbound_url_too(acme):
    datasource = DataSourceFactory(tenant=acme.tenant)
    read = acme.api().get(f"/api/v1/datasources/{datasource.pk}/").json()
    assert "/api/v1/inbound/" in read["events"]["inbound_url"]


def test_viewers_do_not_read_the_inbound_url(acme, victor, api_session):
    datasource = DataSourceFactory(tenant=acme.tenant)
    read = api_session(victor, "acme").get(f"/api/v1/datasources/{datasource.pk}/").json()
    assert read["events"]["inbound_url"] is None
    owner = api_session(acme.owner, "acme").get(f"/api/v1/datasources/{datasource.pk}/").json()
    assert "/api/v1/inbound/" in owner["events"]["inbound_url"]
