"""A tenant's limits: the defaults of ``RATE_LIMITS`` with the tenant's own overrides (set by a
superuser in the Django admin), remembered per process for ``MAX_AGE`` seconds, so that the
hottest paths read no database row to know them (a change applies within that time)."""

from __future__ import annotations

import threading
import time
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import DatabaseError

from apps.core.ratelimit import Quota

MAX_AGE = 30.0
# Which counters each limited thing has (what its numbers are per minute of).
SHAPE: dict[str, tuple[str, ...]] = {
    "options": ("key", "tenant"),
    "proxy": ("key", "tenant"),
    "bulk": ("key", "tenant"),
    "inbound": ("source", "tenant"),
}
SCALARS = ("upstream_concurrency", "cache_bytes")
WHAT = {
    "options": "options calls",
    "proxy": "proxied calls",
    "bulk": "bulk jobs",
    "inbound": "inbound events",
}
WHO = {"key": "this API key", "tenant": "this tenant", "source": "this inbound URL"}

_memo: dict[int, tuple[float, dict[str, Any]]] = {}
_lock = threading.Lock()


def limits_problem(value: Any) -> str | None:
    """Why ``value`` (a tenant's overrides) is not a valid set of limits, or None."""
    if not isinstance(value, dict):
        return 'Give an object, e.g. {"options": {"key": 100}}.'
    for name, given in value.items():
        if name in SHAPE:
            if not isinstance(given, dict) or set(given) - set(SHAPE[name]):
                return f"“{name}” takes {', '.join(SHAPE[name])} (requests a minute)."
            numbers = list(given.values())
        elif name in SCALARS:
            numbers = [given]
        else:
            return f"“{name}” is not a limit (limits: {', '.join([*SHAPE, *SCALARS])})."
        if not all(isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in numbers):
            return f"The numbers of “{name}” must be whole numbers, 0 or more (0: no limit)."
    return None


def validate_limits(value: Any) -> None:
    problem = limits_problem(value)
    if problem:
        raise ValidationError(problem)


def merged(overrides: dict[str, Any] | None) -> dict[str, Any]:
    limits = {name: dict(value) if isinstance(value, dict) else value
              for name, value in settings.RATE_LIMITS.items()}  # fmt: skip
    for name, value in (overrides or {}).items():
        if isinstance(value, dict):
            limits[name] = {**limits.get(name, {}), **value}
        else:
            limits[name] = value
    return limits


def tenant_limits(tenant_id: int) -> dict[str, Any]:
    """The tenant's limits (remembered ``MAX_AGE`` seconds)."""
    now = time.monotonic()
    found = _memo.get(tenant_id)
    if found is not None and now - found[0] < MAX_AGE:
        return found[1]
    from apps.tenants.models import Tenant

    try:
        overrides = Tenant.objects.filter(pk=tenant_id).values_list("limits", flat=True).first()
    except DatabaseError:
        # The database is away (a cached options hit needs none): what was known holds.
        return found[1] if found is not None else merged(None)
    limits = merged(overrides)
    with _lock:
        _memo[tenant_id] = (now, limits)
        if len(_memo) > 10_000:
            _memo.clear()
    return limits


def forget(tenant_id: int | None = None) -> None:
    """Drop what is remembered (a tenant's limits changed in this process; tests)."""
    with _lock:
        if tenant_id is None:
            _memo.clear()
        else:
            _memo.pop(tenant_id, None)


# Quotas made from the limits they were made of (the same dict while it is remembered).
_quotas: dict[tuple[Any, ...], tuple[dict[str, Any], list[Quota]]] = {}


def quotas(thing: str, tenant_id: int, **subjects: object) -> list[Quota]:
    """The quotas one request of ``thing`` counts against: per tenant, and per each subject
    given (``key=`` an API key's id, ``source=`` a data source's id)."""
    limits = tenant_limits(tenant_id)
    memo_key = (thing, tenant_id, *sorted(subjects.items()))
    made = _quotas.get(memo_key)
    if made is not None and made[0] is limits:
        return made[1]
    found = _made_quotas(thing, tenant_id, limits, subjects)
    if len(_quotas) > 10_000:
        _quotas.clear()
    _quotas[memo_key] = (limits, found)
    return found


def _made_quotas(
    thing: str, tenant_id: int, limits: dict[str, Any], subjects: dict[str, object]
) -> list[Quota]:
    numbers = limits.get(thing) or {}
    found = []
    for counter in SHAPE[thing]:
        subject = tenant_id if counter == "tenant" else subjects.get(counter)
        if subject is None:
            continue
        found.append(Quota(scope=f"{thing}:{counter}", subject=subject,
                           limit=int(numbers.get(counter) or 0), who=WHO[counter],
                           what=WHAT[thing]))  # fmt: skip
    return found


def tenant_scalar(name: str, tenant_id: int) -> int:
    return int(tenant_limits(tenant_id).get(name) or 0)
