"""Stamps: small values in the shared cache (Redis) that say "this changed".

A process may remember something read from the database (an API key, an item) together with the
stamp it had; as long as the stamp is the same, the memory is good. A change sets the stamp to a
new random value right away and again after its transaction commits, so no process keeps
trusting what it read before the change.

Stamps are random, never counters: after a Redis restart a stamp is missing and is created
afresh with a value no process remembers, so nothing read before the restart is trusted again.
A missing or unreadable stamp trusts nothing. When Redis is configured but a stamp cannot be
moved, the change itself fails (``StampUnavailable``): committing it would let other processes
keep trusting what it replaced. Without a shared Redis (the embedded default) nothing is
remembered and nothing needs stamping.

Models whose changes must move stamps derive from :class:`StampedModel`: saving, deleting (also
by cascade or through a queryset) and queryset updates all move them.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Iterable, Sequence
from typing import Any, ClassVar, Protocol

from django.db import models, transaction

from apps.core import redis
from apps.core.codes import ErrorCode
from apps.core.errors import ApplicationError
from apps.core.ratelimit import Counting

logger = logging.getLogger("plugboard.cache")


class Rider(Protocol):
    """Commands that ride in a stamp's round trip: ``queue`` adds them to the pipeline, ``len``
    then says how many results are theirs, and ``read`` takes those results (in order; a
    failed command's is its exception)."""

    def __len__(self) -> int: ...
    def queue(self, pipe: Any) -> None: ...
    def read(self, results: Sequence[Any]) -> None: ...


class StampUnavailable(ApplicationError):
    code = ErrorCode.CACHE_UNAVAILABLE
    status = 503
    message = (
        "The shared cache (Redis) cannot be reached, so this change was not made: other "
        "servers could keep using what it replaces. Try again once the cache is back."
    )


def tenant_stamp(tenant_id: Any) -> str:
    """The stamp of everything remembered about one tenant (its API keys, items and data
    sources): any change to one of them moves it."""
    return f"stamp:tenant:{tenant_id}"


def _new_value() -> str:
    return secrets.token_hex(8)


def read(name: str) -> str | None:
    """The stamp's value, or None when it is missing or cannot be read (trust nothing)."""
    client = redis.client()
    if client is None:
        return None
    try:
        value = client.get(redis.key(name))
    except Exception:
        return None
    return value.decode() if value is not None else None


def read_counting(name: str, counting: Counting, *riders: Rider) -> str | None:
    """``read`` of the stamp, and the request counted for ``counting``, in one round trip, with
    whatever ``riders`` add to it (e.g. a slot taken, see ``slots.Taking``)."""
    client = redis.client()
    if client is None or not (counting or riders):
        return read(name)
    try:
        pipe = redis.Batch(client)
        pipe.get(redis.key(name))
        counting.queue(pipe)
        counted = len(counting)
        for rider in riders:
            rider.queue(pipe)
        results = pipe.execute(raise_on_error=False)
    except Exception:
        return None
    counting.read(results[1 : 1 + counted])
    at = 1 + counted
    for rider in riders:
        rider.read(results[at : at + len(rider)])
        at += len(rider)
    value = results[0]
    if isinstance(value, Exception):
        return None
    return value.decode() if value is not None else None


def current(name: str) -> str | None:
    """The stamp's value, created when missing; None when Redis cannot be used. Read it before
    reading what is to be remembered under it."""
    return current_all((name,))[name]


def current_all(names: Sequence[str]) -> dict[str, str | None]:
    """``current`` of each name, in one round trip."""
    client = redis.client()
    if client is None:
        return dict.fromkeys(names)
    try:
        pipe = client.pipeline(transaction=False)
        for name in names:
            pipe.set(redis.key(name), _new_value(), nx=True)
            pipe.get(redis.key(name))
        values = pipe.execute()[1::2]
    except Exception:
        return dict.fromkeys(names)
    return {
        name: value.decode() if value is not None else None
        for name, value in zip(names, values, strict=True)
    }


def bump(name: str) -> None:
    """Move the stamp now (raising StampUnavailable when Redis is configured but cannot be
    written, so that the caller's transaction rolls back) and again after the commit."""
    client = redis.client()
    if client is None:
        return
    try:
        client.set(redis.key(name), _new_value())
    except Exception as exc:
        logger.warning("could not move %s (%s); refusing the change", name, type(exc).__name__)
        raise StampUnavailable() from exc
    transaction.on_commit(lambda: _bump_after_commit(name))


def _bump_after_commit(name: str) -> None:
    # Covers a process that read the old row between the first move and the commit.
    client = redis.client()
    if client is None:
        return
    try:
        client.set(redis.key(name), _new_value())
    except Exception as exc:
        logger.error("could not move %s after a commit (%s)", name, type(exc).__name__)


def bump_all(names: Iterable[str]) -> None:
    for name in sorted(set(names)):
        bump(name)


class StampedQuerySet(models.QuerySet):
    """Queryset updates and bulk writes move the stamps of the rows they touch."""

    def _stamp_names(self) -> set[str]:
        names: set[str] = set()
        for obj in self.only(*self.model.STAMP_FIELDS):
            names.update(obj.stamp_names())
        return names

    def update(self, **kwargs: Any) -> int:
        if set(kwargs) <= self.model.STAMP_EXEMPT_FIELDS:
            return super().update(**kwargs)
        version = self.model.VERSION_FIELD
        if version and version not in kwargs:
            kwargs[version] = models.F(version) + 1
        with transaction.atomic(using=self.db):
            names = self._stamp_names()
            count = super().update(**kwargs)
            bump_all(names)
        return count

    def bulk_update(self, objs: Iterable[Any], fields: Iterable[str], **kwargs: Any) -> int:
        objs, fields = list(objs), list(fields)
        with transaction.atomic(using=self.db):
            count = super().bulk_update(objs, fields, **kwargs)
            if not set(fields) <= self.model.STAMP_EXEMPT_FIELDS:
                bump_all(name for obj in objs for name in obj.stamp_names())
        return count

    def bulk_create(self, objs: Iterable[Any], *args: Any, **kwargs: Any) -> list[Any]:
        objs = list(objs)
        with transaction.atomic(using=self.db):
            created = super().bulk_create(objs, *args, **kwargs)
            bump_all(name for obj in created for name in obj.stamp_names())
        return created


class StampedModel(models.Model):
    """A model that processes remember: every change moves the stamps it names."""

    # Fields whose change never matters to what processes remember (e.g. last_used_at).
    STAMP_EXEMPT_FIELDS: ClassVar[frozenset[str]] = frozenset()
    # Fields ``stamp_names`` needs (loaded for queryset updates).
    STAMP_FIELDS: ClassVar[tuple[str, ...]] = ("pk",)
    # A counter that keys what is cached of the row (e.g. cache_version): every change that
    # moves the stamps also increments it, so cached answers of the old row are never served.
    VERSION_FIELD: ClassVar[str | None] = None

    objects = StampedQuerySet.as_manager()

    class Meta:
        abstract = True

    def save(self, *args: Any, **kwargs: Any) -> None:
        update_fields = kwargs.get("update_fields")
        if update_fields is not None and set(update_fields) <= self.STAMP_EXEMPT_FIELDS:
            super().save(*args, **kwargs)
            return
        adding = self._state.adding
        with transaction.atomic(using=kwargs.get("using")):
            super().save(*args, **kwargs)
            if self.VERSION_FIELD and not adding:
                field = self.VERSION_FIELD
                type(self)._base_manager.filter(pk=self.pk).update(**{field: models.F(field) + 1})
                self.refresh_from_db(fields=[field])
            bump_all(self.stamp_names())

    def stamp_names(self) -> list[str]:
        raise NotImplementedError


def _after_delete(sender: type, instance: StampedModel, **kwargs: Any) -> None:
    bump_all(instance.stamp_names())  # runs inside the deletion's transaction


def connect_stamped_models() -> None:
    """Deletions (direct, by cascade or through a queryset) move stamps; called once the apps
    are loaded. Connected per model, so other models keep Django's fast deletes."""
    from django.apps import apps

    for model in apps.get_models():
        if issubclass(model, StampedModel):
            models.signals.post_delete.connect(
                _after_delete, sender=model, dispatch_uid=f"stamps:{model._meta.label}"
            )
