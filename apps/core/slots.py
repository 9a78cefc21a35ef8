"""Slots: at most ``limit`` things at once for one owner, across every process (Redis).

A slot is a member of a sorted set scored by when it lapses, so a process that dies holding one
holds it no longer than ``hold`` seconds. Taking one (see ``_queue_take``) rides in a round
trip the caller sends anyway where there is one (``Taking``), else it is a round trip of its
own. A slot given back is sent with the next
pipeline this process sends to Redis for slots or stamps, or by a background thread within
``FLUSH`` seconds when none goes: under load, giving back costs no round trip of its own, and
a slot is free again a few milliseconds after its call ended at most (at once for a take that
follows in the same process, whose pipeline carries it).

Without Redis, or when Redis fails, nothing is counted: the cap must not take the service down
with the cache.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import os
import threading
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
FLUSH = 0.02  # a slot given back reaches Redis within this long (plus a round trip)


class Full(Exception):
    """No slot came free in time."""


# A take adds the slot, then counts: a taker that counts more than the limit backs out. Of
# the slots held at any moment, the last to be counted saw them all, so no more than ``limit``
# are ever held at once (two takers racing for the last one may both back out, and try again
# after POLL). Lapsed slots are dropped first. Plain commands: a script would cost Redis
# twice the time.
_TAKE_COMMANDS = 4


def _queue_take(pipe: Any, key: str, *, hold: float, token: str) -> None:
    now = time.time()
    pipe.zremrangebyscore(key, "-inf", now)
    pipe.zadd(key, now + hold, token)
    pipe.zcard(key)
    pipe.expire(key, int(hold) + 60)


def _took(client: Any, replies: Sequence[Any], key: str, *, limit: int, token: str) -> bool:
    """Whether the take whose ``replies`` these are got the slot (one that did not is given
    back at once: it would count against the others). Failures are raised."""
    for reply in replies:
        if isinstance(reply, Exception):
            raise reply
    if replies[2] <= limit:
        return True
    client.zrem(key, token)
    return False


class _GivenBack:
    """Slots given back by this process and not yet sent to Redis (see the module docstring)."""

    def __init__(self) -> None:
        self._reset()
        atexit.register(self.flush)

    def _reset(self) -> None:
        self._lock = threading.Lock()
        self._pending: list[tuple[str, str]] = []
        self._due = threading.Event()
        self._thread: threading.Thread | None = None

    def add(self, key: str, token: str) -> None:
        with self._lock:
            self._pending.append((key, token))
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="slots-given-back", daemon=True
                )
                self._thread.start()
            self._due.set()

    def queue(self, pipe: Any) -> int:
        """Add what is pending to ``pipe`` (its first results are theirs); how many."""
        with self._lock:
            pending, self._pending = self._pending, []
        for key, token in pending:
            pipe.zrem(key, token)
        return len(pending)

    def flush(self) -> None:
        with contextlib.suppress(Exception):  # lost: those slots lapse after their hold
            client = redis.client()
            pipe = redis.Batch(client) if client is not None else None
            if pipe is not None and self.queue(pipe):
                pipe.execute()

    def _run(self) -> None:
        while True:
            self._due.wait()
            time.sleep(FLUSH)  # meanwhile, takes of this process may carry them
            with self._lock:
                self._due.clear()
            self.flush()


GIVEN_BACK = _GivenBack()
os.register_at_fork(after_in_child=GIVEN_BACK._reset)


class Taking:
    """One slot of ``name`` asked for in a round trip the caller sends anyway: ``queue`` adds
    the take (and the slots this process gave back), ``read`` takes its replies. ``slot(...,
    taking=it)`` then holds the slot if it was taken, or waits for one as usual; a slot taken
    but never handed to ``slot`` must be given back (``give_back``)."""

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
        self._queued = GIVEN_BACK.queue(pipe)
        if self.limit > 0:
            _queue_take(pipe, self.key, hold=self.hold, token=self.token)
            self._queued += _TAKE_COMMANDS

    def read(self, results: Sequence[Any]) -> None:
        if self.limit <= 0 or len(results) != self._queued:
            return
        try:
            self.taken = _took(redis.client(), results[-_TAKE_COMMANDS:], self.key,
                               limit=self.limit, token=self.token)  # fmt: skip
        except Exception:  # not taken (and added at most): ``slot`` asks again
            with contextlib.suppress(Exception):
                redis.client().zrem(self.key, self.token)
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
            GIVEN_BACK.add(self.key, token)


def _take(client: Any, key: str, *, limit: int, hold: float, token: str) -> bool:
    pipe = redis.Batch(client)
    released = GIVEN_BACK.queue(pipe)
    _queue_take(pipe, key, hold=hold, token=token)
    replies = pipe.execute(raise_on_error=False)[released:]
    return _took(client, replies, key, limit=limit, token=token)


@contextlib.contextmanager
def slot(
    name: str, *, limit: int, hold: float, wait: float, taking: Taking | None = None
) -> Iterator[None]:
    """Hold one of ``limit`` slots of ``name`` (waiting up to ``wait`` seconds for one; Full
    when none came free). ``taking``: a take already asked for in the caller's pipeline."""
    client = redis.client()
    adopted = taking.adopt() if taking is not None else None
    if client is None or limit <= 0:
        if adopted is not None and client is not None:
            GIVEN_BACK.add(taking.key, adopted)  # (the limit went meanwhile)
        yield
        return
    key = redis.key(f"slots:{name}")
    if adopted is not None and taking.key == key:
        token, taken = adopted, True
    else:
        if adopted is not None:
            GIVEN_BACK.add(taking.key, adopted)
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
            GIVEN_BACK.add(key, token)
