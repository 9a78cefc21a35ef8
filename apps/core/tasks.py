from __future__ import annotations

import socket

from celery import shared_task
from django.utils import timezone

from apps.core.models import WorkerHeartbeat


@shared_task(ignore_result=True)
def worker_heartbeat(name: str | None = None) -> None:
    """Record that a worker is alive and consuming the queue."""
    WorkerHeartbeat.objects.update_or_create(
        name=name or socket.gethostname(), defaults={"seen_at": timezone.now()}
    )
