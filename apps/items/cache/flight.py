"""Single flight: one upstream fetch per entry at a time, across processes (a lock in Redis) or,
without Redis, across this process's threads. The others wait for the leader's answer, or for its
failure, instead of calling too; with Redis down there is no coordination, and everyone calls.

    with flight_for(name, ttl_seconds=30) as flight:
        joined = flight.join()  # an answer, the leader's Failure, or None: fetch it yourself
        ...
        flight.land(...)  # or flight.fail(...)
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from dataclasses import asdict, dataclass, field
from types import TracebackType
from typing import Any

from django.core.cache import cache

from apps.core import redis
from apps.core.errors import ApplicationError
from apps.items.cache import OUTAGE, backend, keys, quota
from apps.items.cache.backend import CachedAnswer
from apps.outbound.errors import UpstreamTimeout

# How often a waiter looks whether the answer landed.
WAIT_STEP = 0.02

_LEAD_OR_FRESH = """
local fresh = redis.call('get', KEYS[1])
if fresh then return {1, fresh} end
if redis.call('set', KEYS[2], ARGV[1], 'NX', 'PX', ARGV[2]) then return {0, 1} end
return {0, 0}
"""
_RELEASE = """
if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end
return 0
"""


@dataclass(frozen=True)
class Failure:
    """How the leader's fetch failed, as its waiters report it."""

    code: str
    status: int
    message: str
    details: dict[str, Any] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)
    # Whether a last-good answer may stand in for it.
    stale_ok: bool = False

    @classmethod
    def of(cls, exc: ApplicationError, *, stale_ok: bool) -> Failure:
        return cls(exc.code, exc.status, exc.message, exc.details, exc.headers, stale_ok)

    def error(self) -> ApplicationError:
        return ApplicationError(self.message, code=self.code, status=self.status,
                                details=self.details, headers=self.headers)  # fmt: skip


class Flight:
    """A request's part in fetching one entry: ``join`` says whether it leads. An entry counts
    as there only when it was written under ``purge_stamp`` (the data source's purge stamp as
    the request read it); what lands is written under it."""

    def __init__(self, name: str, *, ttl_seconds: float, wait_seconds: float | None = None,
                 purge_stamp: str | None = None) -> None:  # fmt: skip
        self.name = name
        self.ttl_seconds = ttl_seconds
        # A waiter waits no longer than its own request may take (the item's timeout).
        self.wait_seconds = ttl_seconds if wait_seconds is None else wait_seconds
        self.purge_stamp = purge_stamp

    def __enter__(self) -> Flight:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.release()

    def join(self) -> CachedAnswer | Failure | None:
        """The answer, if it landed meanwhile (also while waiting for the leader); the leader's
        failure, or a timeout once this request waited as long as it may; or None: this
        request leads, and fetches."""
        fresh, leading = self._lead_or_fresh()
        if fresh is not None:
            return fresh
        deadline = time.monotonic() + self.wait_seconds
        while not leading:
            time.sleep(WAIT_STEP)
            fresh, in_progress, failure = self._look()
            if fresh is not None:
                return fresh
            if not in_progress:
                if failure is not None:
                    return failure
                fresh, leading = self._lead_or_fresh()
                if fresh is not None:
                    return fresh
            if time.monotonic() > deadline:
                # The leader is slow or stuck: this request's own time is up (a last-good
                # answer may stand in, as for any timeout).
                return Failure.of(WaitedTooLong(), stale_ok=True)
        return None

    def _lead_or_fresh(self) -> tuple[CachedAnswer | None, bool]:
        """The answer, if it landed; else whether this request now leads."""
        raise NotImplementedError

    def _look(self) -> tuple[CachedAnswer | None, bool, Failure | None]:
        """(the answer, whether a leader is fetching, how the last fetch failed)."""
        raise NotImplementedError

    def fail(self, failure: Failure) -> None:
        """Tell the waiters how the fetch failed (for a few seconds)."""
        raise NotImplementedError

    def land(
        self, datasource_id: Any, options: list[Any], elements: list[Any], fetched_at: float,
        tenant_id: Any = None, cache_limit: int = 0,
    ) -> None:  # fmt: skip
        """Store the answer (counted against its tenant's ``cache_limit`` bytes, the oldest
        entries evicted past it) and release the flight."""
        raise NotImplementedError

    def release(self) -> None:
        raise NotImplementedError


def _failure(blob: bytes | None) -> Failure | None:
    return Failure(**json.loads(blob)) if blob else None


class WaitedTooLong(UpstreamTimeout):
    message = "The data source did not answer in time (another request was already asking it)."


class _RedisFlight(Flight):
    def __init__(self, name: str, *, ttl_seconds: float, client: Any,
                 wait_seconds: float | None = None, purge_stamp: str | None = None) -> None:  # fmt: skip
        super().__init__(name, ttl_seconds=ttl_seconds, wait_seconds=wait_seconds,
                         purge_stamp=purge_stamp)  # fmt: skip
        self.client = client
        self.token = uuid.uuid4().hex
        self.holding = False
        self.lock_key = redis.key(keys.flight(name))

    def _lead_or_fresh(self) -> tuple[CachedAnswer | None, bool]:
        try:
            found, value = self.client.eval(
                _LEAD_OR_FRESH, 2, redis.key(keys.entry(self.name)), self.lock_key, self.token,
                int(self.ttl_seconds * 1000),
            )  # fmt: skip
        except Exception as exc:  # no coordination without Redis: just go
            OUTAGE.failed(exc)
            return None, True
        if found:
            fresh = backend.current_answer(value, self.purge_stamp)
            if fresh is not None:
                return fresh, False
            return None, self._lead()  # written before the last purge: fetch again
        self.holding = bool(value)
        return None, self.holding

    def _lead(self) -> bool:
        try:
            self.holding = bool(
                self.client.set(self.lock_key, self.token, nx=True, px=int(self.ttl_seconds * 1000))
            )
        except Exception as exc:
            OUTAGE.failed(exc)
            return True
        return self.holding

    def _look(self) -> tuple[CachedAnswer | None, bool, Failure | None]:
        try:
            fresh, lock, failure = self.client.mget(
                redis.key(keys.entry(self.name)), self.lock_key, redis.key(keys.failure(self.name))
            )
        except Exception as exc:
            OUTAGE.failed(exc)
            return None, False, None
        return backend.current_answer(fresh, self.purge_stamp), lock is not None, _failure(failure)

    def fail(self, failure: Failure) -> None:
        blob = json.dumps(asdict(failure)).encode()
        try:
            self.client.set(redis.key(keys.failure(self.name)), blob, ex=keys.FAILURE_SECONDS)
        except Exception as exc:
            OUTAGE.failed(exc)

    def land(
        self, datasource_id: Any, options: list[Any], elements: list[Any], fetched_at: float,
        tenant_id: Any = None, cache_limit: int = 0,
    ) -> None:  # fmt: skip
        blob = backend.encode(fetched_at, options, elements, self.purge_stamp)
        try:
            pipe = self.client.pipeline(transaction=False)
            if tenant_id is not None and cache_limit > 0:
                quota.queue_add(pipe, tenant_id, self.name, 2 * len(blob), fetched_at)
            backend.queue_store(pipe, self.name, datasource_id, blob, fetched_at)
            if self.holding:
                pipe.eval(_RELEASE, 1, self.lock_key, self.token)
            results = pipe.execute()
            self.holding = False
        except Exception as exc:
            OUTAGE.failed(exc)
            return
        if tenant_id is not None and cache_limit > 0 and int(results[0]) > cache_limit:
            quota.evict(self.client, tenant_id, cache_limit)

    def release(self) -> None:
        if not self.holding:
            return
        self.holding = False
        try:
            self.client.eval(_RELEASE, 1, self.lock_key, self.token)
        except Exception as exc:
            OUTAGE.failed(exc)


_local_locks: dict[str, threading.Lock] = {}
_local_locks_guard = threading.Lock()


class _LocalFlight(Flight):
    def __init__(self, name: str, *, ttl_seconds: float, wait_seconds: float | None = None,
                 purge_stamp: str | None = None) -> None:  # fmt: skip
        super().__init__(name, ttl_seconds=ttl_seconds, wait_seconds=wait_seconds,
                         purge_stamp=purge_stamp)  # fmt: skip
        self.lock: threading.Lock | None = None

    def _lead_or_fresh(self) -> tuple[CachedAnswer | None, bool]:
        fresh = backend.decode(cache.get(keys.entry(self.name)))
        if fresh is not None:
            return fresh, False
        with _local_locks_guard:
            lock = _local_locks.setdefault(self.name, threading.Lock())
        if lock.acquire(blocking=False):
            self.lock = lock
        return None, self.lock is not None

    def _look(self) -> tuple[CachedAnswer | None, bool, Failure | None]:
        lock = _local_locks.get(self.name)
        fresh = backend.decode(cache.get(keys.entry(self.name)))
        return fresh, bool(lock and lock.locked()), _failure(cache.get(keys.failure(self.name)))

    def fail(self, failure: Failure) -> None:
        blob = json.dumps(asdict(failure)).encode()
        cache.set(keys.failure(self.name), blob, keys.FAILURE_SECONDS)

    def land(
        self, datasource_id: Any, options: list[Any], elements: list[Any], fetched_at: float,
        tenant_id: Any = None, cache_limit: int = 0,
    ) -> None:  # fmt: skip
        # (The local-memory cache of a single process bounds itself: no tenant accounting.)
        backend.store(self.name, datasource_id, options, elements, fetched_at)
        self.release()

    def release(self) -> None:
        if self.lock is None:
            return
        self.lock.release()
        self.lock = None
        with _local_locks_guard:
            lock = _local_locks.get(self.name)
            if lock is not None and not lock.locked():
                del _local_locks[self.name]


def flight_for(name: str, *, ttl_seconds: float, wait_seconds: float | None = None,
               purge_stamp: str | None = None) -> Flight:  # fmt: skip
    """This request's part in fetching the entry ``name``; a leader holds the flight at most
    ``ttl_seconds``; a waiter waits at most ``wait_seconds`` (then it times out)."""
    client = redis.client()
    if client is None:
        return _LocalFlight(name, ttl_seconds=ttl_seconds, wait_seconds=wait_seconds)
    return _RedisFlight(name, ttl_seconds=ttl_seconds, client=client, wait_seconds=wait_seconds,
                        purge_stamp=purge_stamp)  # fmt: skip
