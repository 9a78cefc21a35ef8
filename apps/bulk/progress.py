"""How far a bulk job has come, in figures and in words: what its page shows at first and what
the page's script puts in place every second (both from here, so they never disagree)."""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from typing import Any

from django.utils import timezone

from apps.bulk.models import BulkJob, JobKind, JobStatus

# A job no worker has taken for this long is probably waiting for a worker that is not running.
WAITING_TOO_LONG = timedelta(seconds=60)
# Too early to tell a rate (and an ETA from it) that means anything.
MIN_ELAPSED_SECONDS = 1.0


def _plural(n: int, word: str) -> str:
    return f"{n:,} {word}" if n == 1 else f"{n:,} {word}s"


def duration_words(seconds: float) -> str:
    """``"45 s"``, ``"3 min 20 s"``, ``"2 h 5 min"``."""
    seconds = max(0, math.ceil(seconds))
    if seconds < 60:
        return f"{seconds} s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {seconds} s" if seconds else f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min" if minutes else f"{hours} h"


def job_unit(job: BulkJob) -> str:
    return "row" if job.kind == JobKind.UPLOAD else "record"


def job_progress(job: BulkJob, now: datetime | None = None) -> dict[str, Any]:
    """Percent done, rate, time left, and the sentences that show them."""
    now = now or timezone.now()
    unit = job_unit(job)
    active = not job.finished
    total = job.total
    if job.status == JobStatus.COMPLETE:
        percent: int | None = 100
    elif total:
        percent = min(100, job.processed * 100 // total)
    elif total == 0:
        percent = 0
    else:
        percent = None  # a query's total is known after its last page

    elapsed = None
    if job.started_at:
        elapsed = ((job.finished_at if job.finished_at else now) - job.started_at).total_seconds()
    rate = None
    if elapsed is not None and elapsed >= MIN_ELAPSED_SECONDS and job.processed:
        rate = job.processed / elapsed
    eta = None
    if active and rate and total is not None:
        eta = max(0.0, (total - job.processed) / rate)

    # The bar: a value out of a maximum, or None while the total is not known (indeterminate).
    bar: dict[str, int] | None = None
    if job.status == JobStatus.COMPLETE:
        bar = {"max": max(total or 0, job.processed, 1), "value": max(total or 0, job.processed, 1)}
    elif total is not None:
        bar = {"max": max(total, 1), "value": min(job.processed, total)}

    if total is None and active:
        done = f"{_plural(job.processed, unit)} so far; the total is known after the last page"
    elif total is None:
        done = f"{_plural(job.processed, unit)} read before it stopped"
    else:
        done = f"{job.processed:,} of {_plural(total, unit)}"

    if job.status == JobStatus.CREATED:
        waited = now - (job.queued_at or job.created_at)
        if waited >= WAITING_TOO_LONG:
            note = (f"No worker has taken this job in {duration_words(waited.total_seconds())}. "
                    "Is the Celery worker running?")  # fmt: skip
        else:
            note = "Waiting for a worker to take it."
    elif job.status == JobStatus.RUNNING:
        note = "Updated every second."
    else:
        note = job.message  # why it failed, or who cancelled it (empty when it completed)

    if rate is None:
        rate_words = "—"
    else:
        rate_words = f"{rate:,.1f} {unit}s/s" if rate < 100 else f"{rate:,.0f} {unit}s/s"
    if not active:
        eta_words = "—"
    elif eta is None:
        eta_words = "not known yet"
    else:
        eta_words = f"about {duration_words(eta)}"
    return {
        "active": active,
        "percent": percent,
        "bar": bar,
        # An ended job whose total never came (a query that failed or was cancelled): no bar.
        "show_bar": bar is not None or active,
        "rate": None if rate is None else round(rate, 2),
        "eta_seconds": None if eta is None else round(eta),
        "elapsed_seconds": None if elapsed is None else round(elapsed),
        "display": {
            "status": job.get_status_display(),
            "note": note,
            "done": done,
            "percent": "" if percent is None else f"{percent}%",
            "processed": f"{job.processed:,}",
            "total": "—" if total is None else f"{total:,}",
            "succeeded": f"{job.succeeded:,}",
            "failed": f"{job.failed:,}",
            "rate": rate_words,
            "eta": eta_words,
            "elapsed": "—" if elapsed is None else duration_words(elapsed),
        },
    }
