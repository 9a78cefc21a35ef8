"""What a process remembers of the database, each value under the stamp it was read with.

A remembered value is good while its stamp (see ``stamps``) still has the value it had when the
value was read: ``recall`` hands back the entry unconfirmed, without a round trip, so that the
caller can read the stamp together with whatever else it reads from Redis and ``confirm`` the
entry with what came back. ``confirmed`` is the same with a round trip of its own. An entry is
also dropped after ``max_age`` seconds whatever its stamp says, and the least recently used go
first when the memo is full.

To remember a value, read its stamp with ``stamps.current`` *before* reading the value: a change
in between then makes the entry look older than it is, never newer.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Hashable, Mapping
from dataclasses import dataclass
from typing import Generic, TypeVar

from apps.core import stamps

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class Unconfirmed(Exception):
    """A remembered value handed in did not hold: read it again before asking again."""


@dataclass(frozen=True, slots=True)
class Remembered(Generic[V]):
    """A remembered value, not to be trusted before ``confirm`` (nor changed: threads share it)."""

    value: V
    stamp: str
    stamp_value: str
    loaded_at: float

    def confirm(self, current: Mapping[str, str | None]) -> bool:
        """Whether the value still holds, given the current values of stamps (None: unknown)."""
        return current.get(self.stamp) == self.stamp_value


class StampedMemo(Generic[K, V]):
    """A bounded, thread-safe memo of values read from the database, each under its stamp."""

    def __init__(self, *, size: int, max_age: float) -> None:
        self.size = size
        self.max_age = max_age
        self._entries: OrderedDict[K, Remembered[V]] = OrderedDict()
        self._lock = threading.Lock()

    def recall(self, key: K) -> Remembered[V] | None:
        """The entry for ``key``, unconfirmed; None when there is none or it is too old."""
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            if time.monotonic() - entry.loaded_at >= self.max_age:
                del self._entries[key]
                return None
            self._entries.move_to_end(key)
        return entry

    def confirmed(self, key: K) -> V | None:
        """The value for ``key`` if its stamp still holds (one round trip), else None."""
        entry = self.recall(key)
        if entry is None:
            return None
        if entry.confirm({entry.stamp: stamps.read(entry.stamp)}):
            return entry.value
        self.forget(key)
        return None

    def remember(self, key: K, value: V, *, stamp: str, stamp_value: str | None) -> None:
        """Keep ``value``, read after ``stamp`` had ``stamp_value``; None (no Redis, or it could
        not be read) keeps nothing, since nothing could confirm it."""
        if stamp_value is None:
            self.forget(key)
            return
        entry = Remembered(value, stamp, stamp_value, time.monotonic())
        with self._lock:
            self._entries[key] = entry
            self._entries.move_to_end(key)
            while len(self._entries) > self.size:
                self._entries.popitem(last=False)

    def forget(self, key: K) -> None:
        with self._lock:
            self._entries.pop(key, None)
