"""Raw Redis for the few paths where Django's cache API costs more than the command itself (the
stamps, the options cache): the client behind the default cache, full key names, and a "down,
log once" for each use that degrades when Redis fails.

Without Redis (the local-memory cache of the embedded default) ``client()`` is None, and each
caller has its own way without it.
"""

from __future__ import annotations

import logging
from typing import Any

from django.core.cache import cache
from django.core.signals import setting_changed
from django.dispatch import receiver

# The client and the key prefix are looked up once per process: each lookup through Django's
# cache handler costs more than the Redis command on the hot path.
_memo: dict[str, Any] = {}
_MISSING = object()
_outages: list[Outage] = []


@receiver(setting_changed)
def _forget_lookups(setting: str, **kwargs: Any) -> None:
    # Another CACHES is another Redis (tests change it): look it up afresh, and what was logged
    # about the old one's health is no news about the new one.
    if setting == "CACHES":
        _memo.clear()
        for outage in _outages:
            outage.down = False


def client() -> Any | None:
    """The raw Redis client behind the default cache, or None (local-memory cache)."""
    found = _memo.get("client", _MISSING)
    if found is _MISSING:
        try:
            from django_redis import get_redis_connection

            found = get_redis_connection("default")
        except (ImportError, NotImplementedError, AttributeError):
            found = None
        _memo["client"] = found
    return found


def key(name: str) -> str:
    """The full Redis key of ``name`` in the default cache (prefix and version included)."""
    prefix = _memo.get("prefix")
    if prefix is None:
        probe = str(cache.make_key("\x00"))
        prefix = _memo["prefix"] = probe[:-1]
    return prefix + name


class Outage:
    """One use of Redis that goes on without it: the first failure is logged as a warning with
    what happens instead, and the first success after it once more."""

    def __init__(self, logger: logging.Logger, *, failed: str, recovered: str) -> None:
        self.logger = logger
        self.failed_message = failed  # %s: the exception's class
        self.recovered_message = recovered
        self.down = False
        _outages.append(self)

    def failed(self, exc: BaseException) -> None:
        if not self.down:
            self.down = True
            self.logger.warning(self.failed_message, type(exc).__name__)

    def worked(self) -> None:
        if self.down:
            self.down = False
            self.logger.info(self.recovered_message)
