"""Reading a tenant's bulk jobs (every query names the tenant)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from django.db.models import QuerySet

from apps.bulk.files import csv_line
from apps.bulk.models import BulkJob, JobKind, RowFailure


def jobs_of_datasource(*, tenant: Any, datasource_id: Any) -> QuerySet[BulkJob]:
    return BulkJob.objects.filter(tenant=tenant, datasource_id=datasource_id).order_by(
        "-created_at", "-id"
    )


def job_get(*, tenant: Any, job_id: Any) -> BulkJob | None:
    return BulkJob.objects.filter(tenant=tenant, pk=job_id).select_related("datasource").first()


def failures_csv(job: BulkJob) -> Iterator[str]:
    """``errors.csv``: each failed row (a query's: each page) with its status and message."""
    yield csv_line(["page" if job.kind == JobKind.QUERY else "row", "status_code", "message"])
    rows = RowFailure.objects.filter(job=job).order_by("row")
    for failure in rows.values_list("row", "status_code", "message").iterator(chunk_size=2000):
        row, status, message = failure
        yield csv_line([row, "" if status is None else status, message])
