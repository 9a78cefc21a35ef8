"""How an event reads in the API: the contract's shape, body truncated to 10 kB."""

from __future__ import annotations

from typing import Any

from apps.events.models import DeliveryAttempt, Event


def attempt_representation(attempt: DeliveryAttempt) -> dict[str, Any]:
    return {
        "attempt": attempt.attempt,
        "at": attempt.at.isoformat(),
        "status_code": attempt.status_code,
        "ok": attempt.ok,
        "error": attempt.error or None,
        "elapsed_ms": attempt.elapsed_ms,
    }


def event_representation(event: Event) -> dict[str, Any]:
    """Needs ``deliveries`` prefetched (or costs a query)."""
    return {
        "id": str(event.pk),
        "datasource": str(event.datasource_id),
        "source": event.source,
        "received_at": event.received_at.isoformat(),
        "status": event.status,
        "content_type": event.content_type,
        "body": event.preview,
        "body_size": event.body_size,
        "body_truncated": event.body_size > len(event.preview.encode()),
        "attempts": event.attempts,
        "next_attempt_at": event.next_attempt_at.isoformat() if event.next_attempt_at else None,
        "deliveries": [attempt_representation(a) for a in event.deliveries.all()],
    }
