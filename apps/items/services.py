"""Connected item services: create, update and delete, validated alike for API and pages."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError

from apps.core.codes import ErrorCode
from apps.core.payloads import writable_part
from apps.datasources.models import DataSource
from apps.items.models import ConnectedItem
from apps.items.rendering import validate_option_template, validate_request_templates
from apps.tenants.models import Tenant

# Fields of a read that a client may send back unchanged.
READ_ONLY = ("dependencies", "created_at", "updated_at")
FIELDS = ("key", "name", "datasource", "method", "path", "body", "results_path", "value", "label")


def _datasource(tenant: Tenant, value: Any) -> DataSource:
    candidate = value.pk if isinstance(value, DataSource) else value
    try:
        found = DataSource.objects.filter(tenant=tenant, pk=candidate).first()
    except (ValueError, ValidationError):
        found = None
    if found is None:
        raise ValidationError(
            {"datasource": ValidationError("No such data source.", code=ErrorCode.DOES_NOT_EXIST)}
        )
    return found


def _apply(item: ConnectedItem, data: dict[str, Any]) -> None:
    data = writable_part(data, writable=FIELDS, read_only=READ_ONLY)
    errors: dict[str, list] = {}
    for name in FIELDS:
        if name not in data:
            continue
        value = data[name]
        if name == "datasource":
            try:
                item.datasource = _datasource(item.tenant, value)
            except ValidationError as exc:
                errors.update(exc.error_dict)
            continue
        if value is not None and not isinstance(value, str):
            # Every other field is text (a JSON number or list would reach str methods).
            errors[name] = [ValidationError("Must be a string.", code=ErrorCode.INVALID)]
            continue
        if name == "body":
            item.body = value or None
            continue
        if name == "method":
            value = (value or "GET").upper()
        setattr(item, name, "" if value is None else value)
    if errors:
        raise ValidationError(errors)
    for check in (
        lambda: validate_request_templates(item.path, item.body, item.method),
        lambda: validate_option_template(item.value, "value"),
        lambda: validate_option_template(item.label, "label"),
    ):
        try:
            check()
        except ValidationError as exc:
            errors.update(exc.error_dict)
    try:
        item.full_clean(exclude=["tenant", "datasource"])
    except ValidationError as exc:
        errors.update(exc.error_dict)
    if (
        item.key
        and ConnectedItem.objects.filter(tenant=item.tenant, key=item.key)
        .exclude(pk=item.pk)
        .exists()
    ):
        errors["key"] = [
            ValidationError("Another item of this tenant has this key.", code=ErrorCode.UNIQUE)
        ]
    if errors:
        raise ValidationError(errors)


def item_create(*, tenant: Tenant, data: dict[str, Any]) -> ConnectedItem:
    item = ConnectedItem(tenant=tenant)
    if "datasource" not in data:
        raise ValidationError(
            {"datasource": ValidationError("This field is required.", code=ErrorCode.REQUIRED)}
        )
    _apply(item, data)
    item.save()
    return item


def item_update(*, item: ConnectedItem, data: dict[str, Any]) -> ConnectedItem:
    """Change an item; its cached options become unreachable at once."""
    _apply(item, data)
    item.save()  # increments cache_version and moves the tenant's stamp (StampedModel)
    return item


def item_delete(*, item: ConnectedItem) -> None:
    item.delete()  # moves the tenant's stamp (StampedModel)


def item_unsaved(
    *, tenant: Tenant, data: dict[str, Any], item: ConnectedItem | None = None
) -> ConnectedItem:
    """An item with ``data`` applied but not saved (the live preview)."""
    target = ConnectedItem.objects.get(pk=item.pk) if item else ConnectedItem(tenant=tenant)
    _apply(target, data)
    return target
