"""Data source services: create, update, delete, test and purge, each validated and audited.

Callers validate what a client wrote with ``inputs.datasource_input`` (the API and the configure
page alike) and pass the validated values as keyword arguments; the checks that depend on what
is stored (a unique slug, complete auth settings after a partial write, secrets never following
a data source to a new host) happen here.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.core import signing
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.crypto import constant_time_compare, salted_hmac
from django.utils.text import slugify

from apps.core.codes import ErrorCode
from apps.datasources.auth_settings import (
    AuthInput,
    AuthSettings,
    auth_merge,
    auth_validate,
    secret_destinations,
)
from apps.datasources.event_settings import SECRET_NAMES as EVENT_SECRET_NAMES
from apps.datasources.event_settings import (
    EventsInput,
    events_canonical,
    events_merge,
    events_validate,
)
from apps.datasources.inputs import DEFAULT_BULK_CONCURRENCY, DEFAULT_TIMEOUT
from apps.datasources.models import (
    AuditAction,
    AuditEntry,
    DataSource,
    Status,
    TokenState,
    auth_secrets_unreadable,
    event_secrets_unreadable,
)
from apps.datasources.selectors import DRAFT, abandoned_drafts, unattached
from apps.datasources.signals import datasource_changed
from apps.outbound.auth import get_mode
from apps.tenants.models import ApiKey, Tenant

# Written as given (after validation); auth is merged, see _apply_auth.
PLAIN_FIELDS = ("name", "slug", "base_url", "docs_url", "health_check_path", "timeout_seconds",
                "headers", "ping", "bulk_concurrency")  # fmt: skip
UNSET: Any = object()


def actor_label(actor: Any) -> str:
    key = getattr(actor, "api_key", None)
    if isinstance(key, ApiKey):
        return f"API key “{key.name}” ({key.display_prefix})"
    if actor is not None and getattr(actor, "is_authenticated", False):
        return actor.get_username()
    return "system"


def user_of(actor: Any) -> Any:
    """The user behind ``actor``; None for an API key or the system."""
    return actor if getattr(actor, "pk", None) and not hasattr(actor, "api_key") else None


def audit_record(
    *, datasource: DataSource, action: str, actor: Any, changes: list[str] | None = None,
    summary: str = "",
) -> AuditEntry:  # fmt: skip
    return AuditEntry.objects.create(
        tenant_id=datasource.tenant_id,
        datasource=datasource,  # kept as a name only once the data source is deleted
        datasource_name=datasource.name,
        action=action,
        actor=user_of(actor),
        actor_label=actor_label(actor)[:200],
        changes=sorted(changes or []),
        summary=summary[:500],
    )


def _unique_slug(tenant: Tenant, base: str, exclude_pk: Any = None) -> str:
    base = slugify(base)[:90] or "datasource"
    taken = set(
        DataSource.objects.filter(tenant=tenant, slug__startswith=base)
        .exclude(pk=exclude_pk)
        .values_list("slug", flat=True)
    )
    if base not in taken:
        return base
    n = 2
    while f"{base}-{n}" in taken:
        n += 1
    return f"{base}-{n}"


# --- applying a write ---------------------------------------------------------------------


@dataclass
class Outcome:
    """What a write changed (field names, secrets by name only) and whether stored tokens no
    longer belong to the settings."""

    changed: list[str]
    forget_tokens: bool


@dataclass
class _Before:
    base_url: str
    auth_mode: str
    auth_config: dict[str, Any]
    secrets: dict[str, str]
    unreadable: bool  # stored secrets no configured key decrypts
    plain: dict[str, Any]
    events_config: dict[str, Any]
    event_secrets: dict[str, str]
    events_unreadable: bool


def _before(datasource: DataSource) -> _Before:
    unreadable = bool(datasource.pk) and auth_secrets_unreadable(datasource)
    stored = {} if not datasource.pk or unreadable else dict(datasource.secrets or {})
    events_unreadable = bool(datasource.pk) and event_secrets_unreadable(datasource)
    return _Before(
        base_url=datasource.base_url,
        auth_mode=datasource.auth_mode,
        auth_config=dict(datasource.auth_config or {}),
        secrets=stored,
        unreadable=unreadable,
        plain={name: getattr(datasource, name) for name in PLAIN_FIELDS},
        events_config=dict(datasource.events_config or {}),
        event_secrets={} if events_unreadable else dict(datasource.event_secrets or {}),
        events_unreadable=events_unreadable,
    )


def _apply_plain(datasource: DataSource, changes: dict[str, Any]) -> None:
    slug = changes.get("slug")
    if (
        slug
        and DataSource.objects.filter(tenant_id=datasource.tenant_id, slug=slug)
        .exclude(pk=datasource.pk)
        .exists()
    ):
        raise ValidationError(
            {
                "slug": ValidationError(
                    "Another data source of this tenant has this slug.", code=ErrorCode.UNIQUE
                )
            }
        )
    for name in PLAIN_FIELDS:
        if name in changes and not (name == "slug" and not changes[name]):
            value = changes[name]
            if name == "ping":
                value = {"method": "GET", "path": "", "success_path": "", "success_values": [],
                         **(value or {})}  # fmt: skip
            setattr(datasource, name, value)


def _apply_auth(
    datasource: DataSource, auth: AuthInput | None, before: _Before, *, partial: bool
) -> AuthSettings | None:
    if auth is None:
        return None
    settings = auth_merge(
        old_mode=before.auth_mode,
        old_config=before.auth_config,
        old_secrets=before.secrets,
        auth=auth,
        partial=partial,
    )
    auth_validate(settings)
    datasource.auth_mode, datasource.auth_config = settings.mode, settings.config
    datasource.secrets = settings.secrets
    return settings


def _apply_events(
    datasource: DataSource, given: EventsInput | None, before: _Before
) -> dict[str, str] | None:
    """Merge the written ``events`` settings; the event secrets when the write replaced them
    (unreadable ones are replaced only by a write that sends secrets)."""
    if given is None:
        return None
    if before.events_unreadable and given.secrets:
        # What the unreadable secrets held is unknown: a write that replaces them names each
        # one (a value, or null to clear it), so none is dropped without the writer knowing.
        missing = [name for name in EVENT_SECRET_NAMES if name not in given.secrets]
        if missing:
            raise ValidationError(
                {
                    f"events.{name}": ValidationError(
                        "The stored event secrets cannot be decrypted: send every one of them "
                        f"again ({', '.join(missing)}; null clears one).",
                        code=ErrorCode.SECRETS_REQUIRED,
                    )
                    for name in missing
                }
            )
    config, stored = events_merge(before.events_config, before.event_secrets, given)
    events_validate(config, stored)
    datasource.events_config = config
    if before.events_unreadable and not given.secrets:
        return None
    if stored != before.event_secrets or before.events_unreadable:
        datasource.event_secrets = stored
        return stored
    return None


def _check_secrets_stay(
    datasource: DataSource, before: _Before, settings: AuthSettings | None
) -> None:
    """Stored secrets never follow a data source to a new host."""
    if not datasource.pk or not before.base_url:
        return
    if settings is None:
        kept = {"the stored secrets"} if before.unreadable else set(before.secrets)
    else:
        kept = {name for name in before.secrets if name in settings.secrets}
        kept -= settings.sent_secrets
    if not kept:
        return
    hosts_before = secret_destinations(before.base_url, before.auth_mode, before.auth_config)
    hosts_after = secret_destinations(
        datasource.base_url, datasource.auth_mode, datasource.auth_config
    )
    if not hosts_after <= hosts_before:
        field = "base_url" if datasource.base_url != before.base_url else "auth"
        raise ValidationError(
            {
                field: ValidationError(
                    f"The secrets go to a new host: send them again ({', '.join(sorted(kept))}).",
                    code=ErrorCode.SECRETS_REQUIRED,
                    params={"secrets": sorted(kept)},
                )
            }
        )


def _outcome(
    datasource: DataSource,
    before: _Before,
    settings: AuthSettings | None,
    event_secrets: dict[str, str] | None,
) -> Outcome:
    changed = [name for name in PLAIN_FIELDS if getattr(datasource, name) != before.plain[name]]
    if datasource.auth_mode != before.auth_mode or datasource.auth_config != before.auth_config:
        changed.append("auth")
    after = settings.secrets if settings is not None else before.secrets
    for name in sorted(set(before.secrets) | set(after)):
        if before.secrets.get(name) != after.get(name):
            changed.append(f"auth.{name} (secret)")
    if settings is not None and before.unreadable:
        changed.append("auth (unreadable secrets replaced)")
    if events_canonical(datasource.events_config) != events_canonical(before.events_config):
        changed.append("events")
    events_after = before.event_secrets if event_secrets is None else event_secrets
    for name in sorted(set(before.event_secrets) | set(events_after)):
        if before.event_secrets.get(name) != events_after.get(name):
            changed.append(f"events.{name} (secret)")
    if event_secrets is not None and before.events_unreadable:
        changed.append("events (unreadable secrets replaced)")
    mode = get_mode(datasource.auth_mode)
    hosts_changed = secret_destinations(
        before.base_url, before.auth_mode, before.auth_config
    ) != secret_destinations(datasource.base_url, datasource.auth_mode, datasource.auth_config)
    forget = bool(datasource.pk) and (
        datasource.auth_mode != before.auth_mode
        or mode.token_relevant(datasource.auth_config)
        != get_mode(before.auth_mode).token_relevant(before.auth_config)
        or before.secrets != after
        or (before.unreadable and settings is not None)
        or hosts_changed
    )
    return Outcome(changed=changed, forget_tokens=forget)


def _apply(datasource: DataSource, changes: dict[str, Any], *, partial: bool) -> Outcome:
    """Apply validated ``changes`` to ``datasource`` (unsaved); ValidationError names each
    problem that depends on what is stored."""
    before = _before(datasource)
    _apply_plain(datasource, changes)
    settings = _apply_auth(datasource, changes.get("auth"), before, partial=partial)
    event_secrets = _apply_events(datasource, changes.get("events"), before)
    _check_secrets_stay(datasource, before, settings)
    return _outcome(datasource, before, settings, event_secrets)


def _given(**values: Any) -> dict[str, Any]:
    return {name: value for name, value in values.items() if value is not UNSET}


# --- services -----------------------------------------------------------------------------


def datasource_create(
    *,
    tenant: Tenant,
    actor: Any,
    name: str,
    base_url: str = "",
    type: str = "rest",
    slug: str = "",
    docs_url: str = "",
    health_check_path: str = "",
    timeout_seconds: int = DEFAULT_TIMEOUT,
    headers: list[dict[str, str]] | None = None,
    bulk_concurrency: int = DEFAULT_BULK_CONCURRENCY,
    auth: AuthInput | None = None,
    ping: dict[str, Any] | None = None,
    events: EventsInput | None = None,
) -> DataSource:
    """A new data source (a wizard's first step gives the name alone)."""
    datasource = DataSource(tenant=tenant, type=type)
    _apply(
        datasource,
        dict(
            name=name,
            base_url=base_url,
            slug=slug,
            docs_url=docs_url,
            health_check_path=health_check_path,
            timeout_seconds=timeout_seconds,
            headers=headers or [],
            bulk_concurrency=bulk_concurrency,
            ping=ping or {},
            auth=auth or AuthInput(mode="none"),
            events=events,
        ),
        partial=False,
    )
    if not datasource.slug:
        datasource.slug = _unique_slug(tenant, datasource.name)
    with transaction.atomic():
        datasource.created_by = user_of(actor)
        datasource.save()
        audit_record(datasource=datasource, action=AuditAction.CREATED, actor=actor)
    return datasource


def datasource_update(
    *,
    datasource: DataSource,
    actor: Any,
    name: str = UNSET,
    type: str = UNSET,
    slug: str = UNSET,
    base_url: str = UNSET,
    docs_url: str = UNSET,
    health_check_path: str = UNSET,
    timeout_seconds: int = UNSET,
    headers: list[dict[str, str]] = UNSET,
    bulk_concurrency: int = UNSET,
    auth: AuthInput = UNSET,
    ping: dict[str, Any] = UNSET,
    events: EventsInput = UNSET,
) -> DataSource:
    """Apply a partial change; omitted secrets keep their value, null clears them."""
    changes = _given(name=name, slug=slug, base_url=base_url, docs_url=docs_url,
                     health_check_path=health_check_path, timeout_seconds=timeout_seconds,
                     headers=headers, bulk_concurrency=bulk_concurrency, auth=auth, ping=ping,
                     events=events)  # fmt: skip
    outcome = _apply(datasource, changes, partial=True)
    if not outcome.changed:
        return datasource
    with transaction.atomic():
        datasource.save()  # increments cache_version and moves the stamps (StampedModel)
        if outcome.forget_tokens:
            TokenState.objects.filter(datasource_id=datasource.pk).delete()
        audit_record(
            datasource=datasource, action=AuditAction.CHANGED, actor=actor,
            changes=outcome.changed,
        )  # fmt: skip
    return datasource


def datasource_preview(*, datasource: DataSource, **changes: Any) -> tuple[DataSource, bool]:
    """An unsaved copy of ``datasource`` with ``changes`` applied, for testing before saving,
    and whether its stored tokens still belong to it (False when the auth settings changed)."""
    copy = DataSource.objects.get(pk=datasource.pk)
    outcome = _apply(copy, _given(**changes), partial=True)
    return copy, not outcome.forget_tokens


def datasource_delete(*, datasource: DataSource, actor: Any, summary: str = "") -> None:
    with transaction.atomic():
        audit_record(
            datasource=datasource, action=AuditAction.DELETED, actor=actor, summary=summary
        )
        datasource_id, tenant_id = datasource.pk, datasource.tenant_id
        datasource.delete()
    # What was derived from it (cached options) goes too; receivers: apps.items.
    datasource_changed.send(
        sender=DataSource, datasource_id=datasource_id, tenant_id=tenant_id, purge=True
    )


def datasource_purge_cache(*, datasource: DataSource, actor: Any) -> int:
    """Drop every cached options answer of ``datasource``; returns how many were removed."""
    # A new cache version makes every cached answer unreachable at once; the purge frees the
    # memory now rather than at expiry.
    purged = datasource_cache_invalidate(
        datasource_id=datasource.pk, tenant_id=datasource.tenant_id
    )
    audit_record(
        datasource=datasource, action=AuditAction.CACHE_PURGED, actor=actor,
        summary=f"{purged} cached answers removed",
    )  # fmt: skip
    return purged


def datasource_cache_invalidate(
    *, datasource_id: Any, tenant_id: Any, free: bool = True, pipeline: Any = None
) -> int:
    """Make every cached options answer of a data source unreachable at once (an inbound event
    says the upstream's data changed; an admin purged the cache) and, with ``free``, delete
    them now; returns how many were deleted. With a Redis ``pipeline`` (and ``free`` False) the
    receivers only add their commands to it, for the caller to send in its own round trip.
    Receivers: apps.items (StampUnavailable when the shared cache cannot be reached)."""
    replies = datasource_changed.send(
        sender=DataSource, datasource_id=datasource_id, tenant_id=tenant_id, purge=True,
        free=free, pipeline=pipeline,
    )  # fmt: skip
    return sum(count for _, count in replies if isinstance(count, int))


def datasource_inbound_rotate(*, datasource: DataSource, actor: Any) -> DataSource:
    """A new inbound URL; the old one answers 404 from now on."""
    with transaction.atomic():
        datasource.new_inbound_token()
        datasource.save(update_fields=["inbound_token", "inbound_token_digest", "updated_at"])
        audit_record(
            datasource=datasource, action=AuditAction.CHANGED, actor=actor,
            changes=["events.inbound_url"], summary="new inbound URL",
        )  # fmt: skip
    return datasource


def _set_status(datasource: DataSource, *, ok: bool, message: str, tested_at: datetime) -> None:
    DataSource.objects.filter(pk=datasource.pk).update(
        status=Status.OK if ok else Status.NEEDS_ATTENTION,
        last_error="" if ok else message[:1000],
        last_tested_at=tested_at,
    )


def datasource_record_test(*, datasource: DataSource, ok: bool, message: str, actor: Any,
                           saved: bool) -> AuditEntry:  # fmt: skip
    """Record a test's outcome: the status (for the saved configuration) and the audit."""
    if saved:
        _set_status(datasource, ok=ok, message=message, tested_at=timezone.now())
    return audit_record(
        datasource=datasource, action=AuditAction.TESTED, actor=actor,
        summary=("passed" if ok else f"failed: {message}") + ("" if saved else " (unsaved settings)"),
    )  # fmt: skip


# --- a test of typed settings, then saved as they were -------------------------------------
#
# "Test connection" on the configure page tests what is typed, without saving it, so it does not
# judge the saved settings. When the very settings it tested are then saved, its outcome is the
# saved settings' status: the test hands the page a signed token with a keyed digest of what it
# tested (no value, secret or not, travels in it), and the save compares it with what it saves.

TESTED_SALT = "plugboard.datasources.tested-settings"
TESTED_MAX_AGE = timedelta(minutes=30)


def _tested_digest(datasource: DataSource, data: dict[str, Any], actor: Any) -> str:
    """A keyed digest of connection settings as typed (events excluded: the test ignores them),
    bound to the data source as stored now (its cache version moves on every change) and to the
    person who tested."""
    settings = {key: value for key, value in data.items() if key != "events"}
    text = json.dumps(settings, sort_keys=True, default=str)
    bound = f"{datasource.pk}:{datasource.cache_version}:{getattr(actor, 'pk', '')}:{text}"
    return salted_hmac(TESTED_SALT, bound, algorithm="sha256").hexdigest()


def tested_settings_token(
    *, datasource: DataSource, data: dict[str, Any], actor: Any, ok: bool, message: str
) -> str:
    """What a test of typed ``data`` gives the page, for the save that may follow."""
    return signing.dumps(
        {"d": _tested_digest(datasource, data, actor), "ok": ok, "m": message[:1000],
         "at": timezone.now().isoformat()},
        salt=TESTED_SALT, compress=True,
    )  # fmt: skip


def tested_settings_outcome(
    *, datasource: DataSource, data: dict[str, Any], actor: Any, token: str
) -> dict[str, Any] | None:
    """The outcome of the test ``token`` stands for, when it tested exactly ``data`` on
    ``datasource`` as stored now (call before saving); else None."""
    if not token:
        return None
    try:
        tested = signing.loads(token, salt=TESTED_SALT, max_age=TESTED_MAX_AGE.total_seconds())
    except signing.BadSignature:
        return None
    if not isinstance(tested, dict) or not constant_time_compare(
        str(tested.get("d", "")), _tested_digest(datasource, data, actor)
    ):
        return None
    return tested


def datasource_status_from_test(*, datasource: DataSource, tested: dict[str, Any]) -> None:
    """The saved settings are the ones a test just tested: its outcome is their status (the
    test itself was audited when it ran)."""
    try:
        tested_at = datetime.fromisoformat(str(tested["at"]))
    except (KeyError, ValueError):
        tested_at = timezone.now()
    _set_status(
        datasource, ok=bool(tested.get("ok")), message=str(tested.get("m", "")),
        tested_at=tested_at,
    )  # fmt: skip


# --- drafts -------------------------------------------------------------------------------

DRAFT_LIFETIME = timedelta(hours=24)


def datasource_draft_rename(*, datasource: DataSource, actor: Any, name: str) -> DataSource:
    """The wizard's name step again (Back from the connection step): the draft is renamed and,
    as when it was created, its slug follows the name."""
    slug = _unique_slug(datasource.tenant, name, exclude_pk=datasource.pk)
    return datasource_update(datasource=datasource, actor=actor, name=name, slug=slug)


def datasource_draft_discard(*, datasource: DataSource, actor: Any) -> bool:
    """The wizard's Cancel: delete ``datasource`` if it is still a draft that nothing uses;
    False (and nothing deleted) otherwise."""
    with transaction.atomic():
        draft = (
            DataSource.objects.filter(DRAFT, unattached(), pk=datasource.pk)
            .select_for_update()
            .first()
        )
        if draft is None:
            return False
        datasource_delete(
            datasource=draft, actor=actor, summary="draft discarded (setup cancelled)"
        )
    return True


def datasource_drafts_purge(*, lifetime: timedelta = DRAFT_LIFETIME) -> int:
    """Delete drafts (never configured) older than ``lifetime`` that nothing uses: what an
    abandoned wizard left. Each deletion is audited. Returns how many went."""
    before = timezone.now() - lifetime
    purged = 0
    for pk in list(abandoned_drafts(created_before=before).values_list("pk", flat=True)):
        with transaction.atomic():
            # Checked again under the row's lock: a draft configured, or given an item, since
            # the query above is kept (an item's insert waits for this lock, or was seen).
            datasource = (
                abandoned_drafts(created_before=before).select_for_update().filter(pk=pk).first()
            )
            if datasource is None:
                continue
            datasource_delete(
                datasource=datasource, actor=None,
                summary=f"draft never configured, removed after {lifetime.total_seconds() / 3600:g} hours",
            )  # fmt: skip
        purged += 1
    return purged
