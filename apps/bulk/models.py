"""Bulk jobs: a CSV of rows sent as one request each (upload), or every page of a list written
out as CSV (query), run by a worker in the background.

A job row is its own progress record: what has been answered (an upload's rows, a query's
pages) is written to it as it happens, so a job resumes where it stopped after its worker dies.
An upload's resume state is ``watermark`` (every row before it is answered) and ``answered``
(the rows after it answered already, at most as many as were in flight); a query's is
``state`` (the next page to read) and the result's parts written so far.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models

from apps.datasources.models import DataSource
from apps.tenants.models import TenantOwned


class JobKind(models.TextChoices):
    UPLOAD = "upload", "Upload"
    QUERY = "query", "Query"


class JobStatus(models.TextChoices):
    CREATED = "CREATED", "Created"
    RUNNING = "RUNNING", "Running"
    COMPLETE = "COMPLETE", "Complete"
    FAILED = "FAILED", "Failed"
    CANCELLED = "CANCELLED", "Cancelled"


ACTIVE = (JobStatus.CREATED, JobStatus.RUNNING)
FINISHED = (JobStatus.COMPLETE, JobStatus.FAILED, JobStatus.CANCELLED)


class BulkJob(TenantOwned):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    datasource = models.ForeignKey(DataSource, on_delete=models.CASCADE, related_name="+")
    kind = models.CharField(max_length=10, choices=JobKind.choices)
    status = models.CharField(max_length=10, choices=JobStatus.choices, default=JobStatus.CREATED)
    method = models.CharField(max_length=10)
    path = models.CharField(max_length=2000)
    # A query's settings (results_path, pagination, fields, max_records).
    spec = models.JSONField(default=dict, blank=True)
    concurrency = models.PositiveSmallIntegerField(default=1)

    # The uploaded file (uploads) and its size; the result's parts (queries), in order.
    file_name = models.CharField(max_length=500, blank=True)
    file_size = models.BigIntegerField(default=0)
    original_name = models.CharField(max_length=255, blank=True)
    result_parts = models.JSONField(default=list, blank=True)
    columns = models.JSONField(default=list, blank=True)  # a query's CSV columns
    files_deleted_at = models.DateTimeField(null=True, blank=True)

    total = models.PositiveIntegerField(null=True, blank=True)
    processed = models.PositiveIntegerField(default=0)
    succeeded = models.PositiveIntegerField(default=0)
    failed = models.PositiveIntegerField(default=0)
    message = models.CharField(max_length=1000, blank=True)  # why it failed, or how it ended

    # Where it stands (see the module's docstring).
    watermark = models.PositiveIntegerField(default=1)
    answered = models.JSONField(default=list, blank=True)
    state = models.JSONField(default=dict, blank=True)

    # Runs that ended in an unexpected error (the job then fails after a few, rather than being
    # given back for ever).
    crashes = models.PositiveSmallIntegerField(default=0)
    # Who runs it: the runner's token and how long its lease lasts; when its task is expected.
    runner = models.UUIDField(null=True, blank=True)
    lease_until = models.DateTimeField(null=True, blank=True)
    queued_at = models.DateTimeField(null=True, blank=True)

    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_by_label = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["datasource", "-created_at"], name="bulkjob_list"),
            models.Index(
                fields=["lease_until"], name="bulkjob_active", condition=models.Q(status__in=ACTIVE)
            ),
            models.Index(fields=["finished_at"], name="bulkjob_finished"),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} job {self.pk}"

    @property
    def finished(self) -> bool:
        return self.status in FINISHED


class RowFailure(models.Model):
    """An upload row that failed, or a query's failure: what ``errors.csv`` lists."""

    job = models.ForeignKey(BulkJob, on_delete=models.CASCADE, related_name="failures")
    row = models.PositiveIntegerField()
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    message = models.CharField(max_length=500)

    class Meta:
        ordering = ["job", "row"]
        constraints = [models.UniqueConstraint(fields=["job", "row"], name="failure_once_per_row")]

    def __str__(self) -> str:
        return f"Row {self.row} of {self.job_id}"
