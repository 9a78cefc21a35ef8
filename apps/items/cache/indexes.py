"""Per-data-source indexes of the entries, so that the periodic purge and the purge of one data
source find them without KEYS or SCAN: a sorted set per data source (member: the entry's name,
score: when it was fetched) and a set of those indexes. Without Redis there is nothing to purge:
local-memory entries expire by themselves."""

from __future__ import annotations

import secrets
import time
from typing import Any

from apps.core import redis
from apps.core.stamps import StampUnavailable
from apps.items.cache import OUTAGE, keys, quota

PURGE_BATCH = 500

_registered: dict[str, float] = {}  # index -> when this process last renewed and listed it


def queue_index(pipe: Any, datasource_id: Any, name: str, fetched_at: float) -> None:
    """Add the entry ``name`` to its data source's index, in a Redis pipeline."""
    index = redis.key(keys.index(datasource_id))
    pipe.zadd(index, {name: fetched_at})
    # Renewing the index and listing it at most once a minute per process is plenty, and saves
    # two commands on most stores.
    if fetched_at - _registered.get(index, 0) > 60:
        pipe.expire(index, keys.INDEX_SECONDS)
        pipe.sadd(redis.key(keys.INDEX_ALL), index)
        _registered[index] = fetched_at


def purge_expired(now: float | None = None) -> dict[str, int]:
    """Remove entries older than 300 s and last-good copies past their 10 minutes, and the
    index members and indexes that tracked them. Returns counts."""
    counts = {"entries": 0, "stale_copies": 0, "indexes": 0}
    client = redis.client()
    if client is None:
        return counts
    now = now or time.time()
    all_key = redis.key(keys.INDEX_ALL)
    for index in client.sscan_iter(all_key, count=PURGE_BATCH):
        fresh_before = now - keys.FRESH_SECONDS
        stale_before = fresh_before - keys.STALE_SECONDS
        entries, stale = _purge_index(
            client, index, fresh_before=fresh_before, stale_before=stale_before
        )
        counts["entries"] += entries
        counts["stale_copies"] += stale
        if not client.exists(index):
            client.srem(all_key, index)
            counts["indexes"] += 1
    counts["counted"] = quota.expire_counted(client, now - keys.FRESH_SECONDS - keys.STALE_SECONDS)
    return counts


def _purge_index(
    client: Any, index: bytes, *, fresh_before: float, stale_before: float
) -> tuple[int, int]:
    entries = stale = 0
    # Entries older than 300 s: delete the entry; keep the member while its copy may be served.
    start = 0
    while True:
        names = client.zrangebyscore(
            index, "-inf", f"({fresh_before}", start=start, num=PURGE_BATCH
        )
        if not names:
            break
        entries += client.delete(*[redis.key(keys.entry(n.decode())) for n in names])
        start += len(names)
    while True:
        names = client.zrangebyscore(index, "-inf", f"({stale_before}", start=0, num=PURGE_BATCH)
        if not names:
            break
        stale += client.delete(*[redis.key(keys.stale(n.decode())) for n in names])
        client.zrem(index, *names)
    return entries, stale


def purge_datasource(datasource_id: Any, *, free: bool = True, pipeline: Any = None) -> int:
    """Make every entry of one data source a miss at once (its purge stamp moves; raises
    StampUnavailable when it cannot) and, with ``free``, delete them now rather than at
    expiry; returns how many were deleted. Given a ``pipeline`` (and not ``free``), the stamp
    is moved by the pipeline's caller, in its own round trip."""
    client = redis.client()
    if client is None:
        return 0
    if pipeline is not None and not free:
        pipeline.set(redis.key(keys.purge_stamp(datasource_id)), secrets.token_hex(8))
        return 0
    try:
        client.set(redis.key(keys.purge_stamp(datasource_id)), secrets.token_hex(8))
    except Exception as exc:
        OUTAGE.failed(exc)
        raise StampUnavailable() from exc
    if not free:
        return 0
    index = redis.key(keys.index(datasource_id))
    removed = 0
    try:
        while True:
            names = client.zrange(index, 0, PURGE_BATCH - 1)
            if not names:
                break
            pipe = client.pipeline(transaction=False)
            for name in names:
                decoded = name.decode()
                pipe.delete(redis.key(keys.entry(decoded)), redis.key(keys.stale(decoded)))
            removed += sum(1 for deleted in pipe.execute() if deleted)
            client.zrem(index, *names)
        client.srem(redis.key(keys.INDEX_ALL), index)
    except Exception as exc:
        OUTAGE.failed(exc)
    return removed
