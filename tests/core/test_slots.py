"""Slots: a cap on things at once across processes (Redis), lapsing when a holder dies."""

import threading
import time

import pytest
from django.test import override_settings

from apps.core import slots


def test_at_most_limit_are_held_and_a_freed_one_is_taken(db):
    with slots.Slot("t1", limit=2, hold=30, wait=0), slots.Slot("t1", limit=2, hold=30, wait=0):
        started = time.monotonic()
        with pytest.raises(slots.Full), slots.Slot("t1", limit=2, hold=30, wait=0.3):
            pass
        assert 0.25 < time.monotonic() - started < 2
    with slots.Slot("t1", limit=2, hold=30, wait=0):  # both were given back
        pass


def test_a_waiter_takes_a_slot_given_back_meanwhile(db):
    released = threading.Event()

    def hold_briefly():
        with slots.Slot("t2", limit=1, hold=30, wait=0):
            released.wait(5)
            time.sleep(0.2)

    holder = threading.Thread(target=hold_briefly)
    holder.start()
    time.sleep(0.1)
    released.set()
    with slots.Slot("t2", limit=1, hold=30, wait=3):
        pass
    holder.join()


def test_a_slot_of_a_dead_holder_lapses_after_its_hold(db):
    taken = slots.Slot("t3", limit=1, hold=0.5, wait=0)
    taken.__enter__()  # never given back, as by a killed process
    with pytest.raises(slots.Full), slots.Slot("t3", limit=1, hold=0.5, wait=0):
        pass
    time.sleep(0.6)
    with slots.Slot("t3", limit=1, hold=0.5, wait=0):
        pass


def test_no_limit_and_no_redis_hold_nothing_back(db):
    for _ in range(3):
        with slots.Slot("t4", limit=0, hold=30, wait=0):
            pass
    down = {"default": {"BACKEND": "django_redis.cache.RedisCache",
                        "LOCATION": "redis://127.0.0.1:1/0",
                        "OPTIONS": {"SOCKET_CONNECT_TIMEOUT": 0.2, "SOCKET_TIMEOUT": 0.2}}}  # fmt: skip
    with (
        override_settings(CACHES=down),
        slots.Slot("t5", limit=1, hold=30, wait=0),
        slots.Slot("t5", limit=1, hold=30, wait=0),
    ):
        pass


def _holders(name):
    from apps.core import redis

    return redis.client().zcard(redis.key(f"slots:{name}"))


def test_a_slot_given_back_reaches_redis_soon_without_another_call(db):
    with slots.Slot("t6", limit=1, hold=30, wait=0):
        assert _holders("t6") == 1
    # No take follows in this process: the background thread sends it within FLUSH.
    deadline = time.monotonic() + 2
    while _holders("t6") and time.monotonic() < deadline:
        time.sleep(0.005)
    assert _holders("t6") == 0


def test_a_take_riding_in_a_callers_round_trip_is_held_and_given_back(db, redis_commands):
    from apps.core import redis, stamps
    from apps.core.ratelimit import Counting

    with slots.Slot("t7", limit=1, hold=30, wait=0):
        pass  # given back, not sent yet: the next round trip carries it
    taking = slots.Taking("t7", limit=1, hold=30)
    redis_commands.clear()
    stamps.read_counting("stamp:t7", Counting([]), taking)
    assert redis_commands == ["PIPELINE"]  # the given back slot, the stamp and the take
    assert taking.taken and _holders("t7") == 1
    with (
        slots.Slot("t7", limit=1, hold=30, wait=0, taking=taking),
        pytest.raises(slots.Full),
        slots.Slot("t7", limit=1, hold=30, wait=0),
    ):
        pass
    assert not taking.taken  # held by the slot above, and given back by it
    taking.give_back()  # a no-op now
    with slots.Slot("t7", limit=1, hold=30, wait=0):
        assert redis.client().zscore(redis.key("slots:t7"), taking.token) is None


def test_a_take_that_found_no_slot_waits_for_one_as_usual(db):
    taking = slots.Taking("t8", limit=1, hold=30)
    with slots.Slot("t8", limit=1, hold=30, wait=0):
        from apps.core import stamps
        from apps.core.ratelimit import Counting

        stamps.read_counting("stamp:t8", Counting([]), taking)
        assert not taking.taken
        with pytest.raises(slots.Full), slots.Slot("t8", limit=1, hold=30, wait=0.1,
                                                   taking=taking):  # fmt: skip
            pass
    with slots.Slot("t8", limit=1, hold=30, wait=0, taking=taking):
        assert _holders("t8") == 1


def test_racing_takers_never_hold_more_than_the_limit(db):
    held, most, lock = [0], [0], threading.Lock()
    failures: list[BaseException] = []

    def take_often() -> None:
        try:
            for _ in range(15):
                with slots.Slot("t9", limit=2, hold=30, wait=5):
                    with lock:
                        held[0] += 1
                        most[0] = max(most[0], held[0])
                    time.sleep(0.002)
                    with lock:
                        held[0] -= 1
        except BaseException as exc:
            failures.append(exc)

    takers = [threading.Thread(target=take_often) for _ in range(6)]
    for taker in takers:
        taker.start()
    for taker in takers:
        taker.join(timeout=60)
    assert not failures and most[0] == 2
