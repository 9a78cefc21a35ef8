"""Reading a tenant's bulk jobs (every query names the tenant)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from django.conf import settings
from django.db.models import QuerySet

from apps.bulk.files import csv_line
from apps.bulk.models import BulkJob, JobKind, JobStatus, RowFailure
from apps.core.codes import ErrorCode
from apps.core.errors import ApplicationError, NotFound


def jobs_of_datasource(*, tenant: Any, datasource_id: Any) -> QuerySet[BulkJob]:
    return BulkJob.objects.filter(tenant=tenant, datasource_id=datasource_id).order_by(
        "-created_at", "-id"
    )


def job_get(*, tenant: Any, job_id: Any) -> BulkJob | None:
    return BulkJob.objects.filter(tenant=tenant, pk=job_id).select_related("datasource").first()


def failures_first(job: BulkJob, limit: int = 100) -> list[RowFailure]:
    """The first ``limit`` failures of ``job``, by row (what its page shows)."""
    return list(RowFailure.objects.filter(job=job).order_by("row")[:limit])


class ResultNotReady(ApplicationError):
    code = ErrorCode.RESULT_NOT_READY
    status = 409


class ResultExpired(ApplicationError):
    code = ErrorCode.RESULT_EXPIRED
    status = 410


def result_parts(job: BulkJob) -> list[str]:
    """The stored parts of a query's result, in order; raises when there is none to give (not a
    query, not COMPLETE yet, or deleted after BULK_RESULT_DAYS)."""
    if job.kind != JobKind.QUERY:
        raise NotFound("Only query jobs have a result; see errors.csv for an upload.")
    if job.status != JobStatus.COMPLETE:
        raise ResultNotReady(f"The job is {job.status}: its result is ready once it is "
                             "COMPLETE.")  # fmt: skip
    if job.files_deleted_at is not None:
        raise ResultExpired(f"Results are kept {settings.BULK_RESULT_DAYS} days; this one "
                            "was deleted. Run the query again.")  # fmt: skip
    return list(job.result_parts or [])


def failures_csv(job: BulkJob) -> Iterator[str]:
    """``errors.csv``: each failed row (a query's: each page) with its status and message."""
    yield csv_line(["page" if job.kind == JobKind.QUERY else "row", "status_code", "message"])
    rows = RowFailure.objects.filter(job=job).order_by("row")
    for failure in rows.values_list("row", "status_code", "message").iterator(chunk_size=2000):
        row, status, message = failure
        yield csv_line([row, "" if status is None else status, message])
