"""The entries: encoded, read and written in Redis, or without Redis in the process's
local-memory cache.

Each answer is written twice: the entry proper, served for 300 s, and a last-good copy kept 10
minutes longer, served (as ``stale``) only when the upstream fails (see ``keys``).
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from django.core.cache import cache

from apps.core import redis
from apps.core.ratelimit import Counting
from apps.items.cache import OUTAGE, indexes, keys


def _dumps(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()


class CachedAnswer:
    """An answer: when it was fetched, its options (kept serialized, so that a plain hit is
    answered without decoding them) and the list elements the filters read."""

    __slots__ = (
        "_elements",
        "_elements_json",
        "_options",
        "fetched_at",
        "fetched_at_iso",
        "options_json",
        "purge_stamp",
    )  # fmt: skip

    def __init__(
        self, fetched_at: float, fetched_at_iso: str, options_json: bytes, elements_json: bytes,
        purge_stamp: str | None = None,
    ) -> None:  # fmt: skip
        self.fetched_at = fetched_at
        self.fetched_at_iso = fetched_at_iso
        self.options_json = options_json
        self._elements_json = elements_json
        self._options: list[dict[str, str]] | None = None
        self._elements: list[Any] | None = None
        self.purge_stamp = purge_stamp  # the data source's purge stamp when it was fetched

    @classmethod
    def fetched(
        cls, fetched_at: float, options: list[dict[str, str]], elements: list[Any]
    ) -> CachedAnswer:
        """An answer just fetched, whose lists are at hand."""
        answer = cls(fetched_at, iso_time(fetched_at), _dumps(options), b"")
        answer._options, answer._elements = options, elements
        return answer

    @property
    def options(self) -> list[dict[str, str]]:
        if self._options is None:
            self._options = json.loads(self.options_json)
        return self._options

    @property
    def elements(self) -> list[Any]:
        if self._elements is None:
            self._elements = json.loads(self._elements_json)
        return self._elements


def iso_time(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, tz=UTC).isoformat().replace("+00:00", "Z")


def encode(
    fetched_at: float, options: list[Any], elements: list[Any], purge_stamp: str | None = None
) -> bytes:
    header = f"{fetched_at!r} {iso_time(fetched_at)} {purge_stamp or '-'}".encode()
    return zlib.compress(b"\n".join([header, _dumps(options), _dumps(elements)]), 1)


def decode(blob: bytes | None) -> CachedAnswer | None:
    if not blob:
        return None
    header, options_json, elements_json = zlib.decompress(blob).split(b"\n", 2)
    fetched_at, iso, purge_stamp = [*header.decode().split(" ", 2), "-"][:3]
    return CachedAnswer(float(fetched_at), iso, options_json, elements_json,
                        None if purge_stamp == "-" else purge_stamp)  # fmt: skip


def current_answer(blob: bytes | None, purge_stamp: str | None) -> CachedAnswer | None:
    """The entry in ``blob`` if it was written under the data source's current purge stamp."""
    answer = decode(blob)
    if answer is None or answer.purge_stamp != purge_stamp:
        return None
    return answer


def entry_name(
    *, tenant_id: int, datasource_id: Any, datasource_version: int, item_id: Any,
    item_version: int, digest: str,
) -> str:  # fmt: skip
    return f"{tenant_id}:{datasource_id}:{datasource_version}:{item_id}:{item_version}:{digest}"


def load(
    name: str, datasource_id: Any, stamp_names: Sequence[str] = (), counting: Counting | None = None
) -> tuple[CachedAnswer | None, str | None, dict[str, str | None]]:
    """(the entry if it is current, the data source's purge stamp, current values of
    ``stamp_names``) in one round trip, which also counts the request for ``counting``;
    nothing and no values when the cache cannot be read."""
    client = redis.client()
    if client is None:
        return decode(cache.get(keys.entry(name))), None, dict.fromkeys(stamp_names)
    purge = keys.purge_stamp(datasource_id)
    names = [redis.key(keys.entry(name)), redis.key(purge), *map(redis.key, stamp_names)]
    try:
        if counting:
            pipe = redis.Batch(client)
            pipe.mget(names)
            counting.queue(pipe)
            results = pipe.execute()
            values = results[0]
            counting.read(results[1:])
        else:
            values = client.mget(names)
    except Exception as exc:  # Redis down or timing out: degrade to the upstream
        OUTAGE.failed(exc)
        return None, None, dict.fromkeys(stamp_names)
    if OUTAGE.down:
        OUTAGE.worked()
    purge_value = values[1].decode() if values[1] is not None else None
    current = {
        stamp: (value.decode() if value is not None else None)
        for stamp, value in zip(stamp_names, values[2:], strict=True)
    }
    return current_answer(values[0], purge_value), purge_value, current


def load_stale(name: str) -> CachedAnswer | None:
    """The last-good copy of an entry (read only when the upstream failed)."""
    client = redis.client()
    try:
        if client is None:
            return decode(cache.get(keys.stale(name)))
        return decode(client.get(redis.key(keys.stale(name))))
    except Exception as exc:
        OUTAGE.failed(exc)
        return None


def queue_store(pipe: Any, name: str, datasource_id: Any, blob: bytes, fetched_at: float) -> None:
    """Add the writes of an entry, its last-good copy and its index to a Redis pipeline."""
    pipe.set(redis.key(keys.entry(name)), blob, ex=keys.FRESH_SECONDS)
    pipe.set(redis.key(keys.stale(name)), blob, ex=keys.FRESH_SECONDS + keys.STALE_SECONDS)
    indexes.queue_index(pipe, datasource_id, name, fetched_at)


def store(
    name: str, datasource_id: Any, options: list[Any], elements: list[Any], fetched_at: float,
    purge_stamp: str | None = None,
) -> None:  # fmt: skip
    """Store a successful answer as entry and last-good copy, and index it."""
    blob = encode(fetched_at, options, elements, purge_stamp)
    client = redis.client()
    try:
        if client is None:
            cache.set(keys.entry(name), blob, keys.FRESH_SECONDS)
            cache.set(keys.stale(name), blob, keys.FRESH_SECONDS + keys.STALE_SECONDS)
            return
        pipe = client.pipeline(transaction=False)
        queue_store(pipe, name, datasource_id, blob, fetched_at)
        pipe.execute()
    except Exception as exc:
        OUTAGE.failed(exc)
