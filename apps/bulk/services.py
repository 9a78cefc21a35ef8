"""Starting, cancelling and cleaning up bulk jobs."""

from __future__ import annotations

import logging
import uuid
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from django.utils import timezone

from apps.bulk.files import check_csv, delete_file, save_upload
from apps.bulk.models import ACTIVE, BulkJob, JobKind, JobStatus
from apps.bulk.queueing import enqueue_job
from apps.bulk.runner import job_notify
from apps.core import ratelimit
from apps.core.codes import ErrorCode
from apps.core.errors import ApplicationError
from apps.datasources.models import AuditAction, DataSource
from apps.datasources.services import actor_label, audit_record, user_of
from apps.items.rendering import PLACEHOLDER
from apps.tenants import limits

logger = logging.getLogger("plugboard.bulk")


class FileTooLarge(ApplicationError):
    code = ErrorCode.FILE_TOO_LARGE
    status = 413

    def __init__(self) -> None:
        super().__init__(
            f"A bulk upload may be at most {settings.BULK_MAX_UPLOAD_BYTES // (1024 * 1024)} MB; "
            "split the file."
        )


class JobFinished(ApplicationError):
    code = ErrorCode.JOB_FINISHED
    status = 409
    message = "This job has ended already; there is nothing to cancel."


def _concurrency(datasource: DataSource) -> int:
    return max(1, min(int(datasource.bulk_concurrency), int(settings.BULK_MAX_CONCURRENCY)))


def _count_start(datasource: DataSource, actor: Any) -> None:
    """Count a job's start against the rate limits of the tenant and of the caller's API key."""
    key = getattr(actor, "api_key", None)
    ratelimit.count(limits.quotas("bulk", datasource.tenant_id, key=getattr(key, "pk", None)))


def _start(job: BulkJob, *, actor: Any, summary: str) -> BulkJob:
    job.created_by = user_of(actor)
    job.created_by_label = actor_label(actor)[:200]
    job.queued_at = timezone.now()
    with transaction.atomic():
        job.save(force_insert=True)
        audit_record(datasource=job.datasource, action=AuditAction.BULK_STARTED, actor=actor,
                     summary=summary)  # fmt: skip
        transaction.on_commit(lambda: enqueue_job(job.pk))
    return job


def bulk_upload_create(
    *, datasource: DataSource, actor: Any, upload: UploadedFile, path: str, method: str = "POST"
) -> BulkJob:
    """A job sending each row of ``upload`` (checked whole first: UTF-8, a header, rows)."""
    _count_start(datasource, actor)
    if upload.size is not None and upload.size > settings.BULK_MAX_UPLOAD_BYTES:
        raise FileTooLarge()
    summary = check_csv(upload)
    missing = [name for name in PLACEHOLDER.findall(path) if name not in summary.header]
    if missing:
        raise ValidationError({"path": ValidationError(
            f"The path names {{{missing[0]}}}, which is not a column of the file (its columns: "
            f"{', '.join(summary.header[:20])}).", code=ErrorCode.INVALID_PATH,
        )})  # fmt: skip
    job = BulkJob(
        id=uuid.uuid4(), tenant_id=datasource.tenant_id, datasource=datasource,
        kind=JobKind.UPLOAD, method=method, path=path, concurrency=_concurrency(datasource),
        total=summary.rows, original_name=(upload.name or "")[:255], file_size=upload.size or 0,
    )  # fmt: skip
    job.file_name = save_upload(f"uploads/{job.pk}.csv", upload)
    try:
        return _start(job, actor=actor, summary=(
            f"upload of {summary.rows:,} rows to {method} {path} (job {job.pk})"))  # fmt: skip
    except BaseException:
        delete_file(job.file_name)
        raise


def bulk_query_create(*, datasource: DataSource, actor: Any, spec: dict[str, Any]) -> BulkJob:
    """A job reading every page of ``spec['path']`` into a CSV result."""
    _count_start(datasource, actor)
    spec = dict(spec)
    path = spec.pop("path")
    job = BulkJob(
        id=uuid.uuid4(), tenant_id=datasource.tenant_id, datasource=datasource,
        kind=JobKind.QUERY, method="GET", path=path, spec=spec, concurrency=1,
    )  # fmt: skip
    return _start(job, actor=actor, summary=f"query of GET {path} (job {job.pk})")


def bulk_cancel(*, job: BulkJob, actor: Any) -> BulkJob:
    """Stop ``job``: no row not yet sent is sent (those in flight end and are recorded)."""
    updated = BulkJob.objects.filter(pk=job.pk, status__in=ACTIVE).update(
        status=JobStatus.CANCELLED,
        finished_at=timezone.now(),
        message=f"Cancelled by {actor_label(actor)}."[:1000],
    )
    if not updated:
        raise JobFinished()
    job.refresh_from_db()
    audit_record(datasource=job.datasource, action=AuditAction.BULK_CANCELLED, actor=actor,
                 summary=f"job {job.pk} after {job.processed:,} rows")  # fmt: skip
    if job.runner is None:
        # Nothing runs it: announced now. A running job is announced by its runner once what
        # was in flight is counted (or by the sweep, should that runner die first).
        transaction.on_commit(lambda: job_notify(job))
    return job


def job_files(job: BulkJob) -> list[str]:
    return [name for name in [job.file_name, *(job.result_parts or [])] if name]


def bulk_files_purge(now: Any = None, batch: int = 500) -> int:
    """Delete the files of jobs that ended more than BULK_RESULT_DAYS ago; how many jobs."""
    cutoff = (now or timezone.now()) - timedelta(days=settings.BULK_RESULT_DAYS)
    jobs = list(
        BulkJob.objects.filter(finished_at__lt=cutoff, files_deleted_at__isnull=True)
        .exclude(status__in=ACTIVE)
        .only("id", "file_name", "result_parts")[:batch]
    )
    for job in jobs:
        for name in job_files(job):
            delete_file(name)
        BulkJob.objects.filter(pk=job.pk).update(files_deleted_at=timezone.now())
    return len(jobs)
