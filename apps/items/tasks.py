from __future__ import annotations

from celery import shared_task

from apps.items.cache.indexes import purge_expired


@shared_task(ignore_result=True)
def purge_options_cache() -> dict[str, int]:
    """Remove cached options older than 300 s (and last-good copies past their 10 minutes)."""
    return purge_expired()
