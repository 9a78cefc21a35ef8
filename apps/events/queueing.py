"""Sending the events app's tasks by name (recording and delivery need no import of the task
module), on ``EVENTS_QUEUE`` when the operator gave deliveries and polls a queue of their own."""

from __future__ import annotations

import logging
from typing import Any

from celery import current_app
from django.conf import settings

logger = logging.getLogger("plugboard.events")

DELIVER = "apps.events.tasks.deliver_event"
POLL = "apps.events.tasks.poll_datasource"


def _send(name: str, args: list[Any], countdown: float) -> bool:
    """Whether the broker took the task. A failure is logged, not raised: the row stays due and
    the periodic sweep sends it again."""
    try:
        current_app.send_task(
            name,
            args=args,
            queue=settings.EVENTS_QUEUE or None,
            countdown=max(countdown, 0) or None,
            retry=True,
            retry_policy={"max_retries": 1, "interval_start": 0, "interval_step": 0.5},
        )
    except Exception as exc:  # the broker is down or refused: the sweep covers it
        logger.warning("could not enqueue %s (%s); the sweep will", name, type(exc).__name__)
        return False
    return True


def enqueue_delivery(event_id: Any, countdown: float = 0) -> bool:
    return _send(DELIVER, [str(event_id)], countdown)


def enqueue_poll(datasource_id: Any, countdown: float = 0) -> bool:
    return _send(POLL, [str(datasource_id)], countdown)
