"""Run one call from many threads at the same instant, as concurrent requests would."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from django.db import connection


def run_together(count: int, call: Callable[[], Any], timeout: float = 90) -> list[Any]:
    """``count`` threads released together by a barrier; returns their results. Any exception
    in a thread fails the caller (the first few are shown)."""
    barrier = threading.Barrier(count)
    results: list[Any] = []
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            barrier.wait(timeout=30)
            results.append(call())
        except BaseException as exc:  # reported below, in the test's thread
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=timeout)
    if errors:
        raise AssertionError(f"{len(errors)} of {count} calls failed: {errors[:3]!r}")
    if len(results) != count:
        raise AssertionError(f"only {len(results)} of {count} calls finished in {timeout} s")
    return results
