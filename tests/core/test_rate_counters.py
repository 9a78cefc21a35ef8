"""Rate counters in Redis: one INCR per request, their EXPIRE once per window and process, and
a counter made anew (Redis restarted) set to expire all the same."""

import time
from types import SimpleNamespace

from apps.core import ratelimit, redis, stamps
from apps.core.ratelimit import Counting, Quota


def _quota(subject):
    return Quota(scope="test", subject=subject, limit=100, who="this test", what="calls")


def _count(quota):
    counting = Counting([quota])
    stamps.read_counting("stamp:rate-test", counting)
    counting.check()
    return counting


def test_a_counter_expires_and_its_expiry_is_sent_once_per_window(db, redis_commands):
    quota = _quota(f"a{time.monotonic_ns()}")
    first = _count(quota)
    key = quota.key(first.window)
    assert first.counts == [1] and 0 < redis.client().ttl(key) <= 65
    assert len(first) == 2  # INCR and EXPIRE
    second = _count(quota)
    assert second.counts == [2] and len(second) == 1  # INCR alone
    assert redis_commands.count("PIPELINE") == 2


def test_a_counter_made_anew_is_set_to_expire_all_the_same(db, monkeypatch):
    now = time.time()
    monkeypatch.setattr(ratelimit, "time", SimpleNamespace(time=lambda: now))  # one window
    quota = _quota(f"b{time.monotonic_ns()}")
    key = quota.key(_count(quota).window)
    redis.client().delete(key)  # as by a restart of Redis
    again = _count(quota)
    assert again.counts == [1] and len(again) == 1  # no EXPIRE went along: one went later
    deadline = time.monotonic() + 2
    while redis.client().ttl(key) < 0 and time.monotonic() < deadline:
        time.sleep(0.005)
    assert 0 < redis.client().ttl(key) <= 65
