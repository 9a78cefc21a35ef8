"""Locks shared by every process.

``distributed_lock`` uses Redis when the cache is Redis, else a file lock (the embedded
single-machine default). Callers that must stay exclusive across machines even when Redis is
unreachable use ``redis_lock`` and fall back to a database row lock of their own (see the token
refresh).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import logging
import time
from collections.abc import Iterator
from pathlib import Path

from django.conf import settings
from django.core.cache import cache, caches

from apps.core.codes import ErrorCode
from apps.core.errors import ApplicationError

logger = logging.getLogger(__name__)
_warned = False


class LockTimeout(ApplicationError):
    code = ErrorCode.BUSY
    status = 503
    message = "Another process is doing this right now; try again in a moment."


class LockUnavailable(Exception):
    """No shared lock service: the cache is not Redis, or Redis cannot be reached."""


def _uses_redis() -> bool:
    # ``cache`` is a proxy (django.utils.connection): ask the backend behind it.
    backend = caches["default"]
    return hasattr(backend, "lock") and "redis" in type(backend).__module__


def _warn_once(exc: Exception) -> None:
    global _warned
    if not _warned:
        logger.warning("Redis lock unavailable (%s); using a fallback lock", type(exc).__name__)
        _warned = True


@contextlib.contextmanager
def redis_lock(name: str, *, timeout: float, wait: float) -> Iterator[None]:
    """Hold ``name`` in Redis for at most ``timeout`` s, waiting up to ``wait`` s.

    Raises LockUnavailable (before anything runs) when Redis cannot be used, LockTimeout when
    another holder keeps it longer than ``wait``."""
    if not _uses_redis():
        raise LockUnavailable("the cache is not Redis")
    try:
        lock = cache.lock(f"lock:{name}", timeout=timeout, blocking_timeout=wait, sleep=0.05)
        acquired = lock.acquire()
    except Exception as exc:  # Redis down or timing out
        _warn_once(exc)
        raise LockUnavailable(type(exc).__name__) from exc
    if not acquired:
        raise LockTimeout()
    try:
        yield
    finally:
        with contextlib.suppress(Exception):
            lock.release()


@contextlib.contextmanager
def file_lock(name: str, *, wait: float) -> Iterator[None]:
    """A lock shared by the processes of this machine only."""
    folder = Path(settings.BASE_DIR) / "var" / "locks"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / (hashlib.sha256(name.encode()).hexdigest()[:32] + ".lock")
    deadline = time.monotonic() + wait
    with open(path, "a+") as handle:
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise LockTimeout() from None
                time.sleep(0.05)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@contextlib.contextmanager
def distributed_lock(name: str, *, timeout: float, wait: float) -> Iterator[None]:
    """Hold ``name`` across processes for at most ``timeout`` s, waiting up to ``wait`` s:
    Redis when it can be used, else a lock this machine's processes share."""
    with contextlib.ExitStack() as stack:
        try:
            stack.enter_context(redis_lock(name, timeout=timeout, wait=wait))
        except LockUnavailable:
            stack.enter_context(file_lock(name, wait=wait))
        yield
