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

    def __init__(self, fetched_at: float, options_json: bytes, elements_json: bytes) -> None:
        self.fetched_at = fetched_at
        self.options_json = options_json
        self.elements_json = elements_json

    @property
    def age(self) -> float:
        return time.time() - self.fetched_at

    @property
    def options(self) -> list[dict[str, str]]:
        return json.loads(self.options_json)

    @property
    def elements(self) -> list[Any]:
        return json.loads(self.elements_json)


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
        repr(fetched_at).encode(),
        json.dumps(options, ensure_ascii=False, separators=(",", ":")).encode(),
        json.dumps(elements, ensure_ascii=False, separators=(",", ":")).encode(),
    ]
    return zlib.compress(b"\n".join(parts), 1)


def _decode(blob: bytes | None) -> CachedAnswer | None:
    if not blob:
        return None
    stamp, options_json, elements_json = zlib.decompress(blob).split(b"\n", 2)
    return CachedAnswer(float(stamp), options_json, elements_json)


def entry_name(
    *, tenant_id: int, datasource_id: Any, datasource_version: int, item_id: Any,
    item_version: int, digest: str,
) -> str:  # fmt: skip
    return f"{tenant_id}:{datasource_id}:{datasource_version}:{item_id}:{item_version}:{digest}"


def _index_name(datasource_id: Any) -> str:
    return f"optidx:{datasource_id}"


def load(
    name: str, stamp_names: tuple[str, ...] = ()
) -> tuple[CachedAnswer | None, dict[str, str] | None]:
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
        stamp: (value.decode() if value is not None else "0")
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


def store(name: str, datasource_id: Any, options: list, elements: list, fetched_at: float) -> None:
    """Store a successful answer as entry and last-good copy, and index it."""
    blob = _encode(fetched_at, options, elements)
    client = _redis()
    try:
        if client is None:
            cache.set(f"opt:{name}", blob, FRESH_SECONDS)
            cache.set(f"stale:{name}", blob, FRESH_SECONDS + STALE_SECONDS)
            return
        index = _k(_index_name(datasource_id))
        pipe = client.pipeline(transaction=False)
        pipe.set(_k(f"opt:{name}"), blob, ex=FRESH_SECONDS)
        pipe.set(_k(f"stale:{name}"), blob, ex=FRESH_SECONDS + STALE_SECONDS)
        pipe.zadd(index, {name: fetched_at})
        pipe.expire(index, FRESH_SECONDS + STALE_SECONDS + 3600)
        pipe.sadd(_k(INDEX_ALL), index)
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


class Flight:
    """One upstream fetch per entry at a time, across processes (Redis) or threads (local)."""

    def __init__(self, name: str, ttl_seconds: float) -> None:
        self.name = name
        self.ttl_ms = int(ttl_seconds * 1000)
        self.token = uuid.uuid4().hex
        self.client = _redis()
        self._local = None

    def try_lead(self) -> bool:
        if self.client is None:
            with _local_flights_lock:
                lock = _local_flights.setdefault(self.name, threading.Lock())
            if lock.acquire(blocking=False):
                self._local = lock
                return True
            return False
        try:
            return bool(
                self.client.set(_k(f"flight:{self.name}"), self.token, nx=True, px=self.ttl_ms)
            )
        except Exception as exc:  # no coordination without Redis: just go
            _down(exc)
            self.client = None
            return True

    def in_progress(self) -> bool:
        if self.client is None:
            lock = _local_flights.get(self.name)
            return bool(lock and lock.locked())
        try:
            return bool(self.client.exists(_k(f"flight:{self.name}")))
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

    def land(self) -> None:
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
            # Delete the lock only if it is still ours.
            self.client.eval(
                "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) "
                "else return 0 end",
                1,
                _k(f"flight:{self.name}"),
                self.token,
            )
        except Exception as exc:
            _down(exc)
