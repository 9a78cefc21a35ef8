"""Polling an API without webhooks: the first poll only sets the watermark; later polls record
one event per new or changed record (id + updated value), ``{since}`` carries the watermark;
polls of 1,000 data sources are spread out; ``POST …/events/poll/`` polls now."""

import json
from datetime import timedelta
from urllib.parse import parse_qs

import pytest
from django.utils import timezone

from apps.events.models import Event, PollState
from apps.events.polling import moment, poll_now, scan
from tests.factories import DataSourceFactory


def issue(key: str, updated: str, **fields) -> dict:
    return {"id": key, "fields": {"updated": updated, **fields}}


@pytest.fixture
def polled(acme, upstream, feeds):
    """A data source polling a fresh feed shaped like Jira's search."""

    def make(records, **poll):
        name = feeds.new({"issues": records})
        datasource = DataSourceFactory(
            tenant=acme.tenant, base_url=upstream.url(),
            events_config={"poll": {
                "enabled": True, "path": f"/_test/feed/{name}?jql=updated>={{since}}",
                "interval_seconds": 300, "results_path": "issues", "id_path": "id",
                "updated_path": "fields.updated", **poll,
            }},
        )  # fmt: skip
        datasource.feed = name
        return datasource

    return make


def bodies(datasource) -> list[dict]:
    return [json.loads(bytes(e.body)) for e in
            Event.objects.filter(datasource=datasource).order_by("received_at", "id")]  # fmt: skip


def test_the_first_poll_only_sets_the_watermark(polled, feeds):
    datasource = polled([issue("1", "2026-11-20T10:00:00.000+0000"),
                         issue("2", "2026-11-21T09:30:00.000+0000")])  # fmt: skip
    assert poll_now(datasource) == 0
    assert not Event.objects.exists()
    state = PollState.objects.get(pk=datasource.pk)
    assert state.watermark == "2026-11-21T09:30:00.000+0000"  # as the API wrote it
    assert state.next_poll_at > timezone.now() + timedelta(seconds=299)


def test_later_polls_record_only_new_or_changed_records(polled, feeds):
    datasource = polled([issue("1", "2026-11-20T10:00:00Z"), issue("2", "2026-11-21T09:30:00Z")])
    poll_now(datasource)
    feeds.serve(datasource.feed, {"issues": [
        issue("1", "2026-11-20T10:00:00Z"),  # unchanged
        issue("2", "2026-11-22T08:00:00Z", summary="changed"),  # changed
        issue("3", "2026-11-22T08:05:00Z"),  # new
    ]})  # fmt: skip
    PollState.objects.filter(pk=datasource.pk).update(lease_until=None)
    assert poll_now(datasource) == 2
    assert [b["id"] for b in bodies(datasource)] == ["2", "3"]
    assert bodies(datasource)[0]["fields"]["summary"] == "changed"
    event = Event.objects.filter(datasource=datasource).first()
    assert event.source == "poll" and event.content_type == "application/json"
    # Asked again with nothing new: nothing recorded (the same id + updated is never twice).
    assert poll_now(datasource) == 0
    assert Event.objects.filter(datasource=datasource).count() == 2


def test_since_carries_the_watermark_url_encoded(polled, feeds):
    datasource = polled([issue("1", "2026-11-21T09:30:00.000+0000")])
    poll_now(datasource)
    poll_now(datasource)
    first, second = feeds.queries(datasource.feed)
    assert parse_qs(second)["jql"] == ["updated>=2026-11-21T09:30:00.000+0000"]
    assert "%2B0000" in second and "%3A" in second
    assert parse_qs(first)["jql"][0].startswith("updated>=20")  # the first asks from now


def test_records_at_the_watermark_seen_by_the_first_poll_are_not_recorded_again(polled, feeds):
    datasource = polled([issue("1", "2026-11-21T09:30:00Z"), issue("2", "2026-11-21T09:30:00Z")])
    poll_now(datasource)
    feeds.serve(datasource.feed, {"issues": [
        issue("1", "2026-11-21T09:30:00Z"), issue("2", "2026-11-21T09:30:00Z"),
        issue("9", "2026-11-21T09:30:00Z"),  # same instant, not seen before
    ]})  # fmt: skip
    assert poll_now(datasource) == 1
    assert [b["id"] for b in bodies(datasource)] == ["9"]


def test_epoch_updated_values_work_and_the_watermark_is_iso(polled, feeds):
    datasource = polled([{"id": 1, "fields": {"updated": 1763700000000}}])  # milliseconds
    poll_now(datasource)
    assert PollState.objects.get(pk=datasource.pk).watermark == "2025-11-21T04:40:00Z"
    feeds.serve(datasource.feed, {"issues": [{"id": 1, "fields": {"updated": 1763700060000}}]})
    assert poll_now(datasource) == 1


def test_records_without_id_or_readable_time_are_skipped_and_said(polled, feeds):
    datasource = polled([issue("1", "2026-11-21T09:30:00Z")])
    poll_now(datasource)
    feeds.serve(datasource.feed, {"issues": [
        {"fields": {"updated": "2026-11-22T00:00:00Z"}}, issue("2", "yesterday"),
        issue("3", "2026-11-22T00:00:00Z"),
    ]})  # fmt: skip
    assert poll_now(datasource) == 1
    assert "2 records" in PollState.objects.get(pk=datasource.pk).last_error


def test_an_answer_without_the_list_fails_clearly_and_keeps_the_watermark(polled, feeds, acme):
    datasource = polled([issue("1", "2026-11-21T09:30:00Z")])
    poll_now(datasource)
    feeds.serve(datasource.feed, {"errors": ["nope"]})
    response = acme.api().post(f"/api/v1/datasources/{datasource.pk}/events/poll/")
    assert response.status_code == 502
    assert response.json()["error"]["code"] == "unexpected_response"
    state = PollState.objects.get(pk=datasource.pk)
    assert state.watermark == "2026-11-21T09:30:00Z" and "no list at issues" in state.last_error
    assert state.lease_until is None


def test_poll_now_through_the_api(polled, feeds, acme, globex):
    datasource = polled([issue("1", "2026-11-21T09:30:00Z")])
    url = f"/api/v1/datasources/{datasource.pk}/events/poll/"
    assert acme.api().post(url).json() == {"recorded": 0}
    feeds.serve(datasource.feed, {"issues": [issue("1", "2026-11-22T09:30:00Z")]})
    assert acme.api().post(url).json() == {"recorded": 1}
    assert globex.api().post(url).status_code == 404


def test_polling_off_is_409(acme):
    datasource = DataSourceFactory(tenant=acme.tenant)
    response = acme.api().post(f"/api/v1/datasources/{datasource.pk}/events/poll/")
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "polling_off"


def test_a_poll_in_progress_is_not_run_twice(polled, acme):
    datasource = polled([])
    PollState.objects.create(datasource=datasource, lease_until=timezone.now() + timedelta(60))
    response = acme.api().post(f"/api/v1/datasources/{datasource.pk}/events/poll/")
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "poll_in_progress"


def test_polled_events_are_delivered_like_any_other(polled, feeds, hooks, signature_key):
    name = hooks.new()
    datasource = polled([issue("1", "2026-11-21T09:30:00Z")])
    datasource.events_config = {**datasource.events_config, "enabled": True,
                                "callback_url": hooks.url(name)}  # fmt: skip
    datasource.event_secrets = {"signature_key": signature_key}
    datasource.save()
    poll_now(datasource)
    feeds.serve(datasource.feed, {"issues": [issue("1", "2026-11-22T09:30:00Z")]})
    poll_now(datasource)
    event = Event.objects.get(datasource=datasource)
    assert event.status == "pending"


def test_a_poll_with_news_purges_the_cache(polled, feeds):
    from apps.core import redis
    from apps.items.cache import keys

    def purge_stamp():
        return redis.client().get(redis.key(keys.purge_stamp(datasource.pk)))

    datasource = polled([issue("1", "2026-11-21T09:30:00Z")])
    poll_now(datasource)
    before = purge_stamp()
    poll_now(datasource)
    assert purge_stamp() == before  # nothing new: nothing purged
    feeds.serve(datasource.feed, {"issues": [issue("1", "2026-11-22T09:30:00Z")]})
    poll_now(datasource)
    assert purge_stamp() != before


def test_a_thousand_data_sources_do_not_poll_in_the_same_second(acme, monkeypatch):
    sent = []
    monkeypatch.setattr("apps.events.polling.enqueue_poll",
                        lambda pk, countdown=0: sent.append(countdown) or True)  # fmt: skip
    config = {"poll": {"enabled": True, "path": "/x", "interval_seconds": 60,
                       "updated_path": "u", "id_path": "id"}}  # fmt: skip
    DataSourceFactory.create_batch(1000, tenant=acme.tenant, events_config=config)
    now = timezone.now()
    scan(now)  # their first times, within the next minute
    firsts = sorted(PollState.objects.values_list("next_poll_at", flat=True))
    assert len({int((t - now).total_seconds()) for t in firsts}) >= 50
    busiest = max(sum(1 for t in firsts if int((t - now).total_seconds()) == s) for s in range(61))
    assert busiest < 60  # about 17 a second on average
    # The scan sends the ones due before the next scan, each with its own countdown.
    assert sent and len(set(round(c) for c in sent)) > 20
    assert all(0 <= c <= 31 for c in sent)
    assert scan(now) == 0  # already sent


def test_moment_reads_the_common_forms():
    assert moment("2026-11-21T09:30:00Z") == moment("2026-11-21T09:30:00.000+0000")
    assert moment("2026-11-21") is not None and moment("2026-11-21T09:30:00") is not None
    assert moment(1763700000) == moment(1763700000000) == moment("1763700000")
    assert moment("yesterday") is None and moment(True) is None and moment(None) is None
    assert moment("9" * 400) is None
