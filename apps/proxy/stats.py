"""Per data source call statistics of the proxy, over the last 24 hours: calls, errors by class,
p50/p95 latency.

Kept cheaply: each process adds up its calls in memory and writes them to Redis every few seconds
(one pipeline), into one hash per data source and hour — counters and a latency histogram with
fixed buckets — that expire after a day. Memory is bounded by the number of data sources called
in an hour, not by calls. Without Redis (the embedded default) the counts stay in the process.
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
import time
from collections import Counter, defaultdict
from typing import Any

from apps.core import redis

logger = logging.getLogger("plugboard.proxy")

WINDOW_HOURS = 24
FLUSH_SECONDS = 2.0
# Upper bounds (ms) of the latency histogram's buckets; percentiles are read at bucket bounds.
BUCKETS_MS = (5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000)
# What a call's outcome counts as.
OUTCOMES = ("2xx", "3xx", "4xx", "5xx", "timeout", "unreachable", "blocked", "too_large", "other")
ERRORS = frozenset(OUTCOMES) - {"2xx", "3xx"}

_pending: defaultdict[tuple[str, int], Counter] = defaultdict(Counter)
_local: defaultdict[tuple[str, int], Counter] = defaultdict(Counter)  # no Redis: kept here
_lock = threading.Lock()
_flusher: dict[str, Any] = {}


def _hour(now: float) -> int:
    return int(now // 3600)


def _bucket(elapsed_ms: float) -> str:
    for bound in BUCKETS_MS:
        if elapsed_ms <= bound:
            return f"le{bound}"
    return "inf"


def record(*, datasource_id: Any, outcome: str, elapsed_ms: float) -> None:
    """Count one proxied call (cheap: memory only; written out in the background)."""
    key = (str(datasource_id), _hour(time.time()))
    with _lock:
        counts = _pending[key]
        counts["calls"] += 1
        counts[f"out:{outcome}"] += 1
        counts[f"lat:{_bucket(elapsed_ms)}"] += 1
    _ensure_flusher()


def _ensure_flusher() -> None:
    # One background writer per process (started again in a forked child).
    if _flusher.get("pid") == os.getpid():
        return
    with _lock:
        if _flusher.get("pid") == os.getpid():
            return
        thread = threading.Thread(target=_flush_forever, name="proxy-stats", daemon=True)
        _flusher.update(pid=os.getpid(), thread=thread)
        thread.start()


def _flush_forever() -> None:
    while True:
        time.sleep(FLUSH_SECONDS)
        flush()


def flush() -> None:
    """Write what this process counted since the last flush."""
    with _lock:
        batch = dict(_pending)
        _pending.clear()
    if not batch:
        return
    client = redis.client()
    if client is None:
        with _lock:
            for key, counts in batch.items():
                _local[key].update(counts)
        return
    try:
        pipe = client.pipeline(transaction=False)
        for (datasource_id, hour), counts in batch.items():
            name = redis.key(f"proxystats:{datasource_id}:{hour}")
            for field, count in counts.items():
                pipe.hincrby(name, field, count)
            pipe.expire(name, (WINDOW_HOURS + 1) * 3600)
        pipe.execute()
    except Exception as exc:  # statistics never fail a call; the counts of this batch are lost
        logger.warning("proxy statistics not written (%s)", type(exc).__name__)


atexit.register(flush)


def _percentile(histogram: Counter, total: int, fraction: float) -> float | None:
    if not total:
        return None
    wanted, seen = fraction * total, 0
    for bound in BUCKETS_MS:
        seen += histogram.get(f"lat:le{bound}", 0)
        if seen >= wanted:
            return float(bound)
    return float(BUCKETS_MS[-1])


def stats_for(*, datasource_id: Any, now: float | None = None) -> dict[str, Any]:
    """The last 24 hours of one data source (this process's pending counts included)."""
    flush()
    now = time.time() if now is None else now
    hours = [_hour(now) - offset for offset in range(WINDOW_HOURS)]
    totals: Counter = Counter()
    client = redis.client()
    if client is None:
        with _lock:
            for hour in hours:
                totals.update(_local.get((str(datasource_id), hour), Counter()))
    else:
        pipe = client.pipeline(transaction=False)
        for hour in hours:
            pipe.hgetall(redis.key(f"proxystats:{datasource_id}:{hour}"))
        for values in pipe.execute():
            totals.update({k.decode(): int(v) for k, v in values.items()})
    calls = totals.get("calls", 0)
    by_class = {name: totals.get(f"out:{name}", 0) for name in OUTCOMES}
    return {
        "window_hours": WINDOW_HOURS,
        "calls": calls,
        "errors": sum(count for name, count in by_class.items() if name in ERRORS),
        "by_class": by_class,
        "latency_ms": {
            "p50": _percentile(totals, calls, 0.50),
            "p95": _percentile(totals, calls, 0.95),
        },
    }
