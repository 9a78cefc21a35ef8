"""Recording an event: one row, written with its delivery due when delivery is on (the outbox),
and, once that row is committed, a dispatch asked for (at most one on its way at a time)."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from apps.datasources.event_settings import events_of
from apps.datasources.models import DataSource
from apps.events.models import PREVIEW_CHARS, Event, EventStatus
from apps.events.queueing import request_dispatch
from apps.outbound.errors import SecretsUnreadable
from apps.outbound.headers import header_value_problem

DEFAULT_CONTENT_TYPE = "application/octet-stream"
_USUAL_TYPES = frozenset({"application/json", "application/json; charset=utf-8",
                          "application/x-www-form-urlencoded", "text/plain"})  # fmt: skip


@dataclass
class Recorded:
    event: Event
    created: bool  # False: the same webhook-id or polled record was recorded before


def delivers(datasource: DataSource) -> bool:
    """Whether ``datasource``'s events are to be delivered. With unreadable secrets they are
    pending all the same: the attempt then says what is wrong."""
    try:
        return events_of(datasource).delivers
    except SecretsUnreadable:
        return bool((datasource.events_config or {}).get("enabled"))


def preview_of(body: bytes) -> str:
    return body[: PREVIEW_CHARS * 4].decode("utf-8", errors="replace")[:PREVIEW_CHARS]


_INSERTS: dict[str, tuple[str, list[Any]]] = {}


def _insert(event: Event, connection: Any) -> None:
    """``event.save(force_insert=True)`` without compiling the statement anew each time (on the
    inbound path that costs more than the rest of the request's work). Values go through each
    field's own preparation for the database, as they do in ``save``."""
    found = _INSERTS.get(connection.vendor)
    if found is None:
        fields = list(Event._meta.concrete_fields)
        quote = connection.ops.quote_name
        sql = (
            f"INSERT INTO {quote(Event._meta.db_table)} "  # noqa: S608 - names from the model
            f"({', '.join(quote(f.column) for f in fields)}) "
            f"VALUES ({', '.join(['%s'] * len(fields))})"
        )
        found = _INSERTS[connection.vendor] = (sql, fields)
    sql, fields = found
    # (No field of an event computes its value on save: no auto_now, no auto increment.)
    params = [field.get_db_prep_save(getattr(event, field.attname), connection) for field in fields]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
    event._state.adding = False
    event._state.db = connection.alias


def event_record(
    *,
    datasource: DataSource,
    source: str,
    body: bytes,
    content_type: str = "",
    dedup_key: str | None = None,
    due: bool | None = None,
) -> Recorded:
    """Record one event of ``datasource``; with a ``dedup_key`` seen before, the earlier event
    is returned instead (``created`` False). ``due``: whether it is to be delivered, when the
    caller knows (else read from the data source's settings)."""
    now = timezone.now()
    if due is None:
        due = delivers(datasource)
    content_type = (content_type or "").strip()
    if content_type not in _USUAL_TYPES and (
        not content_type or header_value_problem(content_type) or len(content_type) > 200
    ):
        content_type = DEFAULT_CONTENT_TYPE  # it is sent again with each delivery
    event = Event(
        tenant_id=datasource.tenant_id,
        datasource=datasource,
        source=source,
        status=EventStatus.PENDING if due else EventStatus.RECORDED,
        received_at=now,
        content_type=content_type,
        body=body,
        body_size=len(body),
        preview=preview_of(body),
        dedup_key=dedup_key[:200] if dedup_key else None,
        next_attempt_at=now if due else None,
    )
    try:
        # One INSERT; inside a caller's transaction, in a savepoint of its own, so that a
        # duplicate does not spoil the caller's work.
        connection = transaction.get_connection()
        with transaction.atomic() if connection.in_atomic_block else contextlib.nullcontext():
            _insert(event, connection)
        if due:
            transaction.on_commit(request_dispatch)
    except IntegrityError:
        if dedup_key is None:
            raise
        earlier = Event.objects.filter(datasource=datasource, dedup_key=event.dedup_key).first()
        if earlier is None:
            raise
        return Recorded(event=earlier, created=False)
    return Recorded(event=event, created=True)


def already_recorded(datasource: DataSource, keys: list[str]) -> set[str]:
    """Which of ``keys`` were recorded as events of ``datasource``."""
    found: set[str] = set()
    for start in range(0, len(keys), 500):
        chunk = keys[start : start + 500]
        found.update(
            Event.objects.filter(datasource=datasource)
            .filter(Q(dedup_key__in=chunk))
            .values_list("dedup_key", flat=True)
        )
    return found
