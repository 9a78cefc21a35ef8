"""Bulk jobs through real processes: a Celery worker runs what the API started, and a worker
SIGKILLed mid-job, then restarted with beat, completes the job from what was recorded: every row
applied once by an upstream that replays a repeated Idempotency-Key, and only the rows that
were in flight sent twice."""

import collections

import pytest

from apps.bulk.models import BulkJob, JobStatus
from tests.bulk.conftest import csv_bytes, upload
from tests.factories import DataSourceFactory
from tests.support.servers import ALLOWED_NETWORKS
from tests.support.worker import WorkerProcess, wait_until, worker_env

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def worker_source(acme, upstream):
    # The worker has no test DNS: it reaches the upstream by its address.
    return DataSourceFactory(tenant=acme.tenant, base_url=upstream.url(host="127.0.0.2"),
                             timeout_seconds=10)  # fmt: skip


def test_a_worker_runs_an_upload_and_a_query(acme, worker_source, sinks, celery_worker):
    sink = sinks.new()
    rows = [["n", "word"], *[[str(n), f"wörd {n}"] for n in range(1, 21)]]
    response = upload(acme.api(), worker_source, csv_bytes(rows), f"/_test/records/{sink}")
    job_id = response.json()["id"]
    job = wait_until(lambda: BulkJob.objects.filter(pk=job_id, status=JobStatus.COMPLETE).first(),
                     timeout=60)  # fmt: skip
    assert (job.succeeded, job.failed) == (20, 0)
    assert len(sinks.log(sink)["applied"]) == 20

    response = acme.api().post(
        f"/api/v1/datasources/{worker_source.pk}/bulk/query/",
        {"path": "/_test/pages/offset?n=120", "results_path": "records",
         "pagination": {"style": "offset", "size_param": "limit", "size": 50}, "fields": ["id"]},
        format="json",
    )  # fmt: skip
    query_id = response.json()["id"]
    wait_until(lambda: BulkJob.objects.filter(pk=query_id, status=JobStatus.COMPLETE).exists(),
               timeout=60)  # fmt: skip
    result = acme.api().get(f"/api/v1/bulk/{query_id}/result.csv")
    lines = b"".join(result.streaming_content).decode().split("\r\n")
    assert lines[0] == "id" and lines[1:121] == [str(n) for n in range(1, 121)]


def test_a_job_survives_a_sigkilled_worker(acme, worker_source, sinks, settings, pki, tmp_path):
    # A queue of this test's own, so that only the worker it kills and restarts runs the job.
    settings.BULK_QUEUE = queue = f"bulk-kill-{settings.RUN_TAG}"
    env = worker_env({
        "OUTBOUND_CA_BUNDLE": str(pki.ca_pem),
        "OUTBOUND_ALLOWED_NETWORKS": ",".join(ALLOWED_NETWORKS),
        "BULK_QUEUE": queue,
    })  # fmt: skip
    sink = sinks.new()
    total = 80
    rows = [["n"], *[[str(n)] for n in range(1, total + 1)]]
    worker = WorkerProcess(env, concurrency=1, queue=queue)
    try:
        response = upload(acme.api(), worker_source, csv_bytes(rows),
                          f"/_test/records/{sink}?delay=0.1")  # fmt: skip
        job_id = response.json()["id"]
        wait_until(lambda: BulkJob.objects.get(pk=job_id).processed >= 20, timeout=60)
        worker.kill()
    finally:
        worker.stop()
    killed = BulkJob.objects.get(pk=job_id)
    assert killed.status == JobStatus.RUNNING and killed.processed < total
    # Restarted with beat: the sweep finds the job once the dead worker's lease runs out.
    worker = WorkerProcess(env, concurrency=1, queue=queue, beat_schedule=tmp_path / "beat")
    try:
        job = wait_until(
            lambda: BulkJob.objects.filter(pk=job_id, status=JobStatus.COMPLETE).first(),
            timeout=90,
        )
    finally:
        worker.stop()
    assert (job.processed, job.succeeded, job.failed) == (total, total, 0)
    log = sinks.log(sink)
    applied = collections.Counter(item["key"] for item in log["applied"])
    assert applied == {f"{job_id}-{n}": 1 for n in range(1, total + 1)}  # each row once
    sent = collections.Counter(item["key"] for item in log["requests"])
    twice = [key for key, count in sent.items() if count > 1]
    assert len(twice) <= killed.concurrency, twice  # only the rows in flight at the kill
