"""Tenant, membership and API key services."""

from __future__ import annotations

import copy
import logging
import secrets
import threading
import time
from collections import OrderedDict
from datetime import timedelta
from urllib.parse import urlsplit

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.utils import timezone

from apps.core import stamps
from apps.tenants.keys import generate_key, hash_key, key_matches, parse_prefix
from apps.tenants.models import ApiKey, ApiKeyScope, Membership, Role, Tenant

logger = logging.getLogger(__name__)

# How stale `last_used_at` may get: one write per key per minute, not one per request.
_LAST_USED_RESOLUTION = timedelta(seconds=60)


def tenant_create(*, slug: str, name: str) -> Tenant:
    return tenant_save(tenant=Tenant(slug=slug, name=name))


def tenant_save(*, tenant: Tenant) -> Tenant:
    """Create or change ``tenant`` (validated; what processes remember of it is dropped)."""
    tenant.full_clean()
    tenant.save()
    return tenant


def tenant_delete(*, tenant: Tenant) -> None:
    """Delete ``tenant`` and everything it owns (keys stop working at once)."""
    tenant.delete()


def membership_remove(*, membership: Membership) -> None:
    membership.delete()


def membership_set(*, tenant: Tenant, user: AbstractBaseUser, role: str) -> Membership:
    """Make ``user`` a member of ``tenant`` with ``role`` (adding or changing the membership)."""
    if role not in Role.values:
        raise ValidationError(
            {"role": f"Unknown role {role!r}; use one of {', '.join(Role.values)}."}
        )
    membership, _ = Membership.objects.update_or_create(
        user=user, tenant=tenant, defaults={"role": role}
    )
    return membership


def user_get_or_create(
    *, username: str, superuser: bool = False
) -> tuple[AbstractBaseUser, str | None]:
    """The user named ``username``; a new one gets a generated password, returned once."""
    user_model = get_user_model()
    user = user_model.objects.filter(username=username).first()
    if user is not None:
        return user, None
    password = secrets.token_urlsafe(12)
    user = user_model(username=username, is_staff=superuser, is_superuser=superuser)
    user.set_password(password)
    user.full_clean()
    user.save()
    return user, password


def normalize_origin(value: str) -> str:
    """``https://Example.com:443/`` → ``https://example.com``; anything not an origin raises."""
    raw = value.strip()
    parts = urlsplit(raw)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValidationError(f"{raw!r} is not an origin: write it as https://host[:port].")
    if parts.path not in ("", "/") or parts.query or parts.fragment or parts.username:
        raise ValidationError(f"{raw!r} is not an origin: leave out any path, query or user.")
    port = parts.port
    default_port = 443 if parts.scheme == "https" else 80
    host = parts.hostname.lower()
    if ":" in host:
        host = f"[{host}]"
    return f"{parts.scheme}://{host}" + (f":{port}" if port and port != default_port else "")


def api_key_create(
    *,
    tenant: Tenant,
    scope: str,
    name: str = "",
    origins: list[str] | None = None,
    created_by: AbstractBaseUser | None = None,
) -> tuple[ApiKey, str]:
    """Create a key and return it with its raw value, which is never available again."""
    if scope not in ApiKeyScope.values:
        raise ValidationError({"scope": f"Unknown scope {scope!r}; use admin or widget."})
    normalized: list[str] = []
    for origin in origins or []:
        try:
            item = normalize_origin(origin)
        except ValidationError as exc:
            raise ValidationError({"allowed_origins": exc.messages}) from exc
        if item not in normalized:
            normalized.append(item)
    if normalized and scope != ApiKeyScope.WIDGET:
        raise ValidationError({"allowed_origins": "Allowed origins apply to widget keys only."})
    raw, prefix = generate_key()
    key = ApiKey(
        tenant=tenant,
        name=name or f"{scope} key",
        scope=scope,
        prefix=prefix,
        key_hash=hash_key(raw),
        allowed_origins=normalized,
        created_by=created_by if created_by and created_by.is_authenticated else None,
    )
    key.full_clean()
    key.save()
    return key, raw


def api_key_revoke(*, api_key: ApiKey) -> ApiKey:
    if api_key.revoked_at is None:
        api_key.revoked_at = timezone.now()
        api_key.save(update_fields=["revoked_at"])  # moves the tenant's stamp (StampedModel)
    return api_key


# Verified keys are remembered in process memory (by the SHA-256 of the key, never the key), so
# that a request needs no database query; each is checked against its tenant's stamp, which a
# revocation bumps (see apps.core.stamps). A remembered key is also re-read after this many seconds.
REMEMBER_SECONDS = 300
MAX_REMEMBERED = 1024
_remembered: OrderedDict[str, tuple[ApiKey, str, float]] = OrderedDict()
_remembered_lock = threading.Lock()


def recall_key(raw: str) -> tuple[ApiKey, tuple[str, str]] | None:
    """The remembered key for ``raw`` and its (stamp, expected value), unchecked, or None: no
    database query and no round trip. The caller must check the stamp before trusting it, and
    must not change the key (it is shared by threads)."""
    with _remembered_lock:
        remembered = _remembered.get(hash_key(raw))
    if remembered is None or time.monotonic() - remembered[2] >= REMEMBER_SECONDS:
        return None
    key, stamp, _ = remembered
    return key, (stamps.tenant_stamp(key.tenant_id), stamp)


def remembered_key(raw: str) -> ApiKey | None:
    """Like ``recall_key``, as a private copy carrying ``stamp_check``."""
    recalled = recall_key(raw)
    if recalled is None:
        return None
    unchecked = copy.copy(recalled[0])
    unchecked.stamp_check = recalled[1]
    return unchecked


def api_key_authenticate(*, raw: str, verify: bool = True) -> ApiKey | None:
    """The active key whose value is ``raw``, or None.

    With ``verify=False`` a remembered key is returned unchecked, with ``stamp_check`` =
    (stamp name, expected value) set on it: the caller must read that stamp (in a round trip it
    makes anyway) and call again with ``verify=True`` when it differs.
    """
    prefix = parse_prefix(raw)
    if prefix is None:
        return None
    digest = hash_key(raw)
    with _remembered_lock:
        remembered = _remembered.get(digest)
    if remembered is not None:
        key, stamp, loaded_at = remembered
        if time.monotonic() - loaded_at < REMEMBER_SECONDS:
            if not verify:
                return remembered_key(raw)
            if stamps.read(stamps.tenant_stamp(key.tenant_id)) == stamp:
                return key
        with _remembered_lock:
            _remembered.pop(digest, None)
    key = ApiKey.objects.select_related("tenant").filter(prefix=prefix).first()
    if key is None:
        return None
    # The stamp is read before the row that is remembered: a revocation in between makes the
    # memory look stale rather than fresh.
    stamp_before = stamps.current(stamps.tenant_stamp(key.tenant_id))
    if stamp_before is not None:
        key = ApiKey.objects.select_related("tenant").filter(pk=key.pk).first()
    if key is None or not key.is_active or not key_matches(raw, key.key_hash):
        return None
    now = timezone.now()
    if key.last_used_at is None or now - key.last_used_at > _LAST_USED_RESOLUTION:
        ApiKey.objects.filter(pk=key.pk).update(last_used_at=now)
        key.last_used_at = now
    if stamp_before is not None:
        with _remembered_lock:
            _remembered[digest] = (key, stamp_before, time.monotonic())
            while len(_remembered) > MAX_REMEMBERED:
                _remembered.popitem(last=False)
    return key


def origin_allowed(*, api_key: ApiKey, origin: str) -> bool:
    try:
        return normalize_origin(origin) in api_key.allowed_origins
    except ValidationError:
        return False
