"""A lock shared by every process: Redis when the cache is Redis, else a file lock (the
embedded single-machine default)."""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import logging
import time
from collections.abc import Iterator
from pathlib import Path

from django.conf import settings
from django.core.cache import cache

from apps.core.errors import ApplicationError

logger = logging.getLogger(__name__)
_warned = False


class LockTimeout(ApplicationError):
    code = "busy"
    status = 503
    message = "Another process is doing this right now; try again in a moment."


def _uses_redis() -> bool:
    return hasattr(cache, "lock") and "redis" in type(cache).__module__


@contextlib.contextmanager
def _file_lock(name: str, *, wait: float) -> Iterator[None]:
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
    """Hold ``name`` across processes for at most ``timeout`` s, waiting up to ``wait`` s."""
    global _warned
    if _uses_redis():
        try:
            lock = cache.lock(f"lock:{name}", timeout=timeout, blocking_timeout=wait, sleep=0.05)
            acquired = lock.acquire()
        except Exception as exc:  # Redis down: fall back to a lock this machine shares
            if not _warned:
                logger.warning("Redis lock unavailable (%s); using a file lock", type(exc).__name__)
                _warned = True
        else:
            if not acquired:
                raise LockTimeout()
            try:
                yield
            finally:
                with contextlib.suppress(Exception):
                    lock.release()
            return
    with _file_lock(name, wait=wait):
        yield
