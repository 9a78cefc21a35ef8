"""One round trip of commands (apps.core.redis.Batch) against the real Redis."""

import time

import pytest
from redis.exceptions import ResponseError

from apps.core import redis


@pytest.fixture
def batch(db):
    found = redis.batch()
    assert found is not None
    return found


def test_replies_come_back_in_order(batch):
    key, zset = redis.key("batch:a"), redis.key("batch:z")
    redis.client().delete(key, zset, key + ":nx")
    batch.set(key, "1").incr(key).expire(key, 60).get(key).mget([key, key + ":none"])
    batch.zadd(zset, 1.5, "m").zcard(zset).zrem(zset, "m", "nobody")
    assert len(batch) == 8
    assert batch.execute() == [b"OK", 2, 1, b"2", [b"2", None], 1, 1, 1]
    assert len(batch) == 0 and batch.execute() == []
    nx = key + ":nx"
    assert batch.set(nx, "x", nx=True).set(nx, "y", nx=True).execute() == [b"OK", None]


def test_a_refused_command_is_its_reply_and_the_others_still_run(batch):
    key = redis.key("batch:b")
    batch.set(key, "text").incr(key).get(key)
    with pytest.raises(ResponseError):
        batch.execute()
    batch.set(key, "text").incr(key).get(key)
    replies = batch.execute(raise_on_error=False)
    assert replies[0] == b"OK" and isinstance(replies[1], ResponseError) and replies[2] == b"text"
    assert redis.client().ping()  # the connection stayed in step: the pool's next one works


def test_a_connection_the_server_closed_is_replaced(batch, settings):
    import redis as redis_py

    batch.get(redis.key("batch:c")).execute()
    other = redis_py.Redis.from_url(settings.CACHES["default"]["LOCATION"])
    try:
        assert other.client_kill_filter(_type="normal", skipme=True) >= 1  # the batches' too
    finally:
        other.close()
    assert batch.get(redis.key("batch:c")).incr(redis.key("batch:c")).execute() == [None, 1]


def test_commands_sent_later_ride_with_the_next_batch_or_go_soon(batch):
    key = redis.key("batch:later")
    redis.LATER.add("SET", key, "v")
    assert batch.get(key).execute() == [b"v"]  # sent first, its reply left out
    redis.LATER.add("DEL", key)
    deadline = time.monotonic() + 2
    while redis.client().exists(key) and time.monotonic() < deadline:
        time.sleep(0.005)
    assert not redis.client().exists(key)  # no batch followed: the thread sent it


def test_commands_sent_later_are_kept_when_a_batch_fails(batch):
    import redis as redis_py

    key = redis.key("batch:kept")
    redis.client().delete(key)
    redis.LATER.add("SET", key, "kept")
    away = redis.Batch(redis_py.Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.2))
    with pytest.raises(redis_py.exceptions.ConnectionError):
        away.get(key).execute()
    assert batch.get(key).execute() == [b"kept"]  # it went with the next batch


def test_a_set_may_be_only_if_absent_and_lapse(batch):
    key = redis.key("batch:px")
    redis.client().delete(key)
    assert batch.set(key, "1", nx=True, px=5000).set(key, "2", nx=True, px=5000).execute() == [
        b"OK", None,
    ]  # fmt: skip
    assert 0 < redis.client().pttl(key) <= 5000 and redis.client().get(key) == b"1"
