"""The bulk app's tasks (scheduled in config/schedule.py). Messages carry ids only; running a job
twice at once is harmless (one lease holder does the work)."""

from __future__ import annotations

from celery import shared_task
from django.conf import settings

from apps.bulk import runner
from apps.bulk.services import bulk_files_purge

# A slice runs BULK_SLICE_SECONDS; the limits leave it time to record what is in flight.
_SLICE = float(settings.BULK_SLICE_SECONDS)


@shared_task(ignore_result=True, soft_time_limit=_SLICE + 120, time_limit=_SLICE + 180)
def run_bulk_job(job_id: str) -> str:
    """One slice of a job (another task takes the next)."""
    return runner.job_run(job_id)


@shared_task(ignore_result=True)
def resume_bulk_jobs() -> int:
    """Send again the jobs no live worker runs (their worker died, their task was lost)."""
    return runner.resume_due()


@shared_task(ignore_result=True)
def purge_bulk_files() -> int:
    return bulk_files_purge()
