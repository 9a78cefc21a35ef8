"""Slots: at most ``limit`` things at once for one owner, across every process (Redis).

A slot is a member of a sorted set scored by when it lapses, so a process that dies holding one
holds it no longer than ``hold`` seconds. A take adds the slot, then counts: a taker that
counts more than the limit drops the lapsed slots and counts again, and backs out if it is
still past it. Of the slots held at any moment, the last to be counted saw them all, so no more
than ``limit`` are ever held at once (two takers racing for the last one may both back out, and
try again after ``POLL``). A take rides in a round trip the caller sends anyway where there is
one (``Taking``), else it is a round trip of its own; a slot given back goes with the next round
trip (``redis.LATER``): under load, giving back costs no round trip of its own, and a slot is
free again a few milliseconds after its call ended at most.

Without Redis, or when Redis fails, nothing is counted: the cap must not take the service down
with the cache.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from collections.abc import Iterator, Sequence
from typing import Any

from apps.core import redis

logger = logging.getLogger("plugboard.slots")
OUTAGE = redis.Outage(
    logger,
    failed="concurrency caps not counted: the shared cache cannot be reached (%s)",
    recovered="concurrency caps are counted again",
)

POLL = 0.05
# How often a process renews the expiry of a set it takes slots of (the set outlives its last
# slot by its hold and a minute).
RENEW_EXPIRY = 30.0


class Full(Exception):
    """No slot came free in time."""


_renewed: dict[str, float] = {}


def _queue_take(pipe: Any, key: str, *, hold: float, token: str) -> int:
    """Add a take to ``pipe``; how many commands it added."""
    now = time.time()
    pipe.zadd(key, now + hold, token)
    pipe.zcard(key)
    if time.monotonic() - _renewed.get(key, -RENEW_EXPIRY) < RENEW_EXPIRY:
        return 2
    if len(_renewed) > 10_000:
        _renewed.clear()
    _renewed[key] = time.monotonic()
    pipe.expire(key, int(hold) + 60)
    return 3


def _took(replies: Sequence[Any], key: str, *, limit: int, hold: float, token: str) -> bool:
    """Whether the take whose ``replies`` these are got the slot. One past the limit drops
    the lapsed slots and counts again; if still past it, it backs out at once (it would count
    against the others). Failures are raised."""
    for reply in replies:
        if isinstance(reply, Exception):
            raise reply
    count = replies[1]
    if count == 1 and len(replies) == 2:
        redis.LATER.add("EXPIRE", key, int(hold) + 60)  # a set made anew (Redis restarted)
    if count <= limit:
        return True
    batch = redis.Batch(redis.client())
    batch.zremrangebyscore(key, "-inf", time.time()).zcard(key)
    if batch.execute()[1] <= limit:
        return True
    batch.zrem(key, token).execute()
    return False


class Taking:
    """One slot of ``name`` asked for in a round trip the caller sends anyway: ``queue`` adds
    the take, ``read`` takes its replies. ``slot(..., taking=it)`` then holds the slot if it
    was taken, or waits for one as usual; a slot taken but never handed to ``slot`` must be
    given back (``give_back``)."""

    def __init__(self, name: str, *, limit: int, hold: float) -> None:
        self.key = redis.key(f"slots:{name}")
        self.limit = limit
        self.hold = hold
        self.token = os.urandom(12).hex()
        self.taken = False
        self._queued = 0

    def __len__(self) -> int:
        return self._queued

    def queue(self, pipe: Any) -> None:
        if self.limit > 0:
            self._queued = _queue_take(pipe, self.key, hold=self.hold, token=self.token)

    def read(self, results: Sequence[Any]) -> None:
        if self.limit <= 0 or len(results) != self._queued:
            return
        try:
            self.taken = _took(results, self.key, limit=self.limit, hold=self.hold,
                               token=self.token)  # fmt: skip
        except Exception:  # not taken (and added at most): ``slot`` asks again
            redis.LATER.add("ZREM", self.key, self.token)
            self.taken = False

    def adopt(self) -> str | None:
        """The token of the slot taken, now held by the caller (None: none was taken)."""
        if not self.taken:
            return None
        self.taken = False
        return self.token

    def give_back(self) -> None:
        token = self.adopt()
        if token is not None:
            redis.LATER.add("ZREM", self.key, token)


def _take(client: Any, key: str, *, limit: int, hold: float, token: str) -> bool:
    batch = redis.Batch(client)
    _queue_take(batch, key, hold=hold, token=token)
    replies = batch.execute(raise_on_error=False)
    return _took(replies, key, limit=limit, hold=hold, token=token)


@contextlib.contextmanager
def slot(
    name: str, *, limit: int, hold: float, wait: float, taking: Taking | None = None
) -> Iterator[None]:
    """Hold one of ``limit`` slots of ``name`` (waiting up to ``wait`` seconds for one; Full
    when none came free). ``taking``: a take already asked for in the caller's round trip."""
    client = redis.client()
    adopted = taking.adopt() if taking is not None else None
    if client is None or limit <= 0:
        if adopted is not None and client is not None:
            redis.LATER.add("ZREM", taking.key, adopted)  # (the limit went meanwhile)
        yield
        return
    key = redis.key(f"slots:{name}")
    if adopted is not None and taking.key == key:
        token, taken = adopted, True
    else:
        if adopted is not None:
            redis.LATER.add("ZREM", taking.key, adopted)
        token, taken = os.urandom(12).hex(), False
    give_up = time.monotonic() + wait
    while not taken:
        try:
            taken = _take(client, key, limit=limit, hold=hold, token=token)
        except Exception as exc:
            OUTAGE.failed(exc)
            break  # counted nowhere: go on
        if OUTAGE.down:
            OUTAGE.worked()
        if taken or time.monotonic() >= give_up:
            break
        time.sleep(POLL)
    if not taken and not OUTAGE.down:
        raise Full()
    try:
        yield
    finally:
        if taken:
            redis.LATER.add("ZREM", key, token)
