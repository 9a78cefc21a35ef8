"""Finding an item on the options hot path without a database query.

Each process remembers what the hot path needs of an item (its templates and the cache versions
of the item and its data source) under the tenant's stamp, which any change to an item or a data
source of the tenant moves (see ``apps.core.memo``). The options service reads the stamp in the
same round trip as the cached answer. Without a shared Redis nothing is remembered.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from apps.core import stamps
from apps.core.memo import Remembered, StampedMemo
from apps.items.models import ConnectedItem
from apps.items.rendering import dependencies


@dataclass(frozen=True)
class ItemRef:
    """What the options hot path needs of an item."""

    id: Any
    key: str
    tenant_id: int
    datasource_id: Any
    datasource_version: int
    item_version: int
    method: str
    path: str
    body: str | None
    # The item with its data source, as read: a miss calls the upstream without a query.
    item: ConnectedItem
    dependencies: tuple[str, ...] = ()


# Re-read a remembered item after five minutes even if its stamp says nothing changed: a stamp
# lost with a Redis restart must not keep an old item trusted for ever.
ITEMS: StampedMemo[tuple[int, str], ItemRef] = StampedMemo(size=4096, max_age=300)


def bump_stamp(tenant_id: int) -> None:
    """Mark every remembered item of the tenant as changed."""
    stamps.bump(stamps.tenant_stamp(tenant_id))


def item_recall(*, tenant_id: int, key: str) -> Remembered[ItemRef] | None:
    """The remembered item, unconfirmed (see ``apps.core.memo``)."""
    return ITEMS.recall((tenant_id, key))


def item_forget(*, tenant_id: int, key: str) -> None:
    ITEMS.forget((tenant_id, key))


def item_load(*, tenant_id: int, key: str, stamp_value: str | None) -> ItemRef | None:
    """Read the item from the database and remember it; ``stamp_value`` is the tenant's stamp,
    read (``stamps.current``) before this is called."""
    item = (
        ConnectedItem.objects.filter(tenant_id=tenant_id, key=key)
        .select_related("datasource")
        .first()
    )
    if item is None:
        ITEMS.forget((tenant_id, key))
        return None
    ref = ItemRef(
        id=item.pk,
        key=item.key,
        tenant_id=item.tenant_id,
        datasource_id=item.datasource_id,
        datasource_version=item.datasource.cache_version,
        item_version=item.cache_version,
        method=item.method,
        path=item.path,
        body=item.body,
        item=item,
        dependencies=tuple(dependencies(item.path, item.body)),
    )
    ITEMS.remember(
        (tenant_id, key), ref, stamp=stamps.tenant_stamp(tenant_id), stamp_value=stamp_value
    )
    return ref
