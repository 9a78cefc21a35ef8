"""Raw Redis for the few paths where Django's cache API costs more than the command itself (the
stamps, the options cache): the client behind the default cache, full key names, and a "down,
log once" for each use that degrades when Redis fails.

Without Redis (the local-memory cache of the embedded default) ``client()`` is None, and each
caller has its own way without it.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import os
import threading
import time
from typing import Any

from django.core.cache import cache
from django.core.signals import setting_changed
from django.dispatch import receiver
from hiredis import pack_command
from redis.exceptions import ConnectionError as RedisConnectionError
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


class _Later:
    """Commands with no hurry that may be sent more than once (a slot given back, a counter's
    expiry): each goes with the next ``Batch`` this process sends, or with a background
    thread's within ``LATER_SECONDS`` when none goes. Under load they cost no round trip of
    their own. A batch that fails puts them back for the next one; past ``LATER_MAX`` waiting
    (Redis away a long time) the oldest are dropped: a slot lapses after its hold."""

    def __init__(self) -> None:
        self._reset()
        atexit.register(self.flush)

    def _reset(self) -> None:
        self._lock = threading.Lock()
        self._pending: list[tuple[Any, ...]] = []
        self._due = threading.Event()
        self._thread: threading.Thread | None = None

    def add(self, *command: Any) -> None:
        with self._lock:
            self._pending.append(command)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="redis-later", daemon=True)
                self._thread.start()
            self._due.set()

    def take(self) -> list[tuple[Any, ...]]:
        with self._lock:
            pending, self._pending = self._pending, []
        return pending

    def put_back(self, commands: list[tuple[Any, ...]]) -> None:
        """Commands a failed batch did not surely send: they go with a later one."""
        if not commands:
            return
        with self._lock:
            self._pending[:0] = commands
            del self._pending[: max(len(self._pending) - LATER_MAX, 0)]

    def flush(self) -> None:
        with contextlib.suppress(Exception):
            found = batch()
            if found is not None:
                found.execute(raise_on_error=False)

    def _run(self) -> None:
        while True:
            self._due.wait()
            time.sleep(LATER_SECONDS)  # meanwhile, batches of this process may carry them
            with self._lock:
                self._due.clear()
                pending = bool(self._pending)
            if pending:
                self.flush()


LATER_SECONDS = 0.02
LATER_MAX = 10_000
LATER = _Later()
os.register_at_fork(after_in_child=LATER._reset)


class _Connections(threading.local):
    """One connection per thread for batches, beside the pool (see ``Batch``)."""

    pid = 0
    pool: Any = None
    connection: Any = None


_connections = _Connections()


class Batch:
    """Commands sent to Redis in one round trip by ``execute``, which returns their replies in
    order: a redis-py pipeline (without MULTI) for the few commands the hot paths send, at a
    fraction of its cost there. Each thread sends its batches on a connection of its own, made
    like the pool's, so that no batch pays for checking a connection out and probing it; the
    commands of ``LATER`` ride along. Replies are Redis's own: integers for EXPIRE and ZREM,
    ``b"OK"`` or None for SET, a list for EXEC. A command Redis refuses has its error as its
    reply; a connection that fails is dropped, and a batch that found it closed before any
    reply (after a restart of Redis) is sent once more on a new one."""

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

    def set(self, name: str, value: Any, *, nx: bool = False, px: int | None = None) -> Batch:
        options = (("NX",) if nx else ()) + (("PX", px) if px is not None else ())
        return self._add("SET", name, value, *options)

    def incr(self, name: str) -> Batch:
        return self._add("INCR", name)

    def expire(self, name: str, seconds: int) -> Batch:
        return self._add("EXPIRE", name, seconds)

    def multi(self) -> Batch:
        return self._add("MULTI")

    def exec(self) -> Batch:
        return self._add("EXEC")

    def eval(self, script: str, numkeys: int, *args: Any) -> Batch:
        return self._add("EVAL", script, numkeys, *args)

    def zadd(self, name: str, score: float, member: Any) -> Batch:
        return self._add("ZADD", name, score, member)

    def zcard(self, name: str) -> Batch:
        return self._add("ZCARD", name)

    def zrem(self, name: str, *members: Any) -> Batch:
        return self._add("ZREM", name, *members)

    def _connection(self) -> tuple[Any, bool]:
        """This thread's connection (made anew after a fork or for another pool), and whether
        it is new."""
        pool = self._client.connection_pool
        local = _connections
        if local.connection is not None and local.pool is pool and local.pid == os.getpid():
            return local.connection, False
        local.connection = pool.connection_class(**pool.connection_kwargs)
        local.pool, local.pid = pool, os.getpid()
        return local.connection, True

    def execute(self, raise_on_error: bool = True) -> list[Any]:
        commands, self._commands = self._commands, []
        later = LATER.take()
        if not commands and not later:
            return []
        everything = later + commands
        connection, new = self._connection()
        try:
            try:
                replies = _round_trip(connection, everything)
            except _Unsent:
                # The connection was found closed before any reply (Redis restarted): nothing
                # was done, so the batch goes once more on a new connection.
                if new:
                    raise
                connection, _ = self._connection()
                replies = _round_trip(connection, everything)
        except BaseException:
            LATER.put_back(later)
            raise
        replies = replies[len(later) :]
        if raise_on_error:
            for reply in replies:
                if isinstance(reply, ResponseError):
                    raise reply
        return replies


class _Unsent(RedisConnectionError):
    """A connection that failed before any reply came back."""


def _round_trip(connection: Any, commands: list[tuple[Any, ...]]) -> list[Any]:
    replies: list[Any] = []
    try:
        # (hiredis packs as redis-py does, for a third of its cost)
        connection.send_packed_command([b"".join(map(pack_command, commands))], check_health=False)
        for _ in commands:
            try:
                replies.append(connection.read_response())
            except ResponseError as exc:  # read whole: the connection is still in step
                replies.append(exc)
    except BaseException as exc:
        connection.disconnect()
        _connections.connection = None
        if isinstance(exc, RedisConnectionError) and not replies:
            raise _Unsent(*exc.args) from exc
        raise
    return replies


def batch() -> Batch | None:
    """A ``Batch`` on the default cache's Redis, or None without Redis."""
    found = client()
    return Batch(found) if found is not None else None
