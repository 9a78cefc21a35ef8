"""Polling an API without webhooks: ask for what changed since the watermark, record one event
per record that is new or changed, move the watermark.

The first poll only sets the watermark. A record is new when its updated value is later than
the watermark, or equal to it and not seen on the poll that set it; each record (id + updated
value) is recorded once. Polls of one data source never overlap (a lease on its state row).
"""

from __future__ import annotations

import hashlib
import json
import logging
import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

from django.conf import settings
from django.db.models import Q
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime

from apps.core.codes import ErrorCode
from apps.core.errors import ApplicationError
from apps.core.stamps import StampUnavailable
from apps.datasources.connections import datasource_request
from apps.datasources.event_settings import SINCE, PollSettings, event_settings_of
from apps.datasources.models import DataSource
from apps.datasources.services import datasource_cache_invalidate
from apps.events.models import PollState, Source
from apps.events.queueing import enqueue_poll
from apps.events.recording import already_recorded, event_record
from apps.outbound.errors import OutboundError, UnexpectedResponse
from apps.outbound.paths import get_path

logger = logging.getLogger("plugboard.events")

# How long a poll holds its data source: the call's own deadline bounds it well below this.
LEASE = timedelta(minutes=5)
# Digests of records at the watermark kept for the next poll (more are rare: same instant).
MAX_BOUNDARY = 1000
MAX_RECORDS = 10_000  # events recorded per poll; the rest wait for the next one
FUTURE_SKEW = timedelta(minutes=5)


class PollingOff(ApplicationError):
    code = ErrorCode.POLLING_OFF
    status = 409
    message = "Polling is off for this data source: enable it in its events settings first."


class PollInProgress(ApplicationError):
    code = ErrorCode.POLL_IN_PROGRESS
    status = 409
    message = "This data source is being polled right now; try again in a moment."


def poll_settings(datasource: DataSource) -> PollSettings:
    return event_settings_of(datasource.events_config or {}, {}).poll


def moment(value: Any) -> datetime | None:
    """An updated value as an aware time: ISO 8601 (a date alone is its midnight, no offset is
    UTC) or epoch seconds (milliseconds when it is that large); None otherwise."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, str):
        text = value.strip()
        try:
            value = float(text)
        except ValueError:
            try:
                parsed = parse_datetime(text)
                if parsed is None and (day := parse_date(text)) is not None:
                    parsed = datetime(day.year, day.month, day.day)
            except ValueError:
                return None
            if parsed is None:
                return None
            return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    if isinstance(value, int | float):
        seconds = float(value) / 1000 if abs(value) > 1e11 else float(value)
        try:
            return datetime.fromtimestamp(seconds, tz=UTC)
        except (OverflowError, OSError, ValueError):
            return None
    return None


def iso(at: datetime) -> str:
    text = at.astimezone(UTC).isoformat()
    return text.replace("+00:00", "Z")


def watermark_text(value: Any, at: datetime) -> str:
    """The watermark as the API wrote it when that is text (so ``{since}`` gives the API back
    its own format), else ISO 8601."""
    return value.strip() if isinstance(value, str) and not _numeric(value) else iso(at)


def _numeric(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def record_digest(record_id: Any, updated: Any) -> str:
    return hashlib.sha256(json.dumps([str(record_id), str(updated)]).encode()).hexdigest()


@dataclass
class Seen:
    record: Any
    digest: str
    at: datetime
    updated: Any


def _records(document: Any, poll: PollSettings) -> tuple[list[Seen], int]:
    """The records of an answer with an id and a readable updated value; and how many had
    neither."""
    items = get_path(document, poll.results_path) if poll.results_path else document
    if not isinstance(items, list):
        raise UnexpectedResponse(
            f"The answer has no list at {poll.results_path or 'its top level'}."
        )
    seen, skipped = [], 0
    for record in items:  # the answer's own cap (10 MB) bounds how many there are
        record_id = get_path(record, poll.id_path)
        updated = get_path(record, poll.updated_path)
        at = moment(updated)
        if record_id is None or at is None:
            skipped += 1
            continue
        seen.append(Seen(record, record_digest(record_id, updated), at, updated))
    return seen, skipped


def _lease(datasource: DataSource, now: datetime) -> PollState | None:
    state, _ = PollState.objects.get_or_create(datasource=datasource)
    taken = (
        PollState.objects.filter(pk=datasource.pk)
        .filter(Q(lease_until__isnull=True) | Q(lease_until__lt=now))
        .update(lease_until=now + LEASE)
    )
    if not taken:
        return None
    state.refresh_from_db()
    return state


def next_time(poll: PollSettings, now: datetime) -> datetime:
    """The interval from now, stretched by up to 10 % at random so that polls never bunch."""
    return now + timedelta(seconds=poll.interval_seconds * (1 + random.uniform(0, 0.1)))  # noqa: S311 - jitter


def poll_now(datasource: DataSource) -> int:
    """Poll ``datasource`` once; how many events were recorded."""
    poll = poll_settings(datasource)
    if not poll.enabled:
        raise PollingOff()
    now = timezone.now()
    state = _lease(datasource, now)
    if state is None:
        raise PollInProgress()
    try:
        recorded, notes = _poll(datasource, poll, state, now)
    except OutboundError as exc:
        PollState.objects.filter(pk=datasource.pk).update(
            lease_until=None, queued_for=None, last_polled_at=now, last_recorded=0,
            last_error=exc.message[:500], next_poll_at=next_time(poll, now),
        )  # fmt: skip
        raise
    except BaseException:
        PollState.objects.filter(pk=datasource.pk).update(lease_until=None)
        raise
    PollState.objects.filter(pk=datasource.pk).update(
        lease_until=None, queued_for=None, last_polled_at=now, last_recorded=recorded,
        last_error=" ".join(notes)[:500], next_poll_at=next_time(poll, now),
    )  # fmt: skip
    return recorded


def _poll(
    datasource: DataSource, poll: PollSettings, state: PollState, now: datetime
) -> tuple[int, list[str]]:
    first = not state.watermark
    since = state.watermark or iso(now)
    path = poll.path.replace(SINCE, quote(since, safe=""))
    response = datasource_request(datasource, path=path).raise_for_status()
    seen, skipped = _records(response.json(), poll)
    notes = [f"{skipped} records had no id or no readable updated value."] if skipped else []
    mark = moment(state.watermark) if state.watermark else None
    # The watermark never moves past this: one record dated in the future must not make every
    # later poll ask for nothing. (Such a record is still recorded, once.)
    limit = now + FUTURE_SKEW
    if first or mark is None:
        _move_watermark(datasource, seen, limit, fallback=since)
        return 0, notes
    boundary = set(state.boundary or [])
    fresh = [s for s in seen if s.at > mark or (s.at == mark and s.digest not in boundary)]
    done = already_recorded(datasource, [f"poll:{s.digest}" for s in fresh])
    fresh = sorted((s for s in fresh if f"poll:{s.digest}" not in done), key=lambda s: s.at)
    taken, waiting = fresh[:MAX_RECORDS], fresh[MAX_RECORDS:]
    if waiting:
        # Oldest first, and the watermark only as far as what was recorded: the next poll
        # picks up the rest.
        notes.append(f"{len(waiting)} more changes wait for the next poll (at most "
                     f"{MAX_RECORDS:,} are recorded per poll).")  # fmt: skip
    if taken:
        try:
            datasource_cache_invalidate(
                datasource_id=datasource.pk, tenant_id=datasource.tenant_id, free=False
            )
        except StampUnavailable:
            logger.warning("poll of %s: the cache could not be purged", datasource.pk)
    recorded = 0
    for item in taken:
        body = json.dumps(item.record, separators=(",", ":"), ensure_ascii=False).encode()
        result = event_record(datasource=datasource, source=Source.POLL, body=body,
                              content_type="application/json", dedup_key=f"poll:{item.digest}")  # fmt: skip
        recorded += result.created
    untaken = {s.digest for s in waiting}
    candidates = [s for s in seen if s.digest not in untaken]
    if waiting:
        candidates = [s for s in candidates if s.at <= taken[-1].at]
    _move_watermark(datasource, candidates, limit, fallback=state.watermark, mark=mark,
                    boundary=boundary)  # fmt: skip
    return recorded, notes


def _move_watermark(
    datasource: DataSource,
    seen: list[Seen],
    limit: datetime,
    *,
    fallback: str,
    mark: datetime | None = None,
    boundary: set[str] | None = None,
) -> None:
    """The watermark becomes the latest updated value of ``seen`` up to ``limit`` (as the API
    wrote it), with the records at exactly that time remembered; it never moves back."""
    usable = [s for s in seen if s.at <= limit]
    latest = max(usable, key=lambda s: s.at, default=None)
    boundary = set(boundary or ())
    if latest is not None and (mark is None or latest.at > mark):
        watermark = watermark_text(latest.updated, latest.at)
        boundary = {s.digest for s in usable if s.at == latest.at}
    elif mark is None:
        watermark, boundary = fallback, set()
    else:
        watermark = fallback
        boundary |= {s.digest for s in usable if s.at == mark}
    PollState.objects.filter(pk=datasource.pk).update(
        watermark=watermark[:100], boundary=sorted(boundary)[:MAX_BOUNDARY]
    )


def poll_due(datasource_id: Any) -> int | None:
    """The scheduled poll of one data source, if it is (still) due and enabled."""
    datasource = DataSource.objects.filter(pk=datasource_id).first()
    if datasource is None or not poll_settings(datasource).enabled:
        return None
    now = timezone.now()
    state = PollState.objects.filter(pk=datasource_id).first()
    if state is not None and state.next_poll_at and state.next_poll_at > now + timedelta(seconds=5):
        return None  # polled by hand meanwhile: the next one was moved
    try:
        return poll_now(datasource)
    except PollInProgress:
        return None
    except OutboundError as exc:
        logger.warning("poll of %s failed: %s", datasource_id, exc.code)
        return None


def scan(now: datetime | None = None) -> int:
    """Send the polls due before the next scan, each with a countdown to its own time; give
    data sources that just turned polling on a first time within the next minute."""
    now = now or timezone.now()
    period = timedelta(seconds=30)
    enabled = DataSource.objects.filter(events_config__poll__enabled=True)
    for pk in enabled.exclude(pk__in=PollState.objects.values("pk")).values_list("pk", flat=True):
        PollState.objects.get_or_create(
            datasource_id=pk,
            defaults={
                "next_poll_at": now + timedelta(seconds=random.uniform(0, 60))  # noqa: S311
            },
        )
    PollState.objects.filter(datasource__in=enabled, next_poll_at__isnull=True).update(
        next_poll_at=now
    )
    lost_before = now - timedelta(seconds=float(settings.EVENTS_REQUEUE_AFTER))
    due = (
        PollState.objects.filter(datasource__in=enabled, next_poll_at__lte=now + period)
        .filter(Q(lease_until__isnull=True) | Q(lease_until__lt=now))
        .filter(Q(queued_for__isnull=True) | Q(queued_for__lt=lost_before))
        .values_list("pk", "next_poll_at", "queued_for")
    )
    sent = 0
    for pk, next_at, queued_for in list(due):
        expected = max(next_at, now)
        if PollState.objects.filter(pk=pk, queued_for=queued_for).update(queued_for=expected):
            sent += enqueue_poll(pk, countdown=(expected - now).total_seconds())
    return sent
