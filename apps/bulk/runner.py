"""Running a bulk job in a worker: a lease on the job row, renewed while it runs; the job's work
in slices; its end (status, notification).

Only the holder of the lease (``runner``) writes a job's progress, so two workers never run one
job at once, and a worker that dies holds it no longer than ``BULK_LEASE_SECONDS``: the sweep
(``resume_due``) then sends it again and the next runner goes on from what was recorded.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import connections
from django.db.models import F, Q
from django.db.models.functions import Coalesce
from django.utils import timezone

from apps.bulk.models import ACTIVE, BulkJob, JobKind, JobStatus
from apps.bulk.queueing import enqueue_job
from apps.bulk.representation import job_status
from apps.datasources.event_settings import events_of
from apps.events.models import Source
from apps.events.recording import event_record
from apps.outbound.errors import SecretsUnreadable

logger = logging.getLogger("plugboard.bulk")

# How often a running job looks whether it was cancelled (and renews its lease when due).
WATCH_SECONDS = 0.2
# A task expected this long ago that never took its job was lost (a broker restart): sent again.
REQUEUE_AFTER = timedelta(seconds=120)
# Runs ending in an unexpected error before the job is failed (the same cause would come back).
MAX_CRASHES = 3


class Stop(Exception):
    """The job must stop here: cancelled, or its lease was lost."""


class JobFailure(Exception):
    """The job cannot go on (settings the upstream refuses, credentials that cannot be used):
    it ends FAILED with this message."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def clean_text(text: str) -> str:
    """``text`` as the database takes it (PostgreSQL refuses NUL characters in text and JSON)."""
    return text.replace("\x00", "\ufffd")


def lease_seconds() -> float:
    return float(settings.BULK_LEASE_SECONDS)


class Lease:
    """The runner's hold on its job. A thread renews it and watches for a cancel; ``stopping``
    turns true when either happens. ``written`` filters a job's progress writes to this
    runner, so that a runner that lost its lease writes nothing."""

    def __init__(self, job: BulkJob, runner: uuid.UUID) -> None:
        self.job_id = job.pk
        self.runner = runner
        self.stopping = threading.Event()
        self.reason = ""
        self.slice_ends = time.monotonic() + float(settings.BULK_SLICE_SECONDS)
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._watch, name=f"bulk-lease-{job.pk}",
                                        daemon=True)  # fmt: skip

    def mine(self) -> Any:
        return BulkJob.objects.filter(pk=self.job_id, runner=self.runner)

    def __enter__(self) -> Lease:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._done.set()
        self._thread.join()

    def stop(self, reason: str) -> None:
        if not self.stopping.is_set():
            self.reason = reason
            self.stopping.set()

    def slice_over(self) -> bool:
        return time.monotonic() >= self.slice_ends

    def _watch(self) -> None:
        renew_every = max(lease_seconds() / 3, WATCH_SECONDS)
        renewed = time.monotonic()
        try:
            while not self._done.wait(WATCH_SECONDS):
                status = self.mine().values_list("status", flat=True).first()
                if status is None:
                    self.stop("lease lost")
                elif status != JobStatus.RUNNING:
                    self.stop("cancelled")
                if time.monotonic() - renewed >= renew_every:
                    until = timezone.now() + timedelta(seconds=lease_seconds())
                    if not self.mine().update(lease_until=until):
                        self.stop("lease lost")
                    renewed = time.monotonic()
        except Exception:  # the database went away: stop rather than run unwatched
            logger.exception("bulk job %s: its lease could not be renewed", self.job_id)
            self.stop("lease lost")
        finally:
            connections.close_all()


def job_claim(job_id: Any) -> tuple[BulkJob, Lease] | None:
    """Take the lease on an active job that no live runner holds; None when there is none."""
    now = timezone.now()
    runner = uuid.uuid4()
    taken = (
        BulkJob.objects.filter(pk=job_id, status__in=ACTIVE)
        .filter(Q(lease_until__isnull=True) | Q(lease_until__lt=now))
        .update(
            status=JobStatus.RUNNING,
            runner=runner,
            lease_until=now + timedelta(seconds=lease_seconds()),
            started_at=Coalesce(F("started_at"), now),
            queued_at=None,
        )
    )
    if not taken:
        return None
    job = BulkJob.objects.select_related("datasource").get(pk=job_id)
    return job, Lease(job, runner)


def job_run(job_id: Any) -> str:
    """Run one slice of a job; what happened (for logs and tests)."""
    from apps.bulk.query import run_query
    from apps.bulk.upload import run_upload

    claimed = job_claim(job_id)
    if claimed is None:
        return "not claimed"
    job, lease = claimed
    run = run_upload if job.kind == JobKind.UPLOAD else run_query
    try:
        with lease:
            done = run(job, lease)
    except (JobFailure, SecretsUnreadable) as exc:
        return "failed" if _finish(lease, JobStatus.FAILED, exc.message) else _stopped(lease)
    except Stop:
        done = False
    except Exception as exc:
        # Unexpected: the job is given back (its lease released) for the sweep to resume, and
        # failed once the same thing happened MAX_CRASHES times.
        logger.exception("bulk job %s: the run failed unexpectedly", job_id)
        lease.mine().update(runner=None, lease_until=None, crashes=F("crashes") + 1)
        crashes = BulkJob.objects.filter(pk=job_id).values_list("crashes", flat=True).first()
        if crashes is not None and crashes >= MAX_CRASHES:
            BulkJob.objects.filter(pk=job_id, status__in=ACTIVE).update(
                status=JobStatus.FAILED, finished_at=timezone.now(),
                message=f"The job stopped {crashes} times on an unexpected error "
                f"({type(exc).__name__}); the server's log has the details.",
            )  # fmt: skip
            job_notify(BulkJob.objects.select_related("datasource").get(pk=job_id))
        raise exc from None
    if done:
        return "complete" if _finish(lease, JobStatus.COMPLETE, "") else _stopped(lease)
    if lease.reason == "lease lost" or not lease.mine().filter(status=JobStatus.RUNNING).exists():
        return _stopped(lease)
    # The slice is over: the next one is another task (the lease is released for it).
    if (
        lease.mine()
        .filter(status=JobStatus.RUNNING)
        .update(runner=None, lease_until=None, queued_at=timezone.now())
    ):
        enqueue_job(job_id)
    return "continued"


def _stopped(lease: Lease) -> str:
    """The run ended without finishing the job: it was cancelled meanwhile (announced now that
    what was in flight is counted), or another runner holds it."""
    if lease.mine().exclude(status__in=ACTIVE).update(runner=None, lease_until=None):
        job_notify(BulkJob.objects.select_related("datasource").get(pk=lease.job_id))
        return "cancelled"
    return "lease lost"


def _finish(lease: Lease, status: str, message: str) -> bool:
    """End the job as ``status`` (only while it runs under this lease); whether it did."""
    now = timezone.now()
    updates: dict[str, Any] = {"status": status, "finished_at": now, "runner": None,
                               "lease_until": None}  # fmt: skip
    if message:
        updates["message"] = clean_text(message)[:1000]
    if status == JobStatus.COMPLETE:
        updates["total"] = Coalesce(F("total"), F("processed"))
    if lease.mine().filter(status=JobStatus.RUNNING).update(**updates):
        job = BulkJob.objects.select_related("datasource").get(pk=lease.job_id)
        logger.info("bulk job %s %s: %s processed", job.pk, status.lower(), job.processed)
        job_notify(job)
        return True
    return False


NOTIFICATION_TYPES = {
    JobStatus.COMPLETE: "bulk.completed",
    JobStatus.FAILED: "bulk.failed",
    JobStatus.CANCELLED: "bulk.cancelled",
}


def job_notify(job: BulkJob) -> None:
    """Record the job's end as an event of its data source, when its events are enabled (the
    events delivery sends it to the callback URL like any other event)."""
    try:
        if not events_of(job.datasource).enabled:
            return
    except SecretsUnreadable:
        pass  # recorded all the same: the delivery says what is wrong
    body = {"type": NOTIFICATION_TYPES[job.status], "job": job_status(job)}
    event_record(
        datasource=job.datasource,
        source=Source.BULK,
        body=json.dumps(body).encode(),
        content_type="application/json",
        dedup_key=f"bulk:{job.pk}",
    )


def resume_due(now: Any = None, batch: int = 100) -> int:
    """Send again the active jobs no live runner holds whose task is not on its way (a worker
    died, a broker restart lost the task); announce the cancel of a job whose runner died
    before it could."""
    now = now or timezone.now()
    dead = BulkJob.objects.filter(status=JobStatus.CANCELLED, runner__isnull=False,
                                  lease_until__lt=now)  # fmt: skip
    for pk in list(dead.values_list("pk", flat=True)[:batch]):
        if BulkJob.objects.filter(pk=pk, runner__isnull=False).update(
            runner=None, lease_until=None
        ):
            job_notify(BulkJob.objects.select_related("datasource").get(pk=pk))
    due = (
        BulkJob.objects.filter(status__in=ACTIVE)
        .filter(Q(lease_until__isnull=True) | Q(lease_until__lt=now))
        .filter(Q(queued_at__isnull=True) | Q(queued_at__lt=now - REQUEUE_AFTER))
        .values_list("pk", "queued_at")[:batch]
    )
    sent = 0
    for pk, queued_at in list(due):
        # Conditional: a sweep running elsewhere at the same moment sends it only once.
        if BulkJob.objects.filter(pk=pk, queued_at=queued_at).update(queued_at=now):
            sent += enqueue_job(pk)
    return sent
