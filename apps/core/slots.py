"""Slots: at most ``limit`` things at once for one owner, across every process (Redis).

A slot is a member of a sorted set scored by when it lapses, so a process that dies holding one
holds it no longer than ``hold`` seconds. Taking one is one round trip (a script that drops
lapsed members, counts, and adds), giving it back another. Without Redis, or when Redis fails,
nothing is counted: the cap must not take the service down with the cache.
"""

from __future__ import annotations

import contextlib
import logging
import time
import uuid
from collections.abc import Iterator

from apps.core import redis

logger = logging.getLogger("plugboard.slots")
OUTAGE = redis.Outage(
    logger,
    failed="concurrency caps not counted: the shared cache cannot be reached (%s)",
    recovered="concurrency caps are counted again",
)

_TAKE = """
redis.call('zremrangebyscore', KEYS[1], '-inf', ARGV[1])
if redis.call('zcard', KEYS[1]) >= tonumber(ARGV[3]) then return 0 end
redis.call('zadd', KEYS[1], ARGV[2], ARGV[4])
redis.call('expire', KEYS[1], ARGV[5])
return 1
"""
_scripts: dict[int, object] = {}
POLL = 0.05


class Full(Exception):
    """No slot came free in time."""


def _take_script(client: object) -> object:
    script = _scripts.get(id(client))
    if script is None:
        script = _scripts[id(client)] = client.register_script(_TAKE)  # type: ignore[attr-defined]
    return script


@contextlib.contextmanager
def slot(name: str, *, limit: int, hold: float, wait: float) -> Iterator[None]:
    """Hold one of ``limit`` slots of ``name`` (waiting up to ``wait`` seconds for one; Full
    when none came free)."""
    client = redis.client()
    if client is None or limit <= 0:
        yield
        return
    key = redis.key(f"slots:{name}")
    token = uuid.uuid4().hex
    give_up = time.monotonic() + wait
    taken = False
    while True:
        now = time.time()
        try:
            taken = bool(_take_script(client)(keys=[key], args=[now, now + hold, limit, token,
                                                               int(hold) + 60]))  # fmt: skip
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
            with contextlib.suppress(Exception):
                client.zrem(key, token)
