"""``POST /api/v1/inbound/{token}``: no API key, signatures checked in constant time, 401 and
nothing recorded on a bad one, 413 past 1 MB, a replayed webhook-id recorded once, and the data
source's cache purged."""

import hashlib
import hmac
import json
import time
from datetime import UTC, datetime, timedelta

import pytest
from rest_framework.test import APIClient
from standardwebhooks.webhooks import Webhook

from apps.datasources.event_settings import new_signature_key
from apps.datasources.models import DataSource
from apps.events.inbound import MAX_BODY
from apps.events.models import Event, EventStatus
from apps.items.services import item_create
from apps.tenants.services import api_key_create
from tests.factories import DataSourceFactory

BODY = json.dumps({"webhookEvent": "jira:issue_updated", "issue": {"key": "PB-1"}}).encode()


def inbound_path(datasource: DataSource) -> str:
    datasource.refresh_from_db()
    return f"/api/v1/inbound/{datasource.inbound_token}"


def post(client, datasource, body=BODY, content_type="application/json", **headers):
    return client.post(inbound_path(datasource), data=body, content_type=content_type,
                       headers=headers)  # fmt: skip


@pytest.fixture
def source(acme):
    return DataSourceFactory(tenant=acme.tenant)


def signed_hmac(secret: str, body: bytes, prefix: str = "sha256=") -> str:
    return prefix + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def test_an_event_is_recorded_without_an_api_key(client, source):
    response = post(client, source)
    assert response.status_code == 202, response.content
    event = Event.objects.get(pk=response.json()["id"])
    assert bytes(event.body) == BODY
    assert event.content_type == "application/json"
    assert event.source == "webhook" and event.tenant_id == source.tenant_id
    assert event.status == EventStatus.RECORDED  # events are not enabled: nothing to deliver
    assert event.next_attempt_at is None


def test_an_unknown_token_is_404_and_records_nothing(client, source):
    for token in ("x" * 43, "short", "../../etc", source.inbound_token_digest):
        response = client.post(f"/api/v1/inbound/{token}", data=BODY,
                               content_type="application/json")  # fmt: skip
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "not_found"
    assert not Event.objects.exists()


def test_bodies_over_1_mb_are_refused_with_413(client, source):
    assert post(client, source, body=b"x" * MAX_BODY, content_type="text/plain").status_code == 202
    response = post(client, source, body=b"x" * (MAX_BODY + 1), content_type="text/plain")
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "payload_too_large"
    assert Event.objects.count() == 1


def test_a_body_that_is_not_utf8_text_is_refused(client, source):
    response = post(client, source, body=b"\xff\xfe\x00binary", content_type="application/x-bin")
    assert response.status_code == 415
    assert not Event.objects.exists()


@pytest.mark.parametrize("prefix", ["sha256=", "", "SHA256="])
def test_hmac_sha256_signatures_with_or_without_prefix(client, source, prefix):
    source.events_config = {"inbound_signature_scheme": "hmac_sha256"}
    source.event_secrets = {"inbound_secret": "It's a Secret to Everybody"}
    source.save()
    signature = signed_hmac("It's a Secret to Everybody", BODY, prefix)
    response = post(client, source, X_Hub_Signature_256=signature)
    assert response.status_code == 202, response.content


@pytest.mark.parametrize(
    "signature",
    [None, "", "sha256=", "sha256=" + "0" * 64, "garbage", "sha256=ü", "sha1=abc"],
)
def test_a_bad_or_missing_hmac_signature_is_401_and_records_nothing(client, source, signature):
    source.event_secrets = {"inbound_secret": "s3cret"}
    source.save()
    headers = {} if signature is None else {"X_Hub_Signature_256": signature}
    response = post(client, source, **headers)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "invalid_signature"
    assert not Event.objects.exists()


def test_a_signature_of_another_body_is_refused(client, source):
    source.event_secrets = {"inbound_secret": "s3cret"}
    source.save()
    response = post(client, source, X_Hub_Signature_256=signed_hmac("s3cret", b"{}"))
    assert response.status_code == 401


def test_the_signature_header_is_configurable(client, source):
    source.events_config = {"inbound_signature_header": "X-Jira-Signature"}
    source.event_secrets = {"inbound_secret": "s3cret"}
    source.save()
    assert post(client, source, X_Hub_Signature_256=signed_hmac("s3cret", BODY)).status_code == 401
    assert post(client, source, X_Jira_Signature=signed_hmac("s3cret", BODY)).status_code == 202


@pytest.fixture
def standard_source(source):
    key = new_signature_key()
    source.events_config = {"inbound_signature_scheme": "standard_webhooks"}
    source.event_secrets = {"inbound_secret": key}
    source.save()
    source.key = key
    return source


def standard_headers(key: str, body: bytes, msg_id: str = "msg_1", at: datetime | None = None):
    at = at or datetime.now(tz=UTC)
    signature = Webhook(key).sign(msg_id, at, body.decode())
    return {"webhook_id": msg_id, "webhook_timestamp": str(int(at.timestamp())),
            "webhook_signature": signature}  # fmt: skip


def test_standard_webhooks_signatures_are_checked(client, standard_source):
    headers = standard_headers(standard_source.key, BODY)
    assert post(client, standard_source, **headers).status_code == 202


@pytest.mark.parametrize(
    "tamper",
    [
        "missing",
        "wrong key",
        "stale timestamp",
        "future timestamp",
        "malformed signature",
        "other body",
    ],
)
def test_bad_standard_webhooks_requests_are_401(client, standard_source, tamper):
    key, body, at = standard_source.key, BODY, datetime.now(tz=UTC)
    if tamper == "wrong key":
        key = new_signature_key()
    if tamper == "stale timestamp":
        at -= timedelta(minutes=6)
    if tamper == "future timestamp":
        at += timedelta(minutes=6)
    headers = standard_headers(key, b'{"other": 1}' if tamper == "other body" else body, at=at)
    if tamper == "missing":
        headers = {}
    if tamper == "malformed signature":
        headers["webhook_signature"] = "v1"
    response = post(client, standard_source, **headers)
    assert response.status_code == 401
    assert not Event.objects.exists()


def test_a_timestamp_within_five_minutes_is_accepted(client, standard_source):
    at = datetime.now(tz=UTC) - timedelta(minutes=4)
    assert post(client, standard_source, **standard_headers(standard_source.key, BODY, at=at)
                ).status_code == 202  # fmt: skip


def test_a_replayed_webhook_id_is_recorded_once(client, standard_source):
    headers = standard_headers(standard_source.key, BODY, msg_id="msg_2Lh9")
    first = post(client, standard_source, **headers)
    again = post(client, standard_source, **headers)
    assert first.status_code == 202 and again.status_code == 200
    assert again.json() == {"id": first.json()["id"], "status": "recorded", "duplicate": True}
    assert Event.objects.count() == 1


def test_the_same_webhook_id_on_two_data_sources_is_two_events(client, acme):
    one, two = DataSourceFactory(tenant=acme.tenant), DataSourceFactory(tenant=acme.tenant)
    assert post(client, one, webhook_id="msg_same").status_code == 202
    assert post(client, two, webhook_id="msg_same").status_code == 202
    assert Event.objects.count() == 2


def test_an_event_of_our_own_coming_back_is_refused_as_a_loop(client, source):
    first = post(client, source).json()
    response = post(client, source, webhook_id=first["id"])
    assert response.status_code == 508
    assert response.json()["error"]["code"] == "delivery_loop"
    assert Event.objects.count() == 1


def test_with_delivery_on_the_event_is_pending_at_once(client, source, signature_key,
                                                      django_capture_on_commit_callbacks):  # fmt: skip
    source.events_config = {"enabled": True, "callback_url": "https://hooks.example.com/x"}
    source.event_secrets = {"signature_key": signature_key}
    source.save()
    with django_capture_on_commit_callbacks() as callbacks:
        response = post(client, source)
    assert response.json()["status"] == "pending"
    event = Event.objects.get(pk=response.json()["id"])
    assert event.next_attempt_at is not None and event.queued_for is None  # for the dispatch
    assert [c.__name__ for c in callbacks] == ["request_dispatch"]


def test_provider_url_checks_are_answered(client, source):
    path = inbound_path(source)
    response = client.get(path, {"challenge": "dbx-42"})
    assert response.status_code == 200 and response.content == b"dbx-42"
    assert response["Content-Type"].startswith("text/plain")
    response = client.post(f"{path}?validationToken=graph%3Ctoken%3E", data=b"",
                           content_type="text/plain")  # fmt: skip
    assert response.status_code == 200 and response.content == b"graph<token>"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert not Event.objects.exists()


def test_other_methods_are_405(client, source):
    path = inbound_path(source)
    assert client.put(path, data=BODY).status_code == 405
    assert client.get(path).status_code == 405


def test_recording_makes_no_upstream_call_and_purges_the_cache(acme, upstream, counters, client):
    datasource = DataSourceFactory(tenant=acme.tenant, base_url=upstream.url())
    item_create(tenant=acme.tenant, data={
        "key": "project", "name": "Project", "datasource": str(datasource.pk),
        "path": "/_test/data/projects", "value": "{key}", "label": "{name}",
    })  # fmt: skip
    _, raw = api_key_create(tenant=acme.tenant, scope="widget", name="w")
    widget = APIClient()
    widget.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    for _ in range(2):
        assert widget.get("/api/v1/items/project/options/").status_code == 200
    assert counters.calls("/_test/data/projects") == 1  # the second answer was cached
    assert post(client, datasource).status_code == 202
    assert counters.calls("/_test/data/projects") == 1  # recording called nothing upstream
    assert widget.get("/api/v1/items/project/options/").status_code == 200
    assert counters.calls("/_test/data/projects") == 2  # the cache was purged
    assert widget.get("/api/v1/items/project/options/").status_code == 200
    assert counters.calls("/_test/data/projects") == 2  # and filled again


def test_with_redis_unreachable_the_event_is_still_recorded(client, source, settings):
    from tests.items.test_invalidation import DOWN

    settings.CACHES = DOWN
    started = time.monotonic()
    response = post(client, source)
    assert response.status_code == 202
    assert time.monotonic() - started < 5
    assert Event.objects.count() == 1


def test_unreadable_inbound_secrets_answer_503_so_the_sender_retries(client, source, settings):
    source.event_secrets = {"inbound_secret": "s3cret"}
    source.save()
    path = inbound_path(source)
    settings.FIELD_ENCRYPTION_KEYS = ["Hk3d0J0l8xZyHBn7SBrgJy1mYxH3rEw3hM0xw8hgC6Q="]
    response = client.post(path, data=BODY, content_type="application/json",
                           headers={"X-Hub-Signature-256": signed_hmac("s3cret", BODY)})  # fmt: skip
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "secrets_unreadable"
    assert not Event.objects.exists()


def test_a_content_type_that_cannot_be_sent_again_is_stored_as_octet_stream(source):
    from apps.events.recording import event_record

    event = event_record(datasource=source, source="webhook", body=b"x",
                         content_type="text/plain\x01; x=1").event  # fmt: skip
    assert event.content_type == "application/octet-stream"


def test_a_chunked_body_on_a_server_that_does_not_decode_it_is_411(source, rf):
    from apps.events.views import inbound

    source.refresh_from_db()
    request = rf.post("/x", data=b"", content_type="application/json",
                      HTTP_TRANSFER_ENCODING="chunked")  # fmt: skip
    request.META.pop("CONTENT_LENGTH", None)
    response = inbound(request, source.inbound_token)
    assert response.status_code == 411
    assert not Event.objects.exists()


@pytest.mark.parametrize(
    "header", ["webhook-id", "X-GitHub-Delivery", "X-Atlassian-Webhook-Identifier"]
)
def test_a_senders_retry_of_one_delivery_is_recorded_once(client, source, header):
    headers = {header.replace("-", "_"): "72d3162e-cc78-11e3-81ab-4c9367dc0958"}
    assert post(client, source, **headers).status_code == 202
    assert post(client, source, **headers).status_code == 200
    assert Event.objects.count() == 1


# A process remembers the receiver of an inbound URL; what it remembers never outlives a change.


def test_a_remembered_inbound_url_stops_working_once_a_new_one_is_made(client, source):
    from apps.datasources.services import datasource_inbound_rotate
    from apps.events.inbound import receiver_for_token

    old = inbound_path(source)
    assert client.post(old, data=BODY, content_type="application/json").status_code == 202
    assert receiver_for_token(old.rsplit("/", 1)[1]).remembered is not None  # from memory now
    datasource_inbound_rotate(datasource=source, actor=None)
    assert client.post(old, data=BODY, content_type="application/json").status_code == 404
    assert post(client, source).status_code == 202  # the new URL
    assert Event.objects.count() == 2


def test_a_remembered_receiver_follows_a_new_inbound_secret(client, source):
    source.event_secrets = {"inbound_secret": "old secret"}
    source.save()
    assert post(client, source, X_Hub_Signature_256=signed_hmac("old secret", BODY)
                ).status_code == 202  # fmt: skip
    source.event_secrets = {"inbound_secret": "new secret"}
    source.save()
    assert post(client, source, X_Hub_Signature_256=signed_hmac("new secret", BODY)
                ).status_code == 202  # fmt: skip
    assert post(client, source, X_Hub_Signature_256=signed_hmac("old secret", BODY)
                ).status_code == 401  # fmt: skip
    assert Event.objects.count() == 2


def test_a_remembered_receiver_follows_delivery_being_turned_on(client, source):
    assert post(client, source).json()["status"] == EventStatus.RECORDED
    source.events_config = {"enabled": True, "callback_url": "https://hooks.example.com/x"}
    source.event_secrets = {"signature_key": new_signature_key()}
    source.save()
    assert post(client, source).json()["status"] == EventStatus.PENDING


def test_a_remembered_receiver_of_a_deleted_data_source_is_404(client, source):
    path = inbound_path(source)
    assert client.post(path, data=BODY, content_type="application/json").status_code == 202
    source.delete()
    assert client.post(path, data=BODY, content_type="application/json").status_code == 404
    assert client.post(path + "?validationToken=x").status_code == 404
    assert client.get(path + "?challenge=x").status_code == 404
    assert client.get(path).status_code == 404
