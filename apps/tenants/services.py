"""Tenant, membership and API key services."""

from __future__ import annotations

import logging
import secrets
from datetime import timedelta
from urllib.parse import urlsplit

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from apps.core import stamps
from apps.core.codes import ErrorCode
from apps.core.memo import Remembered, StampedMemo
from apps.tenants import limits
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
    limits.forget(tenant.pk)
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


WIDGET_ORIGIN_REQUIRED = (
    "A widget key needs at least one allowed origin: it answers browsers only on the origins "
    "listed, so without one no web page could use it. Add the origin of the page that shows "
    "the widget, like https://intranet.example.com."
)


def _name_taken(tenant: Tenant, name: str) -> bool:
    return ApiKey.objects.filter(tenant=tenant, revoked_at__isnull=True, name__iexact=name).exists()


def _default_name(tenant: Tenant, scope: str) -> str:
    """``widget key``, else ``widget key 2``, ``widget key 3``…: free among the active keys."""
    base = f"{scope} key"
    name, number = base, 1
    while _name_taken(tenant, name):
        number += 1
        name = f"{base} {number}"
    return name


def api_key_create(
    *,
    tenant: Tenant,
    scope: str,
    name: str = "",
    origins: list[str] | None = None,
    created_by: AbstractBaseUser | None = None,
    widget_origin_required: bool = False,
) -> tuple[ApiKey, str]:
    """Create a key and return it with its raw value, which is never available again.

    Names are unique (ignoring case) among the tenant's active keys; a revoked key's name is
    free again. A widget key without an allowed origin can serve no browser page (every
    browser call carries an Origin header), so the page and the API refuse one
    (``widget_origin_required``); the ``create_api_key`` command keeps the contract's optional
    ``--origin``, for a server that calls the options endpoint without an Origin."""
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
    if widget_origin_required and scope == ApiKeyScope.WIDGET and not normalized:
        raise ValidationError(
            {"allowed_origins": ValidationError(WIDGET_ORIGIN_REQUIRED, code=ErrorCode.REQUIRED)}
        )
    name = (name or "").strip()
    with transaction.atomic():
        # One creation at a time per tenant, so that two requests cannot both take a free name.
        Tenant.objects.select_for_update().filter(pk=tenant.pk).first()
        if not name:
            name = _default_name(tenant, scope)
        elif _name_taken(tenant, name):
            raise ValidationError(
                {
                    "name": ValidationError(
                        f"An active key of this tenant is already named “{name}”: give this "
                        "one another name (or revoke the other key first).",
                        code=ErrorCode.UNIQUE,
                    )
                }
            )
        raw, prefix = generate_key()
        key = ApiKey(
            tenant=tenant,
            name=name,
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


# Keys are remembered in process memory (by the SHA-256 of the key, never the key), so that a
# request needs no database query; each under its tenant's stamp, which any change to the key
# moves (see apps.core.stamps), and re-read after five minutes whatever the stamp says.
API_KEYS: StampedMemo[str, ApiKey] = StampedMemo(size=1024, max_age=300)


def api_key_recall(*, raw: str) -> Remembered[ApiKey] | None:
    """The key this process remembers for ``raw``, unconfirmed (no query, no round trip): the
    caller confirms it with its stamp, read in a round trip it makes anyway, before trusting it."""
    return API_KEYS.recall(hash_key(raw))


def api_key_authenticate(*, raw: str) -> ApiKey | None:
    """The active key whose value is ``raw``, or None: remembered while its stamp holds, else
    read from the database."""
    prefix = parse_prefix(raw)
    if prefix is None:
        return None
    digest = hash_key(raw)
    remembered = API_KEYS.confirmed(digest)
    if remembered is not None:
        return remembered
    key = ApiKey.objects.select_related("tenant").filter(prefix=prefix).first()
    if key is None:
        return None
    stamp = stamps.tenant_stamp(key.tenant_id)
    stamp_value = stamps.current(stamp)
    if stamp_value is not None:
        # Read again after the stamp: a revocation in between makes the memory look stale
        # rather than fresh.
        key = ApiKey.objects.select_related("tenant").filter(pk=key.pk).first()
    if key is None or not key.is_active or not key_matches(raw, key.key_hash):
        return None
    now = timezone.now()
    if key.last_used_at is None or now - key.last_used_at > _LAST_USED_RESOLUTION:
        ApiKey.objects.filter(pk=key.pk).update(last_used_at=now)
        key.last_used_at = now
    API_KEYS.remember(digest, key, stamp=stamp, stamp_value=stamp_value)
    return key


def origin_allowed(*, api_key: ApiKey, origin: str) -> bool:
    try:
        return normalize_origin(origin) in api_key.allowed_origins
    except ValidationError:
        return False
