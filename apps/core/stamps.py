"""Stamps: small counters in the shared cache (Redis) that say "this changed".

A process may remember something read from the database (an API key, an item) together with the
stamp it had; as long as the stamp is the same, the memory is good. A change bumps the stamp
right away and again after its transaction commits, so no process keeps trusting what it read
before the change. Without a shared Redis, nothing may be trusted from memory.
"""

from __future__ import annotations

import logging
from typing import Any

from django.core.cache import cache
from django.core.signals import setting_changed
from django.db import transaction
from django.dispatch import receiver

logger = logging.getLogger("plugboard.cache")


def tenant_stamp(tenant_id: Any) -> str:
    """The stamp of everything remembered about one tenant (its API keys, items and data
    sources): any change to one of them bumps it."""
    return f"stamp:tenant:{tenant_id}"


# The raw client and the key prefix are looked up once per process (each lookup through Django's
# cache handler costs more than the Redis command on the hot path) and again if CACHES changes.
_memo: dict[str, Any] = {}
_MISSING = object()


@receiver(setting_changed)
def _forget_cache_lookups(setting: str, **kwargs: Any) -> None:
    if setting == "CACHES":
        _memo.clear()


def redis_client() -> Any | None:
    """The raw Redis client behind the default cache, or None (local-memory cache)."""
    client = _memo.get("client", _MISSING)
    if client is _MISSING:
        try:
            from django_redis import get_redis_connection

            client = get_redis_connection("default")
        except (ImportError, NotImplementedError, AttributeError):
            client = None
        _memo["client"] = client
    return client


def make_key(name: str) -> str:
    """The full key of ``name`` in the default cache (prefix and version included)."""
    prefix = _memo.get("prefix")
    if prefix is None:
        probe = str(cache.make_key("\x00"))
        prefix = _memo["prefix"] = probe[:-1]
    return prefix + name


def read(name: str) -> str | None:
    """The stamp's value ("0" when never bumped), or None when it cannot be read."""
    client = redis_client()
    if client is None:
        return None
    try:
        value = client.get(make_key(name))
    except Exception:
        return None
    return value.decode() if value is not None else "0"


def bump(name: str) -> None:
    def increment() -> None:
        client = redis_client()
        if client is None:
            return
        try:
            client.incr(make_key(name))
        except Exception as exc:
            logger.warning("could not bump %s (%s)", name, type(exc).__name__)

    increment()
    transaction.on_commit(increment)
