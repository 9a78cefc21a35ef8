"""Sending the events app's tasks by name (recording and delivery need no import of the task
module), on ``EVENTS_QUEUE`` when the operator gave deliveries and polls a queue of their own."""

from __future__ import annotations

import contextlib
import logging
from typing import Any

from celery import current_app
from django.conf import settings

from apps.core import redis

logger = logging.getLogger("plugboard.events")

DELIVER = "apps.events.tasks.deliver_event"
DISPATCH = "apps.events.tasks.dispatch_deliveries"
POLL = "apps.events.tasks.poll_datasource"
# While set, a dispatch is on its way: events recorded meanwhile need no task of their own.
KICK = "events:dispatch-kick"
KICK_MS = 1000


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


def request_dispatch() -> None:
    """Have the due deliveries sent (events just recorded among them). At most one dispatch
    task is on its way at a time (a Redis key says so), so recording an event costs one Redis
    command rather than a task of its own; the dispatch clears the key before it looks."""
    client = redis.client()
    if client is None:
        _send(DISPATCH, [], 0)
        return
    name = redis.key(KICK)
    try:
        first = redis.Batch(client).set(name, "1", nx=True, px=KICK_MS).execute()[0] is not None
    except Exception as exc:  # without Redis to agree on, every event asks
        logger.warning("could not check for a dispatch on its way (%s)", type(exc).__name__)
        first = True
    if first and not _send(DISPATCH, [], 0):
        with contextlib.suppress(Exception):
            client.delete(name)  # the next event asks again


def dispatch_started() -> None:
    """Called by the dispatch before it looks: an event recorded from now on asks again."""
    client = redis.client()
    if client is not None:
        with contextlib.suppress(Exception):
            client.delete(redis.key(KICK))


def enqueue_poll(datasource_id: Any, countdown: float = 0) -> bool:
    return _send(POLL, [str(datasource_id)], countdown)
