"""The request id travels with the Celery tasks a request sends: it rides in the task message's
headers and is current while the worker runs the task, so that the task's log lines (its
outbound calls' included) and the tasks it sends in turn carry it."""

from __future__ import annotations

from typing import Any

from celery.signals import before_task_publish, task_postrun, task_prerun

from apps.core import request_id


@before_task_publish.connect
def _send_request_id(headers: dict[str, Any] | None = None, **kwargs: Any) -> None:
    current = request_id.current()
    if current is not None and headers is not None:
        headers.setdefault(request_id.TASK_HEADER, current)


@task_prerun.connect
def _take_request_id(task: Any = None, **kwargs: Any) -> None:
    carried = getattr(getattr(task, "request", None), request_id.TASK_HEADER, None)
    request_id.activate(request_id.sane(carried))


@task_postrun.connect
def _drop_request_id(**kwargs: Any) -> None:
    request_id.activate(None)
