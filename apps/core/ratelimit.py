"""Rate limits: requests counted per minute in Redis, shared by every process.

Each limit is a fixed one-minute window counter (``INCR`` and ``EXPIRE`` of a key naming the
minute). Counting costs no round trip of its own where the caller already talks to Redis: the
commands ride in the caller's pipeline (``Counting.queue``) and the counts are checked after
(``Counting.check``); ``count`` is the same with a round trip of its own.

Why not the ``limits`` library: it sends one round trip per limit, and the options endpoint
answers a cached hit in one round trip in all (two limits would make it three).

Without Redis (the embedded default) nothing is counted, and when Redis fails the requests go
through: a rate limit must not take the service down with the cache.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from apps.core import redis
from apps.core.codes import ErrorCode
from apps.core.errors import ApplicationError

logger = logging.getLogger("plugboard.ratelimit")
OUTAGE = redis.Outage(
    logger,
    failed="rate limits not counted: the shared cache cannot be reached (%s)",
    recovered="rate limits are counted again",
)

WINDOW = 60  # seconds


@dataclass(frozen=True)
class Quota:
    """At most ``limit`` requests a minute for ``subject`` (0: no limit)."""

    scope: str  # what is counted, e.g. "options:key"
    subject: object  # whose, e.g. the API key's id
    limit: int
    who: str  # for the message, e.g. "this API key"
    what: str  # e.g. "options calls"

    def key(self, window: int) -> str:
        return redis.key(f"rl:{self.scope}:{self.subject}:{window}")


class RateLimited(ApplicationError):
    code = ErrorCode.RATE_LIMITED
    status = 429

    def __init__(self, quota: Quota, retry_after: int) -> None:
        super().__init__(
            f"Too many requests: {quota.who} may make {quota.limit:,} {quota.what} a minute. "
            f"Try again in {retry_after} s.",
            details={
                "limit": quota.limit,
                "window_seconds": WINDOW,
                "scope": quota.scope,
                "retry_after": retry_after,
            },
            headers={"Retry-After": str(retry_after)},
        )


# The counters this process has set to expire, in the window it did so: each is sent its
# EXPIRE once per window and process, not with every count.
_expiring: dict[str, int] = {}


class Counting:
    """One request counted against ``quotas`` (those with a limit)."""

    def __init__(self, quotas: Iterable[Quota]) -> None:
        self.quotas = [quota for quota in quotas if quota.limit > 0]
        now = time.time()
        self.window = int(now // WINDOW)
        self.retry_after = max(math.ceil(WINDOW - now % WINDOW), 1)
        self._queued: list[tuple[str, bool]] = []  # (key, whether its EXPIRE went along)

    def __bool__(self) -> bool:
        """Whether there is anything to count (nothing once counted: a request counts once)."""
        return bool(self.quotas) and not hasattr(self, "counts")

    def __len__(self) -> int:
        """How many commands ``queue`` added (ask after it: it decides which go along)."""
        return sum(2 if expiring else 1 for _, expiring in self._queued)

    def queue(self, pipe: Any) -> None:
        self._queued = []
        if hasattr(self, "counts"):
            return
        for quota in self.quotas:
            key = quota.key(self.window)
            pipe.incr(key)
            expiring = _expiring.get(key) != self.window
            if expiring:
                if len(_expiring) > 10_000:
                    _expiring.clear()
                _expiring[key] = self.window
                pipe.expire(key, WINDOW + 5)
            self._queued.append((key, expiring))

    def read(self, results: Sequence[Any]) -> None:
        """Take the results of the commands ``queue`` added (in order)."""
        counts, at = [], 0
        for key, expiring in self._queued:
            count = results[at] if at < len(results) else None
            counts.append(count)
            at += 2 if expiring else 1
            if count == 1 and not expiring:
                # Made anew though this process had set it to expire (Redis restarted).
                redis.LATER.add("EXPIRE", key, WINDOW + 5)
        self.counts = counts

    def check(self) -> None:
        """Raise RateLimited for the first quota the counts read exceed (nothing read: the
        counts could not be taken, and the request goes through)."""
        for quota, count in zip(self.quotas, getattr(self, "counts", ()), strict=False):
            if isinstance(count, int) and count > quota.limit:
                raise RateLimited(quota, self.retry_after)


def count(quotas: Iterable[Quota]) -> None:
    """Count one request against ``quotas`` (one round trip); RateLimited past a limit."""
    counting = Counting(quotas)
    client = redis.client()
    if client is None or not counting.quotas:
        return
    try:
        pipe = redis.Batch(client)
        counting.queue(pipe)
        results = pipe.execute()
    except Exception as exc:
        OUTAGE.failed(exc)
        return
    if OUTAGE.down:
        OUTAGE.worked()
    counting.read(results)
    counting.check()
