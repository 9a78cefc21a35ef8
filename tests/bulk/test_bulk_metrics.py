"""Bulk rows are counted as they are answered: rows per second is the counter's rate."""

import pytest
from prometheus_client import REGISTRY

from tests.bulk.test_runs import rows_28, run_to_end, start_upload

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("no_worker_queue")]


def rows(outcome: str) -> float:
    labels = {"kind": "upload", "outcome": outcome}
    return REGISTRY.get_sample_value("plugboard_bulk_rows_total", labels) or 0.0


def test_answered_rows_are_counted_by_outcome(acme, bulk_source, sinks):
    before = {outcome: rows(outcome) for outcome in ("succeeded", "failed")}
    job = start_upload(acme, bulk_source, rows_28(), f"/_test/records/{sinks.new()}")

    job = run_to_end(job)

    assert (job.succeeded, job.failed) == (27, 1)
    assert rows("succeeded") - before["succeeded"] == 27
    assert rows("failed") - before["failed"] == 1
