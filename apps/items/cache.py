"""The options cache.

Entries are keyed by tenant, data source (and its ``cache_version``), item (and its
``cache_version``) and a digest of the evaluated request, so any change to a data source or an
item makes its old entries unreachable at once. Only successful upstream answers are stored.

Each answer is written twice: the entry proper, which lives 300 s, and a last-good copy kept 10
minutes longer, served (as ``stale``) only when the upstream fails. A sorted-set index per data
source (score: when fetched) and a set of those indexes let the periodic purge and the
purge-cache action find entries without KEYS or SCAN.

With Redis down, every call goes to the upstream: nothing fails, and it is logged once. Without
Redis at all (the embedded default) entries live in the process's local-memory cache.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
import zlib
from datetime import UTC, datetime
from typing import Any

from django.core.cache import cache

from apps.core import stamps

logger = logging.getLogger("plugboard.cache")

FRESH_SECONDS = 300
STALE_SECONDS = 600
INDEX_ALL = "optidx:all"
PURGE_BATCH = 500

_warned_down = False


class CachedAnswer:
    """A stored answer: when it was fetched, its options (kept serialized, so that a plain
    hit is answered without decoding them) and the list elements the filters read."""

    def __init__(
        self, fetched_at: float, fetched_at_iso: str, options_json: bytes, elements_json: bytes
    ) -> None:
        self.fetched_at = fetched_at
        self.fetched_at_iso = fetched_at_iso
        self.options_json = options_json
        self.elements_json = elements_json

    @property
    def options(self) -> list[dict[str, str]]:
        return json.loads(self.options_json)

    @property
    def elements(self) -> list[Any]:
        return json.loads(self.elements_json)


def iso_time(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, tz=UTC).isoformat().replace("+00:00", "Z")


_redis = stamps.redis_client
_k = stamps.make_key


def _down(exc: Exception) -> None:
    global _warned_down
    if not _warned_down:
        logger.warning(
            "options cache unavailable (%s); calling upstreams directly", type(exc).__name__
        )
        _warned_down = True


def _back_up() -> None:
    global _warned_down
    if _warned_down:
        logger.info("options cache reachable again")
        _warned_down = False


def _encode(fetched_at: float, options: list, elements: list) -> bytes:
    parts = [
        f"{fetched_at!r} {iso_time(fetched_at)}".encode(),
        json.dumps(options, ensure_ascii=False, separators=(",", ":")).encode(),
        json.dumps(elements, ensure_ascii=False, separators=(",", ":")).encode(),
    ]
    return zlib.compress(b"\n".join(parts), 1)


def _decode(blob: bytes | None) -> CachedAnswer | None:
    if not blob:
        return None
    header, options_json, elements_json = zlib.decompress(blob).split(b"\n", 2)
    stamp, iso = header.decode().split(" ", 1)
    return CachedAnswer(float(stamp), iso, options_json, elements_json)


def entry_name(
    *, tenant_id: int, datasource_id: Any, datasource_version: int, item_id: Any,
    item_version: int, digest: str,
) -> str:  # fmt: skip
    return f"{tenant_id}:{datasource_id}:{datasource_version}:{item_id}:{item_version}:{digest}"


def _index_name(datasource_id: Any) -> str:
    return f"optidx:{datasource_id}"


def load(
    name: str, stamp_names: tuple[str, ...] = ()
) -> tuple[CachedAnswer | None, dict[str, str | None] | None]:
    """(fresh entry, current values of ``stamp_names``) in one round trip; (None, None) when
    the cache is down."""
    client = _redis()
    try:
        if client is None:
            return _decode(cache.get(f"opt:{name}")), None
        values = client.mget([_k(f"opt:{name}"), *(_k(s) for s in stamp_names)])
    except Exception as exc:  # Redis down or timing out: degrade to the upstream
        _down(exc)
        return None, None
    if _warned_down:
        _back_up()
    current = {
        stamp: (value.decode() if value is not None else None)
        for stamp, value in zip(stamp_names, values[1:], strict=True)
    }
    return _decode(values[0]), current


def load_stale(name: str) -> CachedAnswer | None:
    """The last-good copy of an entry (read only when the upstream failed)."""
    client = _redis()
    try:
        if client is None:
            return _decode(cache.get(f"stale:{name}"))
        return _decode(client.get(_k(f"stale:{name}")))
    except Exception as exc:
        _down(exc)
        return None


_indexed: dict[str, float] = {}  # index -> when this process last registered it


def _queue_store(pipe: Any, name: str, datasource_id: Any, blob: bytes, fetched_at: float) -> None:
    index = _k(_index_name(datasource_id))
    pipe.set(_k(f"opt:{name}"), blob, ex=FRESH_SECONDS)
    pipe.set(_k(f"stale:{name}"), blob, ex=FRESH_SECONDS + STALE_SECONDS)
    pipe.zadd(index, {name: fetched_at})
    # The index outlives its entries by an hour and is listed once; renewing that at most once a
    # minute per process is plenty, and saves two commands on most stores.
    if fetched_at - _indexed.get(index, 0) > 60:
        pipe.expire(index, FRESH_SECONDS + STALE_SECONDS + 3600)
        pipe.sadd(_k(INDEX_ALL), index)
        _indexed[index] = fetched_at


def store(name: str, datasource_id: Any, options: list, elements: list, fetched_at: float) -> None:
    """Store a successful answer as entry and last-good copy, and index it."""
    blob = _encode(fetched_at, options, elements)
    client = _redis()
    try:
        if client is None:
            cache.set(f"opt:{name}", blob, FRESH_SECONDS)
            cache.set(f"stale:{name}", blob, FRESH_SECONDS + STALE_SECONDS)
            return
        pipe = client.pipeline(transaction=False)
        _queue_store(pipe, name, datasource_id, blob, fetched_at)
        pipe.execute()
    except Exception as exc:
        _down(exc)


def purge_expired(now: float | None = None) -> dict[str, int]:
    """Remove entries older than 300 s and last-good copies past their 10 minutes, and the
    index members and indexes that tracked them. Returns counts."""
    client = _redis()
    counts = {"entries": 0, "stale_copies": 0, "indexes": 0}
    if client is None:
        return counts  # local memory: entries expire by themselves
    now = now or time.time()
    all_key = _k(INDEX_ALL)
    for index in client.sscan_iter(all_key, count=PURGE_BATCH):
        counts_here = _purge_index(client, index, fresh_before=now - FRESH_SECONDS,
                                   stale_before=now - FRESH_SECONDS - STALE_SECONDS)  # fmt: skip
        counts["entries"] += counts_here[0]
        counts["stale_copies"] += counts_here[1]
        if not client.exists(index):
            client.srem(all_key, index)
            counts["indexes"] += 1
    return counts


def _purge_index(client, index, *, fresh_before: float, stale_before: float) -> tuple[int, int]:
    entries = stale = 0
    # Entries older than 300 s: delete the entry; keep the member while its copy may be served.
    start = 0
    while True:
        names = client.zrangebyscore(
            index, "-inf", f"({fresh_before}", start=start, num=PURGE_BATCH
        )
        if not names:
            break
        entries += client.delete(*[_k(f"opt:{n.decode()}") for n in names])
        start += len(names)
    while True:
        names = client.zrangebyscore(index, "-inf", f"({stale_before}", start=0, num=PURGE_BATCH)
        if not names:
            break
        decoded = [n.decode() for n in names]
        stale += client.delete(*[_k(f"stale:{n}") for n in decoded])
        client.zrem(index, *names)
    return entries, stale


def purge_datasource(datasource_id: Any) -> int:
    """Remove every entry of one data source (the purge-cache action); returns how many."""
    client = _redis()
    if client is None:
        return 0
    index = _k(_index_name(datasource_id))
    removed = 0
    try:
        while True:
            names = client.zrange(index, 0, PURGE_BATCH - 1)
            if not names:
                break
            pipe = client.pipeline(transaction=False)
            for name in names:
                pipe.delete(_k(f"opt:{name.decode()}"), _k(f"stale:{name.decode()}"))
            removed += sum(1 for deleted in pipe.execute() if deleted)
            client.zrem(index, *names)
        client.srem(_k(INDEX_ALL), index)
    except Exception as exc:
        _down(exc)
    return removed


# --- single flight ---------------------------------------------------------------------------

_local_flights: dict[str, Any] = {}
_local_flights_lock = threading.Lock()


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


class Flight:
    """One upstream fetch per entry at a time, across processes (Redis) or threads (local)."""

    def __init__(self, name: str, ttl_seconds: float) -> None:
        self.name = name
        self.ttl_ms = int(ttl_seconds * 1000)
        self.token = uuid.uuid4().hex
        self.client = _redis()
        self._local = None
        self._landed = False
        self.leading = False

    @property
    def _lock_key(self) -> str:
        return _k(f"flight:{self.name}")

    def lead_or_fresh(self) -> tuple[CachedAnswer | None, bool]:
        """In one round trip: the entry, if it landed meanwhile; else whether we lead."""
        if self.client is None:
            fresh, _ = load(self.name)
            return (fresh, False) if fresh is not None else (None, self.try_lead())
        try:
            found, value = self.client.eval(
                _LEAD_OR_FRESH, 2, _k(f"opt:{self.name}"), self._lock_key, self.token, self.ttl_ms
            )
        except Exception as exc:  # no coordination without Redis: just go
            _down(exc)
            self.client = None
            return None, True
        if found:
            return _decode(value), False
        self.leading = bool(value)
        return None, self.leading

    def try_lead(self) -> bool:
        if self.client is None:
            with _local_flights_lock:
                lock = _local_flights.setdefault(self.name, threading.Lock())
            if lock.acquire(blocking=False):
                self._local = lock
                self.leading = True
                return True
            return False
        try:
            self.leading = bool(
                self.client.set(self._lock_key, self.token, nx=True, px=self.ttl_ms)
            )
            return self.leading
        except Exception as exc:  # no coordination without Redis: just go
            _down(exc)
            self.client = None
            return True

    def in_progress(self) -> bool:
        if self.client is None:
            lock = _local_flights.get(self.name)
            return bool(lock and lock.locked())
        try:
            return bool(self.client.exists(self._lock_key))
        except Exception:
            return False

    def fail(self, error: dict[str, Any]) -> None:
        """Tell the waiters how the fetch failed (for a few seconds)."""
        blob = json.dumps(error).encode()
        try:
            if self.client is None:
                cache.set(f"flighterr:{self.name}", blob, 5)
            else:
                self.client.set(_k(f"flighterr:{self.name}"), blob, ex=5)
        except Exception as exc:
            _down(exc)

    def failure(self) -> dict[str, Any] | None:
        try:
            if self.client is None:
                blob = cache.get(f"flighterr:{self.name}")
            else:
                blob = self.client.get(_k(f"flighterr:{self.name}"))
        except Exception:
            return None
        return json.loads(blob) if blob else None

    def store_and_land(
        self, datasource_id: Any, options: list, elements: list, fetched_at: float
    ) -> None:
        """Store the answer and release the flight, in one round trip."""
        if self.client is None:
            store(self.name, datasource_id, options, elements, fetched_at)
            self.land()
            return
        try:
            pipe = self.client.pipeline(transaction=False)
            _queue_store(
                pipe, self.name, datasource_id, _encode(fetched_at, options, elements), fetched_at
            )
            pipe.eval(_RELEASE, 1, self._lock_key, self.token)
            pipe.execute()
            self._landed = True
        except Exception as exc:
            _down(exc)

    def land(self) -> None:
        if self._landed:
            return
        self._landed = True
        if self._local is not None:
            self._local.release()
            self._local = None
            with _local_flights_lock:
                lock = _local_flights.get(self.name)
                if lock is not None and not lock.locked():
                    del _local_flights[self.name]
            return
        if self.client is None:
            return
        try:
            self.client.eval(_RELEASE, 1, self._lock_key, self.token)
        except Exception as exc:
            _down(exc)
