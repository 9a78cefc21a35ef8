"""Sending the bulk app's tasks by name (on ``BULK_QUEUE`` when the operator gave bulk jobs a
queue of their own)."""

from __future__ import annotations

import logging
from typing import Any

from celery import current_app
from django.conf import settings

logger = logging.getLogger("plugboard.bulk")

RUN = "apps.bulk.tasks.run_bulk_job"


def enqueue_job(job_id: Any) -> bool:
    """Whether the broker took the job's task. A failure is logged, not raised: the job stays
    active and the sweep sends it again."""
    try:
        current_app.send_task(
            RUN,
            args=[str(job_id)],
            queue=settings.BULK_QUEUE or None,
            retry=True,
            retry_policy={"max_retries": 1, "interval_start": 0, "interval_step": 0.5},
        )
    except Exception as exc:  # the broker is down or refused: the sweep covers it
        logger.warning("could not enqueue bulk job %s (%s); the sweep will", job_id,
                       type(exc).__name__)  # fmt: skip
        return False
    return True
