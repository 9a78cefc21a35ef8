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
from redis.exceptions import ResponseError

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


class Batch:
    """Commands sent to Redis in one round trip by ``execute``, which returns their replies in
    order: a redis-py pipeline (without MULTI) for the few commands the hot paths send, without
    the pipeline's per-call machinery (its retry wrapper, command stack and reply callbacks),
    which costs more than the commands themselves there. Replies are Redis's own: integers for
    EXPIRE and ZREM, ``b"OK"`` or None for SET. A connection that fails is dropped (the pool
    makes a new one); a command Redis refuses has its error as its reply."""

    __slots__ = ("_client", "_commands")

    def __init__(self, client: Any) -> None:
        self._client = client
        self._commands: list[tuple[Any, ...]] = []

    def __len__(self) -> int:
        return len(self._commands)

    def _add(self, *args: Any) -> Batch:
        self._commands.append(args)
        return self

    def get(self, name: str) -> Batch:
        return self._add("GET", name)

    def mget(self, names: list[str]) -> Batch:
        return self._add("MGET", *names)

    def set(self, name: str, value: Any, *, nx: bool = False) -> Batch:
        return self._add("SET", name, value, "NX") if nx else self._add("SET", name, value)

    def incr(self, name: str) -> Batch:
        return self._add("INCR", name)

    def expire(self, name: str, seconds: int) -> Batch:
        return self._add("EXPIRE", name, seconds)

    def delete(self, *names: str) -> Batch:
        return self._add("DEL", *names)

    def zadd(self, name: str, score: float, member: Any) -> Batch:
        return self._add("ZADD", name, score, member)

    def zcard(self, name: str) -> Batch:
        return self._add("ZCARD", name)

    def zrem(self, name: str, *members: Any) -> Batch:
        return self._add("ZREM", name, *members)

    def zremrangebyscore(self, name: str, low: Any, high: Any) -> Batch:
        return self._add("ZREMRANGEBYSCORE", name, low, high)

    def execute(self, raise_on_error: bool = True) -> list[Any]:
        commands, self._commands = self._commands, []
        if not commands:
            return []
        pool = self._client.connection_pool
        connection = pool.get_connection()  # (which reconnects one the server closed)
        try:
            connection.send_packed_command(connection.pack_commands(commands))
            replies: list[Any] = []
            for _ in commands:
                try:
                    replies.append(connection.read_response())
                except ResponseError as exc:  # read whole: the connection is still in step
                    replies.append(exc)
        except BaseException:
            connection.disconnect()
            raise
        finally:
            pool.release(connection)
        if raise_on_error:
            for reply in replies:
                if isinstance(reply, ResponseError):
                    raise reply
        return replies


def batch() -> Batch | None:
    """A ``Batch`` on the default cache's Redis, or None without Redis."""
    found = client()
    return Batch(found) if found is not None else None
