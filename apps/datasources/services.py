"""Data source services: create, update, delete, test and purge, each validated and audited."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F
from django.utils import timezone
from django.utils.text import slugify

from apps.core.payloads import writable_part
from apps.datasources import config as cfg
from apps.datasources.models import (
    AuditAction,
    AuditEntry,
    DataSource,
    Status,
    secrets_unreadable,
)
from apps.datasources.signals import datasource_changed
from apps.outbound.tokens import token_forget
from apps.tenants.models import ApiKey, Tenant

EDITABLE = ("name", "slug", "base_url", "docs_url", "health_check_path", "timeout_seconds",
            "headers", "auth", "ping")  # fmt: skip
# Fields of a read that a client may send back unchanged ("type" is checked: rest only).
READ_ONLY = ("id", "type", "status", "last_error", "last_tested_at", "created_at", "updated_at")
SIMPLE_FIELDS = ("name", "slug", "base_url", "docs_url", "health_check_path", "timeout_seconds",
                 "headers", "ping")  # fmt: skip
CLEANERS = {
    "base_url": cfg.clean_base_url,
    "docs_url": cfg.clean_docs_url,
    "health_check_path": lambda value: cfg.clean_relative_path(value, "health_check_path"),
    "timeout_seconds": cfg.clean_timeout,
    "headers": cfg.clean_headers,
    "ping": cfg.clean_ping,
}
# Auth settings whose change makes stored tokens meaningless (expired_when does not).
_TOKEN_RELEVANT = ("provider", "client_id", "token_url", "authorize_url", "scope", "audience",
                   "client_auth", "refresh", "in", "header_name", "scheme", "param_name")  # fmt: skip


def actor_label(actor: Any) -> str:
    key = getattr(actor, "api_key", None)
    if isinstance(key, ApiKey):
        return f"API key “{key.name}” ({key.display_prefix})"
    if actor is not None and getattr(actor, "is_authenticated", False):
        return actor.get_username()
    return "system"


def _user_of(actor: Any) -> Any:
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
        actor=_user_of(actor),
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


def _apply(
    datasource: DataSource, data: dict[str, Any], *, partial: bool
) -> tuple[list[str], bool]:
    """Validate ``data`` and apply it to ``datasource`` (unsaved). Returns (changed field names,
    whether stored tokens must be dropped). Raises ValidationError naming each field."""
    if "type" in data and data["type"] != "rest":
        raise ValidationError(
            {"type": ValidationError("The only data source type is 'rest'.", code="invalid_choice")}
        )
    data = writable_part(data, writable=EDITABLE, read_only=READ_ONLY)
    errors: dict[str, list] = {}

    def attempt(fn, *args):
        try:
            return fn(*args)
        except ValidationError as exc:
            for key, value in exc.error_dict.items():
                errors.setdefault(key, []).extend(value)
            return None

    before = {name: getattr(datasource, name) for name in SIMPLE_FIELDS}
    # Secrets no configured key decrypts are kept as they are unless new ones replace them.
    unreadable = bool(datasource.pk) and secrets_unreadable(datasource)
    old = {
        "base_url": datasource.base_url,
        "auth_mode": datasource.auth_mode,
        "auth_config": dict(datasource.auth_config or {}),
        "secrets": dict(datasource.secrets or {}) if datasource.pk and not unreadable else {},
    }
    new_secrets, replaced = old["secrets"], False
    if "name" in data:
        name = (data["name"] or "").strip() if isinstance(data["name"], str) else ""
        if not name:
            errors.setdefault("name", []).append(ValidationError("Give the data source a name."))
        elif len(name) > 200:
            errors.setdefault("name", []).append(ValidationError("At most 200 characters."))
        else:
            datasource.name = name
    if data.get("slug"):
        slug = data["slug"]
        if not isinstance(slug, str) or slugify(slug) != slug or len(slug) > 100:
            errors.setdefault("slug", []).append(
                ValidationError("Use lowercase letters, digits and hyphens.", code="invalid_slug")
            )
        elif (
            DataSource.objects.filter(tenant_id=datasource.tenant_id, slug=slug)
            .exclude(pk=datasource.pk)
            .exists()
        ):
            errors.setdefault("slug", []).append(
                ValidationError("Another data source of this tenant has this slug.", code="unique")
            )
        else:
            datasource.slug = slug
    for name, clean in CLEANERS.items():
        if name in data:
            value = attempt(clean, data[name])
            if value is not None:
                setattr(datasource, name, value)

    sent_secrets: set[str] = set()
    if "auth" in data:
        auth = data["auth"]
        if not isinstance(auth, dict):
            errors.setdefault("auth", []).append(ValidationError("auth must be an object."))
        else:
            merged = attempt(
                lambda: cfg.merge_auth(
                    old_mode=old["auth_mode"], old_config=old["auth_config"],
                    old_secrets=old["secrets"], auth=auth, partial=partial,
                )
            )  # fmt: skip
            if merged is not None:
                mode, config, secrets, sent_secrets = merged
                if attempt(cfg.validate_auth, mode, config, secrets) is None and not any(
                    k.startswith("auth") for k in errors
                ):
                    datasource.auth_mode, datasource.auth_config = mode, config
                    datasource.secrets = new_secrets = secrets
                    replaced = True
    if errors:
        raise ValidationError(errors)

    # Stored secrets never follow a data source to a new host.
    kept = {name for name in old["secrets"] if name in new_secrets} - sent_secrets
    if unreadable and not replaced:
        kept = {"the stored secrets"}
    if datasource.pk and kept and old["base_url"]:
        hosts_before = cfg.secret_destinations(
            old["base_url"], old["auth_mode"], old["auth_config"]
        )
        hosts_after = cfg.secret_destinations(
            datasource.base_url, datasource.auth_mode, datasource.auth_config
        )
        if not hosts_after <= hosts_before:
            field = "base_url" if datasource.base_url != old["base_url"] else "auth"
            names = ", ".join(sorted(kept))
            raise ValidationError(
                {
                    field: ValidationError(
                        f"The secrets go to a new host: send them again ({names}).",
                        code="secrets_required",
                        params={"secrets": sorted(kept)},
                    )
                }
            )

    changed = [name for name in SIMPLE_FIELDS if getattr(datasource, name) != before[name]]
    if datasource.auth_mode != old["auth_mode"] or datasource.auth_config != old["auth_config"]:
        changed.append("auth")
    for name in sorted(set(old["secrets"]) | set(new_secrets)):
        if old["secrets"].get(name) != new_secrets.get(name):
            changed.append(f"auth.{name} (secret)")

    hosts_changed = cfg.secret_destinations(
        old["base_url"], old["auth_mode"], old["auth_config"]
    ) != (
        cfg.secret_destinations(datasource.base_url, datasource.auth_mode, datasource.auth_config)
    )
    relevant = lambda c: {k: c.get(k) for k in _TOKEN_RELEVANT}  # noqa: E731
    forget = bool(datasource.pk) and (
        datasource.auth_mode != old["auth_mode"]
        or relevant(datasource.auth_config) != relevant(old["auth_config"])
        or old["secrets"] != new_secrets
        or (unreadable and replaced)
        or hosts_changed
    )
    return changed, forget


def datasource_create(
    *, tenant: Tenant, data: dict[str, Any], actor: Any, require_connection: bool = True
) -> DataSource:
    """A new data source from ``data`` (the contract's write shape)."""
    if require_connection and "base_url" not in data:
        raise ValidationError(
            {"base_url": ValidationError("This field is required.", code="required")}
        )
    if not isinstance(data.get("name"), str) or not data["name"].strip():
        raise ValidationError(
            {"name": ValidationError("Give the data source a name.", code="required")}
        )
    datasource = DataSource(tenant=tenant, type="rest")
    _apply(datasource, data, partial=False)
    if not datasource.slug:
        datasource.slug = _unique_slug(tenant, datasource.name)
    with transaction.atomic():
        datasource.created_by = _user_of(actor)
        datasource.save()
        audit_record(datasource=datasource, action=AuditAction.CREATED, actor=actor)
    return datasource


def datasource_update(*, datasource: DataSource, data: dict[str, Any], actor: Any) -> DataSource:
    """Apply a partial change; omitted secrets keep their value, null clears them."""
    changed, forget = _apply(datasource, data, partial=True)
    if not changed:
        return datasource
    with transaction.atomic():
        datasource.save()  # increments cache_version and moves the stamps (StampedModel)
        if forget:
            token_forget(datasource)
        audit_record(
            datasource=datasource, action=AuditAction.CHANGED, actor=actor, changes=changed
        )
        datasource_changed.send(sender=DataSource, datasource=datasource)
    return datasource


def datasource_delete(*, datasource: DataSource, actor: Any) -> None:
    from apps.items.cache.indexes import purge_datasource

    with transaction.atomic():
        audit_record(datasource=datasource, action=AuditAction.DELETED, actor=actor)
        datasource_id = datasource.pk
        datasource_changed.send(sender=DataSource, datasource=datasource)
        datasource.delete()
    purge_datasource(datasource_id)


def datasource_purge_cache(*, datasource: DataSource, actor: Any) -> int:
    """Drop every cached options answer of ``datasource``; returns how many were removed."""
    from apps.items.cache.indexes import purge_datasource

    DataSource.objects.filter(pk=datasource.pk).update(cache_version=F("cache_version") + 1)
    datasource.refresh_from_db(fields=["cache_version"])
    datasource_changed.send(sender=DataSource, datasource=datasource)
    purged = purge_datasource(datasource.pk)
    audit_record(
        datasource=datasource, action=AuditAction.CACHE_PURGED, actor=actor,
        summary=f"{purged} cached answers removed",
    )  # fmt: skip
    return purged


def datasource_preview(*, datasource: DataSource, data: dict[str, Any]) -> tuple[DataSource, bool]:
    """An unsaved copy of ``datasource`` with ``data`` applied, for testing before saving, and
    whether its stored tokens still belong to it (False when the auth settings changed)."""
    copy = DataSource.objects.get(pk=datasource.pk)
    _, forget = _apply(copy, data, partial=True)
    return copy, not forget


def datasource_record_test(*, datasource: DataSource, ok: bool, message: str, actor: Any,
                           saved: bool) -> None:  # fmt: skip
    """Record a test's outcome: the status (for the saved configuration) and the audit."""
    if saved:
        DataSource.objects.filter(pk=datasource.pk).update(
            status=Status.OK if ok else Status.NEEDS_ATTENTION,
            last_error="" if ok else message[:1000],
            last_tested_at=timezone.now(),
        )
    audit_record(
        datasource=datasource, action=AuditAction.TESTED, actor=actor,
        summary=("passed" if ok else f"failed: {message}") + ("" if saved else " (unsaved settings)"),
    )  # fmt: skip
