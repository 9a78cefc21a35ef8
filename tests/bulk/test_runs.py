"""Bulk jobs run against the real HTTPS upstream, in this process (the worker tests run them in a
Celery worker): rows sent as JSON with their Idempotency-Key and retries, pages read in every
pagination style, cancel, slices and resumption from what was recorded, the end notified."""

import csv
import io
import json
import threading
import time
from datetime import timedelta

import pytest
from django.db import connections
from django.utils import timezone

from apps.bulk.models import BulkJob, JobStatus, RowFailure
from apps.bulk.runner import job_run, resume_due
from apps.bulk.services import bulk_files_purge
from apps.datasources.event_settings import new_signature_key
from apps.events.models import Event, Source
from tests.bulk.conftest import csv_bytes, upload
from tests.support.worker import wait_until

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("no_worker_queue")]

HEADER = ["email", "name", "note", "scenario"]


def rows_28() -> list[list[str]]:
    rows = [HEADER]
    for n in range(1, 29):
        scenario = {5: "invalid", 10: "429-once", 15: "500-once"}.get(n, "")
        note = 'He said "hi", then left' if n % 2 else "Zoë, Jürgen & 東京\nsecond line"
        rows.append([f"user{n}@example.com", f"User {n}", note, scenario])
    return rows


def start_upload(acme, source, rows, path, **kwargs) -> BulkJob:
    response = upload(acme.api(), source, csv_bytes(rows), path, **kwargs)
    assert response.status_code == 201, response.content
    return BulkJob.objects.get(pk=response.json()["id"])


def run_to_end(job: BulkJob, runs: int = 200) -> BulkJob:
    for _ in range(runs):
        if job_run(job.pk) in ("complete", "failed", "cancelled"):
            break
    job.refresh_from_db()
    return job


def running(job_id) -> threading.Thread:
    """``job_run`` in a thread of its own, as a worker would run it (its connection closed at
    the end, as Celery does after a task)."""

    def run() -> None:
        try:
            job_run(job_id)
        finally:
            connections.close_all()

    thread = threading.Thread(target=run)
    thread.start()
    return thread


def parse(content: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(content.decode("utf-8"))))


def test_28_rows_one_invalid_one_rate_limited_one_failing_once(acme, bulk_source, sinks):
    sink = sinks.new()
    rows = rows_28()
    job = start_upload(acme, bulk_source, rows, f"/_test/records/{sink}")
    assert job_run(job.pk) == "complete"
    job.refresh_from_db()
    assert (job.status, job.total, job.processed, job.succeeded, job.failed) == (
        JobStatus.COMPLETE, 28, 28, 27, 1,
    )  # fmt: skip
    assert job.started_at and job.finished_at and job.finished_at >= job.started_at

    log = sinks.log(sink)
    # Every row once, plus the two that were answered 429 and 500 the first time.
    assert len(log["requests"]) == 30
    by_key: dict[str, list[dict]] = {}
    for request in log["requests"]:
        by_key.setdefault(request["key"], []).append(request)
    assert set(by_key) == {f"{job.pk}-{n}" for n in range(1, 29)}
    assert [len(by_key[f"{job.pk}-{n}"]) for n in (10, 15)] == [2, 2]
    for n, row in enumerate(rows[1:], start=1):
        sent = by_key[f"{job.pk}-{n}"][0]
        assert sent["method"] == "POST" and sent["content_type"] == "application/json"
        assert json.loads(sent["body"]) == dict(zip(HEADER, row, strict=True))
    assert len(log["applied"]) == 27

    errors = acme.api().get(f"/api/v1/bulk/{job.pk}/errors.csv")
    assert errors.status_code == 200 and errors["Content-Type"].startswith("text/csv")
    table = parse(b"".join(errors.streaming_content))
    assert table[0] == ["row", "status_code", "message"]
    assert table[1][:2] == ["5", "422"] and "email is invalid" in table[1][2]
    assert len(table) == 2


def test_a_row_that_cannot_be_sent_fails_without_being_sent(acme, bulk_source, sinks):
    sink = sinks.new()
    rows = [["id", "email"], ["7", "a@x"], ["8"], ["..", "c@x"], ["a/b", "d@x"]]
    job = start_upload(acme, bulk_source, rows, f"/_test/records/{sink}/{{id}}", method="PATCH")
    job = run_to_end(job)
    assert (job.status, job.succeeded, job.failed) == (JobStatus.COMPLETE, 2, 2)
    paths = sorted(r["path"] for r in sinks.log(sink)["requests"])
    assert paths == [f"/_test/records/{sink}/7", f"/_test/records/{sink}/a%2Fb"]
    assert {r["method"] for r in sinks.log(sink)["requests"]} == {"PATCH"}
    failures = dict(RowFailure.objects.filter(job=job).values_list("row", "message"))
    assert set(failures) == {2, 3}
    assert "1 fields" in failures[2] and "not sent" in failures[3]


def test_a_resumed_job_sends_only_what_has_no_recorded_answer(acme, bulk_source, sinks):
    sink = sinks.new()
    rows = [["n"], *[[str(n)] for n in range(1, 11)]]
    job = start_upload(acme, bulk_source, rows, f"/_test/records/{sink}")
    # As a dead worker left it: rows 1-4 and 7-8 answered, 5 and 6 in flight.
    BulkJob.objects.filter(pk=job.pk).update(status=JobStatus.RUNNING, watermark=5,
                                             answered=[7, 8], processed=6, succeeded=6)  # fmt: skip
    job = run_to_end(job)
    keys = sorted(int(r["key"].rsplit("-", 1)[1]) for r in sinks.log(sink)["requests"])
    assert keys == [5, 6, 9, 10]
    assert (job.status, job.processed, job.succeeded, job.watermark, job.answered) == (
        JobStatus.COMPLETE, 10, 10, 11, [],
    )  # fmt: skip


def test_a_job_in_short_slices_sends_every_row_once(acme, bulk_source, sinks, settings):
    settings.BULK_SLICE_SECONDS = 0
    sink = sinks.new()
    rows = [["n"], *[[str(n)] for n in range(1, 13)]]
    job = start_upload(acme, bulk_source, rows, f"/_test/records/{sink}")
    assert job_run(job.pk) == "continued"
    job = run_to_end(job)
    assert job.status == JobStatus.COMPLETE and job.succeeded == 12
    keys = [r["key"] for r in sinks.log(sink)["requests"]]
    assert sorted(keys) == sorted({f"{job.pk}-{n}" for n in range(1, 13)})


def test_cancel_stops_sending(acme, bulk_source, sinks):
    sink = sinks.new()
    rows = [["n"], *[[str(n)] for n in range(1, 61)]]
    job = start_upload(acme, bulk_source, rows, f"/_test/records/{sink}?delay=0.1")
    runner = running(job.pk)
    try:
        wait_until(lambda: BulkJob.objects.get(pk=job.pk).processed >= 6, timeout=20)
        response = acme.api().post(f"/api/v1/bulk/{job.pk}/cancel")
        assert response.status_code == 200 and response.json()["status"] == "CANCELLED"
    finally:
        runner.join(timeout=30)
    assert not runner.is_alive()
    sent = len(sinks.log(sink)["requests"])
    time.sleep(1)
    assert len(sinks.log(sink)["requests"]) == sent  # nothing more after the cancel
    job.refresh_from_db()
    assert job.status == JobStatus.CANCELLED and job.processed < 60
    # What was sent is what was recorded, and the rows in flight when the cancel came.
    assert job.processed <= sent <= job.processed + job.concurrency
    assert job_run(job.pk) == "not claimed"  # a cancelled job is never resumed


def test_a_lease_held_by_a_live_runner_is_not_taken_and_a_dead_ones_job_is_sent_again(
    acme, bulk_source
):
    job = start_upload(acme, bulk_source, [["n"], ["1"]], "/_test/records/x")
    BulkJob.objects.filter(pk=job.pk).update(status=JobStatus.RUNNING,
                                             lease_until=timezone.now() + timedelta(seconds=60))  # fmt: skip
    assert job_run(job.pk) == "not claimed"
    assert resume_due() == 0
    BulkJob.objects.filter(pk=job.pk).update(
        lease_until=timezone.now() - timedelta(seconds=1),
        queued_at=timezone.now() - timedelta(minutes=5),
    )
    assert resume_due() == 1
    assert resume_due() == 0  # sent once: its task is on its way now


def test_a_data_source_that_cannot_be_reached_fails_the_job_with_the_reason(acme, settings):
    from tests.factories import DataSourceFactory

    settings.OUTBOUND_ALLOWED_NETWORKS = []
    source = DataSourceFactory(tenant=acme.tenant, base_url="https://10.0.0.1")
    job = run_to_end(start_upload(acme, source, [["n"], ["1"], ["2"]], "/x"))
    assert job.status == JobStatus.FAILED and job.processed == 0
    assert "not allowed" in job.message or "private" in job.message


ALL = ["id", "name", "nested.value", "nested.deep.x", "tags", "text", "empty"]
PAGINATIONS = {
    "none": ("/_test/pages/none?n=250", {"style": "none"}),
    "offset": ("/_test/pages/offset?n=250",
               {"style": "offset", "param": "offset", "size_param": "limit", "size": 40}),
    "page": ("/_test/pages/page?n=250",
             {"style": "page", "size_param": "per_page", "size": 40}),
    "cursor": ("/_test/pages/cursor?n=250",
               {"style": "cursor", "size_param": "limit", "size": 40,
                "cursor_path": "next.cursor"}),
    "link": ("/_test/pages/link?n=250&per_page=40", {"style": "link"}),
}  # fmt: skip


def start_query(acme, source, spec) -> BulkJob:
    response = acme.api().post(f"/api/v1/datasources/{source.pk}/bulk/query/", spec,
                               format="json")  # fmt: skip
    assert response.status_code == 201, response.content
    return BulkJob.objects.get(pk=response.json()["id"])


def result(acme, job) -> list[list[str]]:
    response = acme.api().get(f"/api/v1/bulk/{job.pk}/result.csv")
    assert response.status_code == 200, response.content
    return parse(b"".join(response.streaming_content))


@pytest.mark.parametrize("style", list(PAGINATIONS))
def test_a_query_reads_every_record_once_in_each_pagination_style(acme, bulk_source, style):
    path, pagination = PAGINATIONS[style]
    job = run_to_end(start_query(acme, bulk_source, {"path": path, "results_path": "records",
                                                     "pagination": pagination}))  # fmt: skip
    assert job.status == JobStatus.COMPLETE, job.message
    table = result(acme, job)
    assert table[0] == ALL
    assert [row[0] for row in table[1:]] == [str(n) for n in range(1, 251)]
    assert table[1] == ["1", "Record 1", "2", "y", '["a", "b"]', 'comma, "quote" and é', ""]
    assert (job.total, job.processed) == (250, 250)


def test_a_query_takes_chosen_fields_up_to_max_records_in_parts(acme, bulk_source, monkeypatch):
    monkeypatch.setattr("apps.bulk.query.PART_BYTES", 200)  # a part after every page
    path, pagination = PAGINATIONS["offset"]
    job = run_to_end(start_query(acme, bulk_source, {
        "path": path, "results_path": "records", "pagination": pagination,
        "fields": ["nested.value", "id", "missing"], "max_records": 95,
    }))  # fmt: skip
    assert job.status == JobStatus.COMPLETE
    table = result(acme, job)
    assert table[0] == ["nested.value", "id", "missing"]
    assert table[1:] == [[str(2 * n), str(n), ""] for n in range(1, 96)]
    assert len(job.result_parts) == 3 and job.total == 95


def test_a_next_link_that_leaves_the_data_source_fails_the_query(acme, bulk_source):
    job = run_to_end(start_query(acme, bulk_source, {
        "path": "/_test/pages/link?n=100&per_page=40&next_host=elsewhere.test",
        "results_path": "records", "pagination": {"style": "link"},
    }))  # fmt: skip
    assert job.status == JobStatus.FAILED
    assert "leaves the data source" in job.message


def test_a_page_the_upstream_refuses_fails_the_query_and_is_listed(acme, bulk_source):
    job = run_to_end(start_query(acme, bulk_source, {"path": "/_test/data/status?code=403"}))
    assert job.status == JobStatus.FAILED and "HTTP 403" in job.message
    errors = parse(b"".join(acme.api().get(f"/api/v1/bulk/{job.pk}/errors.csv").streaming_content))
    assert errors[0] == ["page", "status_code", "message"] and errors[1][:2] == ["1", "403"]


def test_the_end_of_a_job_is_an_event_when_events_are_on(acme, bulk_source, sinks):
    bulk_source.events_config = {"enabled": True, "callback_url": "https://hooks.example.com/x"}
    bulk_source.event_secrets = {"signature_key": new_signature_key()}
    bulk_source.save()
    job = run_to_end(start_upload(acme, bulk_source, [["n"], ["1"]],
                                  f"/_test/records/{sinks.new()}"))  # fmt: skip
    event = Event.objects.get(datasource=bulk_source, source=Source.BULK)
    body = json.loads(bytes(event.body))
    assert body["type"] == "bulk.completed"
    assert body["job"]["id"] == str(job.pk) and body["job"]["succeeded"] == 1
    assert event.status == "pending"  # to be delivered like any other event


def test_no_event_when_events_are_off(acme, bulk_source, sinks):
    run_to_end(start_upload(acme, bulk_source, [["n"], ["1"]], f"/_test/records/{sinks.new()}"))
    assert not Event.objects.filter(source=Source.BULK).exists()


def test_files_are_deleted_after_the_retention_and_the_result_is_then_410(acme, bulk_source):
    from apps.bulk.files import storage

    path, pagination = PAGINATIONS["none"]
    job = run_to_end(start_query(acme, bulk_source, {"path": path, "results_path": "records",
                                                     "pagination": pagination}))  # fmt: skip
    parts = list(job.result_parts)
    assert parts and all(storage().exists(name) for name in parts)
    assert bulk_files_purge() == 0  # kept while young
    BulkJob.objects.filter(pk=job.pk).update(finished_at=timezone.now() - timedelta(days=8))
    assert bulk_files_purge() == 1
    assert not any(storage().exists(name) for name in parts)
    response = acme.api().get(f"/api/v1/bulk/{job.pk}/result.csv")
    assert response.status_code == 410 and response.json()["error"]["code"] == "result_expired"


def test_deleting_the_data_source_deletes_its_jobs_and_their_files(acme, bulk_source):
    from apps.bulk.files import storage

    job = start_upload(acme, bulk_source, [["n"], ["1"]], "/_test/records/x")
    assert storage().exists(job.file_name)
    bulk_source.delete()
    assert not BulkJob.objects.filter(pk=job.pk).exists()
    assert not storage().exists(job.file_name)


def test_a_next_link_is_kept_without_the_credentials_it_repeats():
    from apps.bulk.query import without_credentials

    url = "https://api.example.com/v1/items?page=2&api_key=s3cr3t&q=a+b"
    assert without_credentials(url, {"s3cr3t"}) == "https://api.example.com/v1/items?page=2&q=a+b"
    assert without_credentials(url, {"other"}) == url


def test_a_slow_row_holds_the_others_back_within_the_window(monkeypatch):
    """Rows are handed out no further than WINDOW past the first unanswered one, so the list of
    rows answered beyond it (written with every answer) stays short."""
    from apps.bulk import upload as module

    monkeypatch.setattr(module, "WINDOW", 3)

    class Lease:
        stopping = threading.Event()

        def slice_over(self):
            return False

    class Progress(module.Progress):
        def __init__(self):
            self.watermark, self.answered, self.largest = 1, set(), 0

        def record(self, answer):
            self.answered.add(answer.row)
            while self.watermark in self.answered:
                self.answered.discard(self.watermark)
                self.watermark += 1
            self.largest = max(self.largest, len(self.answered))

    slow_started = threading.Event()

    def send(row, record):
        if row == 1:
            slow_started.set()
            time.sleep(0.3)
        return module.Answer(row, True, 200)

    job = type("Job", (), {"concurrency": 2})()
    progress = Progress()
    senders = module.Senders(2, send)
    try:
        done = module._send_all(job, Lease(), progress, senders, iter([["x"]] * 20))
    finally:
        senders.close()
    assert done and progress.watermark == 21
    assert progress.largest <= 2  # rows 2 and 3 at most, while row 1 was slow


# What a review found, each now a test.


def test_credentials_an_upstream_echoes_never_reach_a_query_result(acme, bulk_source, victor):
    from rest_framework.test import APIClient

    job = run_to_end(start_query(acme, bulk_source, {"path": "/_test/data/echo-credential"}))
    assert job.status == JobStatus.COMPLETE and job.processed > 0
    viewer = APIClient()
    viewer.force_login(victor)
    viewer.credentials(HTTP_X_PLUGBOARD_TENANT=acme.tenant.slug)
    response = viewer.get(f"/api/v1/bulk/{job.pk}/result.csv")
    content = b"".join(response.streaming_content).decode()
    assert "[secret]" in content
    for form in ("bulk-canary-secret", "YnVsay1jYW5hcnktc2VjcmV0", "ZWxlbWVudHM6YnVsay1jYW5hcnkt"):
        assert form not in content


def test_a_secret_in_an_error_answer_is_masked_before_the_message_is_cut(acme, bulk_source, sinks):
    job = run_to_end(start_upload(acme, bulk_source, [["scenario"], ["echo-password"]],
                                  f"/_test/records/{sinks.new()}"))  # fmt: skip
    message = RowFailure.objects.get(job=job).message
    assert "bulk-" not in message.split("x" * 200)[-1]  # not even the start of it
    assert job.failed == 1


def test_a_nul_character_in_an_answer_is_kept_out_of_the_database(acme, bulk_source, sinks):
    job = run_to_end(start_upload(acme, bulk_source, [["scenario"], ["nul"]],
                                  f"/_test/records/{sinks.new()}"))  # fmt: skip
    assert (job.status, job.succeeded, job.failed) == (JobStatus.COMPLETE, 0, 1)
    assert "bad value a\ufffdb" in RowFailure.objects.get(job=job).message


def test_a_next_link_to_the_page_itself_fails_the_query_at_once(acme, bulk_source):
    job = run_to_end(start_query(acme, bulk_source, {
        "path": "/_test/pages/link?n=100&per_page=40&self_link=1", "results_path": "records",
        "pagination": {"style": "link"},
    }))  # fmt: skip
    assert job.status == JobStatus.FAILED and "itself" in job.message
    assert job.state.get("pages", 0) <= 1


def test_an_empty_row_value_making_a_whole_path_segment_fails_the_row(acme, bulk_source, sinks):
    sink = sinks.new()
    job = run_to_end(start_upload(acme, bulk_source, [["id", "n"], ["", "1"], ["7", "2"]],
                                  f"/_test/records/{sink}/{{id}}", method="PATCH"))  # fmt: skip
    assert (job.succeeded, job.failed) == (1, 1)
    assert [r["path"] for r in sinks.log(sink)["requests"]] == [f"/_test/records/{sink}/7"]
    assert "id is empty" in RowFailure.objects.get(job=job).message


def test_a_cancel_is_announced_once_the_rows_in_flight_are_counted(acme, bulk_source, sinks):
    bulk_source.events_config = {"enabled": True, "callback_url": "https://hooks.example.com/x"}
    bulk_source.event_secrets = {"signature_key": new_signature_key()}
    bulk_source.save()
    rows = [["n"], *[[str(n)] for n in range(1, 41)]]
    job = start_upload(acme, bulk_source, rows, f"/_test/records/{sinks.new()}?delay=0.1")
    runner = running(job.pk)
    try:
        wait_until(lambda: BulkJob.objects.get(pk=job.pk).processed >= 4, timeout=20)
        assert acme.api().post(f"/api/v1/bulk/{job.pk}/cancel").status_code == 200
    finally:
        runner.join(timeout=30)
    job.refresh_from_db()
    event = Event.objects.get(datasource=bulk_source, source=Source.BULK)
    body = json.loads(bytes(event.body))
    assert body["type"] == "bulk.cancelled"
    assert body["job"]["processed"] == job.processed and job.runner is None


def test_a_part_written_after_the_job_was_lost_is_deleted(acme, bulk_source):
    import uuid

    from apps.bulk.files import storage
    from apps.bulk.query import Result
    from apps.bulk.runner import Lease, Stop

    job = start_query(acme, bulk_source, {"path": "/x"})
    result = Result(job, Lease(job, uuid.uuid4()))  # not the job's runner
    result.add([{"id": 1}], 10, [])
    with pytest.raises(Stop):
        result.store({"pages": 1})
    assert not storage().exists(f"results/{job.pk}/part-00001.csv")


def test_a_rate_limit_wait_is_read_within_bounds(settings):
    from apps.bulk.upload import rate_limit_wait

    settings.BULK_MAX_RETRY_AFTER = 300
    assert rate_limit_wait("7") == 7
    assert rate_limit_wait("0") == 1 and rate_limit_wait("-5") == 1 and rate_limit_wait(None) == 1
    assert rate_limit_wait("1000000000000") == 300  # too long to read: the longest wait
    assert rate_limit_wait("99999999") == 300
    assert rate_limit_wait("Wed, 21 Oct 2015 07:28:00 GMT") == 1  # a date in the past
