"""The request id: one token per request, on every log line written while it is served, in the
response's ``X-Request-ID``, and carried into the Celery tasks it sends (and from those into the
tasks they send), so that a request's lines, its tasks' lines and their outbound calls' lines
can be found together.

A client or a proxy in front may name the id (``X-Request-ID``) when it is a sane token;
anything else is replaced by a generated one, so that a log line never carries what a caller
chose to inject (line breaks, quotes, megabytes).

Kept free of Django models and settings: the logging configuration imports this module before
the apps are loaded.
"""

from __future__ import annotations

import logging
import re
import uuid
from contextvars import ContextVar
from typing import Any

HEADER = "X-Request-ID"
META_KEY = "HTTP_X_REQUEST_ID"
# The Celery message header that carries it to the worker.
TASK_HEADER = "plugboard_request_id"
MAX_LENGTH = 100
# Letters, digits and the punctuation of UUIDs, base64 and tracing ids; nothing that could
# break a log line or a header.
_SANE = re.compile(rf"[A-Za-z0-9._:+/=-]{{1,{MAX_LENGTH}}}")

_current: ContextVar[str | None] = ContextVar("plugboard_request_id", default=None)


def sane(value: object) -> str | None:
    """``value`` when it may serve as a request id, else None."""
    if isinstance(value, str) and _SANE.fullmatch(value):
        return value
    return None


def generate() -> str:
    return uuid.uuid4().hex


def current() -> str | None:
    """The id of the request (or task) being served in this thread, or None."""
    return _current.get()


def activate(value: str | None) -> None:
    """Make ``value`` the current id; it stays until the next activation (the request's end
    clears it: see ``apps.core.middleware``)."""
    _current.set(value)


class RequestIdFilter(logging.Filter):
    """Puts the current request id on every record as ``request_id`` (``missing`` when there
    is none). Attached to handlers, so that records of every logger get it."""

    def __init__(self, name: str = "", missing: Any = "-") -> None:
        super().__init__(name)
        self.missing = missing

    def filter(self, record: logging.LogRecord) -> bool:
        value = _current.get()
        record.request_id = value if value is not None else self.missing
        return True
