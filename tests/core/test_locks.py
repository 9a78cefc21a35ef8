"""Locks shared by every process: Redis when the cache is Redis (the token refresh's first
choice), and a clear "unavailable" that sends callers to their fallback otherwise."""

from __future__ import annotations

import pytest

from apps.core import redis
from apps.core.locks import LockTimeout, LockUnavailable, distributed_lock, redis_lock


def test_a_redis_lock_is_held_in_redis_and_excludes_a_second_holder():
    with redis_lock("probe", timeout=5, wait=0.2):
        key = redis.key("lock:probe")
        assert redis.client().exists(key)
        assert 0 < redis.client().pttl(key) <= 5000
        with pytest.raises(LockTimeout), redis_lock("probe", timeout=5, wait=0.2):
            pass
    assert not redis.client().exists(key)
    with redis_lock("probe", timeout=5, wait=0.2):  # free again
        pass


def test_a_distributed_lock_on_redis_is_seen_by_other_machines():
    """Another machine shares Redis, not this machine's lock files: its attempt is a Redis one."""
    with distributed_lock("shared", timeout=5, wait=0.2):
        assert redis.client().exists(redis.key("lock:shared"))
        with pytest.raises(LockTimeout), redis_lock("shared", timeout=5, wait=0.2):
            pass


def test_without_redis_the_lock_says_so_before_anything_runs(settings):
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

    with pytest.raises(LockUnavailable), redis_lock("probe", timeout=5, wait=0.2):
        pytest.fail("ran without a lock")


def test_with_redis_unreachable_the_lock_says_so_quickly(settings):
    settings.CACHES = {
        "default": {"BACKEND": "django_redis.cache.RedisCache", "LOCATION": "redis://127.0.0.1:1/0",
                    "OPTIONS": {"SOCKET_CONNECT_TIMEOUT": 0.2, "SOCKET_TIMEOUT": 0.2}}
    }  # fmt: skip

    with pytest.raises(LockUnavailable), redis_lock("probe", timeout=5, wait=0.2):
        pytest.fail("ran without a lock")


@pytest.mark.django_db
def test_a_scheduled_refresh_that_finds_the_lock_taken_is_left_to_the_next_run(
    acme, monkeypatch, caplog
):
    """A killed worker's lock outlives it; the refresh task says so and ends quietly (the token
    is still due, so the schedule sends it again) rather than failing with a traceback."""
    from apps.datasources import tasks
    from tests.factories import DataSourceFactory

    source = DataSourceFactory(tenant=acme.tenant)

    def taken(*args, **kwargs):
        raise LockTimeout()

    monkeypatch.setattr(tasks, "token_refresh", taken)

    tasks.refresh_datasource_token(str(source.pk))

    assert "another refresh holds its lock" in caplog.text
