"""Slots: at most ``limit`` things at once for one owner, across every process (Redis).

A slot is a member of a sorted set scored by when it lapses, so a process that dies holding one
holds it no longer than ``hold`` seconds. A take adds the slot and counts the set in one
transaction (MULTI/EXEC): a taker that counted no more than ``limit`` holds a slot, so no more
than ``limit`` are ever held at once. One that counted more takes itself out and tries a script
that drops the lapsed slots, counts and adds only when one is free; waiting takers poll with
that script (exact: no taker is refused a slot that is free). The first take rides in a round
trip the caller sends anyway where there is one (``Taking``); a slot given back after its call
goes with the process's next round trip (``redis.LATER``): under load, giving back costs no
round trip of its own, and a slot is free again a few milliseconds after its call ended at
most. A take that was refused before its call gives its slot back at once.

Without Redis, or when Redis fails, nothing is counted: the cap must not take the service down
with the cache.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Sequence
from typing import Any

from apps.core import redis

logger = logging.getLogger("plugboard.slots")
OUTAGE = redis.Outage(
    logger,
    failed="concurrency caps not counted: the shared cache cannot be reached (%s)",
    recovered="concurrency caps are counted again",
)

POLL = 0.05
# A set of slots expires this long after its last renewal (its members lapse by their scores:
# the expiry only removes sets nobody uses); a process renews it at most every RENEW_EXPIRY.
SET_TTL = 3600
RENEW_EXPIRY = 30.0

_EXACT_TAKE = """
redis.call('zremrangebyscore', KEYS[1], '-inf', ARGV[1])
if redis.call('zcard', KEYS[1]) >= tonumber(ARGV[3]) then return 0 end
redis.call('zadd', KEYS[1], ARGV[2], ARGV[4])
redis.call('expire', KEYS[1], ARGV[5])
return 1
"""


class Full(Exception):
    """No slot came free in time."""


_renewed: dict[str, float] = {}


def _queue_take(pipe: Any, key: str, *, hold: float, token: str) -> int:
    """Add a take to ``pipe``; how many replies it will have."""
    pipe.multi().zadd(key, time.time() + hold, token).zcard(key).exec()
    now = time.monotonic()
    if now - _renewed.get(key, -RENEW_EXPIRY) < RENEW_EXPIRY:
        return 4
    if len(_renewed) > 10_000:
        _renewed.clear()
    _renewed[key] = now
    pipe.expire(key, SET_TTL)
    return 5


def _exact_take(client: Any, key: str, *, limit: int, hold: float, token: str,
                first: bool = False) -> bool:  # fmt: skip
    """The script's take (see the module docstring); ``first``: take out the member a quick
    take added, in the same round trip."""
    batch = redis.Batch(client)
    if first:
        batch.zrem(key, token)
    now = time.time()
    batch.eval(_EXACT_TAKE, 1, key, now, now + hold, limit, token, SET_TTL)
    reply = batch.execute()[-1]
    return reply == 1


def _took(replies: Sequence[Any], key: str, *, limit: int, hold: float, token: str) -> bool:
    """Whether the take whose ``replies`` these are holds a slot (past the limit: the exact
    take's answer). Failures are raised."""
    for reply in replies:
        if isinstance(reply, Exception):
            raise reply
    count = replies[3][1]
    if count == 1 and len(replies) == 4:
        redis.LATER.add("EXPIRE", key, SET_TTL)  # a set made anew (Redis restarted)
    if count <= limit:
        return True
    return _exact_take(redis.client(), key, limit=limit, hold=hold, token=token, first=True)


def _give_back_now(key: str, token: str) -> None:
    try:
        found = redis.batch()
        if found is not None:
            found.zrem(key, token).execute()
    except Exception:
        redis.LATER.add("ZREM", key, token)


class Taking:
    """One slot of ``name`` asked for in a round trip the caller sends anyway: ``queue`` adds
    the take, ``read`` takes its replies. ``Slot(..., taking=it)`` then holds the slot if it
    was taken, or waits for one as usual; one never handed to ``Slot`` (the call was refused
    first) must be given back (``give_back``)."""

    def __init__(self, name: str, *, limit: int, hold: float) -> None:
        self.key = redis.key(f"slots:{name}")
        self.limit = limit
        self.hold = hold
        self.token = os.urandom(12).hex()
        self.taken = False
        self._queued = 0
        self._unsure = False  # sent, and what it did is not known

    def __len__(self) -> int:
        return self._queued

    def queue(self, pipe: Any) -> None:
        if self.limit > 0:
            self._queued = _queue_take(pipe, self.key, hold=self.hold, token=self.token)
            self._unsure = True

    def read(self, results: Sequence[Any]) -> None:
        if self.limit <= 0 or len(results) != self._queued:
            return
        try:
            self.taken = _took(results, self.key, limit=self.limit, hold=self.hold,
                               token=self.token)  # fmt: skip
            self._unsure = False
        except Exception:  # not known: given back (``give_back``), and ``Slot`` asks again
            self.taken = False

    def adopt(self) -> str | None:
        """The token of the slot taken, now held by the caller (None: none was taken)."""
        if self._unsure:
            redis.LATER.add("ZREM", self.key, self.token)  # (it may have been added)
            self._unsure = False
        if not self.taken:
            return None
        self.taken = False
        return self.token

    def give_back(self) -> None:
        """Give back at once what was taken (and not handed to ``Slot``)."""
        unsure = self._unsure
        self._unsure = False
        if self.taken or unsure:
            self.taken = False
            _give_back_now(self.key, self.token)


def _take(client: Any, key: str, *, limit: int, hold: float, token: str) -> bool:
    batch = redis.Batch(client)
    _queue_take(batch, key, hold=hold, token=token)
    replies = batch.execute(raise_on_error=False)
    return _took(replies, key, limit=limit, hold=hold, token=token)


class Slot:
    """Hold one of ``limit`` slots of ``name`` (waiting up to ``wait`` seconds for one; Full
    when none came free). ``taking``: a take already asked for in the caller's round trip.
    A plain context manager: one is entered for every upstream call."""

    __slots__ = ("_key", "_token", "hold", "limit", "name", "taking", "wait")

    def __init__(
        self, name: str, *, limit: int, hold: float, wait: float, taking: Taking | None = None
    ) -> None:
        self.name, self.limit, self.hold, self.wait, self.taking = name, limit, hold, wait, taking
        self._key: str | None = None  # set while a slot is held
        self._token = ""

    def __enter__(self) -> None:
        client = redis.client()
        taking = self.taking
        adopted = taking.adopt() if taking is not None else None
        if client is None or self.limit <= 0:
            if adopted is not None and client is not None:
                redis.LATER.add("ZREM", taking.key, adopted)  # (the limit went meanwhile)
            return
        key = redis.key(f"slots:{self.name}")
        if adopted is not None and taking.key == key:
            self._key, self._token = key, adopted
            return
        if adopted is not None:
            redis.LATER.add("ZREM", taking.key, adopted)
        token = os.urandom(12).hex()
        give_up = time.monotonic() + self.wait
        take = _take
        while True:
            try:
                taken = take(client, key, limit=self.limit, hold=self.hold, token=token)
            except Exception as exc:
                OUTAGE.failed(exc)
                redis.LATER.add("ZREM", key, token)  # (it may have been added)
                return  # counted nowhere: go on
            if OUTAGE.down:
                OUTAGE.worked()
            if taken:
                self._key, self._token = key, token
                return
            if time.monotonic() >= give_up:
                raise Full()
            time.sleep(POLL)
            take = _exact_take

    def __exit__(self, *exc: object) -> None:
        if self._key is not None:
            redis.LATER.add("ZREM", self._key, self._token)
            self._key = None
