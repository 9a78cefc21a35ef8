"""Finding an item on the options hot path without a database query.

Each process remembers what the hot path needs of an item (its templates and the cache versions
of the item and its data source) together with the tenant's *stamp*, a counter in Redis bumped
after every change to any item or data source of that tenant. The options service reads the
stamp in the same round trip as the cached answer; a different stamp means "changed": the
remembered reference is dropped and read again. Without a shared Redis nothing is remembered.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from apps.core import stamps
from apps.items.models import ConnectedItem
from apps.items.templates import dependencies

MAX_REMEMBERED = 4096
# Re-read a remembered item after this long even if its stamp says nothing changed: a stamp
# lost with a Redis restart must not keep an old item trusted for ever.
REMEMBER_SECONDS = 300
_remembered: OrderedDict[tuple[int, str], ItemRef] = OrderedDict()
_lock = threading.Lock()


@dataclass(frozen=True)
class ItemRef:
    id: Any
    key: str
    tenant_id: int
    datasource_id: Any
    datasource_version: int
    item_version: int
    method: str
    path: str
    body: str | None
    stamp: str | None
    # The item with its data source, as read: a miss calls the upstream without a query.
    item: ConnectedItem | None = None
    dependencies: tuple[str, ...] = ()
    loaded_at: float = 0.0


def stamp_name(tenant_id: int) -> str:
    return stamps.tenant_stamp(tenant_id)


def bump_stamp(tenant_id: int) -> None:
    """Mark every remembered item of the tenant as changed."""
    stamps.bump(stamp_name(tenant_id))


def _from_item(item: ConnectedItem, stamp: str | None) -> ItemRef:
    return ItemRef(
        id=item.pk,
        key=item.key,
        tenant_id=item.tenant_id,
        datasource_id=item.datasource_id,
        datasource_version=item.datasource.cache_version,
        item_version=item.cache_version,
        method=item.method,
        path=item.path,
        body=item.body,
        stamp=stamp,
        item=item,
        dependencies=tuple(dependencies(item.path, item.body)),
        loaded_at=time.monotonic(),
    )


def load_ref(tenant_id: int, key: str) -> ItemRef | None:
    """Read the reference from the database (the stamp first, so a concurrent change can only
    make the remembered copy look older than it is, never newer)."""
    stamp = stamps.current(stamp_name(tenant_id))
    item = (
        ConnectedItem.objects.filter(tenant_id=tenant_id, key=key)
        .select_related("datasource")
        .first()
    )
    if item is None:
        return None
    ref = _from_item(item, stamp)
    if stamp is not None:
        with _lock:
            _remembered[(tenant_id, key)] = ref
            _remembered.move_to_end((tenant_id, key))
            while len(_remembered) > MAX_REMEMBERED:
                _remembered.popitem(last=False)
    return ref


def remembered_ref(tenant_id: int, key: str) -> ItemRef | None:
    with _lock:
        ref = _remembered.get((tenant_id, key))
    if ref is not None and time.monotonic() - ref.loaded_at > REMEMBER_SECONDS:
        return None
    return ref


def forget(tenant_id: int, key: str) -> None:
    with _lock:
        _remembered.pop((tenant_id, key), None)
