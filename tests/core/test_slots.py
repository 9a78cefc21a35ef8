"""Slots: a cap on things at once across processes (Redis), lapsing when a holder dies."""

import threading
import time

import pytest
from django.test import override_settings

from apps.core import slots


def test_at_most_limit_are_held_and_a_freed_one_is_taken(db):
    with slots.slot("t1", limit=2, hold=30, wait=0), slots.slot("t1", limit=2, hold=30, wait=0):
        started = time.monotonic()
        with pytest.raises(slots.Full), slots.slot("t1", limit=2, hold=30, wait=0.3):
            pass
        assert 0.25 < time.monotonic() - started < 2
    with slots.slot("t1", limit=2, hold=30, wait=0):  # both were given back
        pass


def test_a_waiter_takes_a_slot_given_back_meanwhile(db):
    released = threading.Event()

    def hold_briefly():
        with slots.slot("t2", limit=1, hold=30, wait=0):
            released.wait(5)
            time.sleep(0.2)

    holder = threading.Thread(target=hold_briefly)
    holder.start()
    time.sleep(0.1)
    released.set()
    with slots.slot("t2", limit=1, hold=30, wait=3):
        pass
    holder.join()


def test_a_slot_of_a_dead_holder_lapses_after_its_hold(db):
    taken = slots.slot("t3", limit=1, hold=0.5, wait=0)
    taken.__enter__()  # never given back, as by a killed process
    with pytest.raises(slots.Full), slots.slot("t3", limit=1, hold=0.5, wait=0):
        pass
    time.sleep(0.6)
    with slots.slot("t3", limit=1, hold=0.5, wait=0):
        pass


def test_no_limit_and_no_redis_hold_nothing_back(db):
    for _ in range(3):
        with slots.slot("t4", limit=0, hold=30, wait=0):
            pass
    down = {"default": {"BACKEND": "django_redis.cache.RedisCache",
                        "LOCATION": "redis://127.0.0.1:1/0",
                        "OPTIONS": {"SOCKET_CONNECT_TIMEOUT": 0.2, "SOCKET_TIMEOUT": 0.2}}}  # fmt: skip
    with (
        override_settings(CACHES=down),
        slots.slot("t5", limit=1, hold=30, wait=0),
        slots.slot("t5", limit=1, hold=30, wait=0),
    ):
        pass
