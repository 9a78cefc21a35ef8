"""Connected item services: create, update and delete, validated alike for API and pages."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from django.core.exceptions import ValidationError
from django.utils.html import escape

from apps.core.codes import ErrorCode
from apps.core.payloads import writable_part
from apps.datasources.models import DataSource
from apps.items.models import ConnectedItem
from apps.items.rendering import (
    REFERENCE,
    dependencies,
    validate_option_template,
    validate_request_templates,
)
from apps.outbound.paths import get_path
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


@dataclass(frozen=True)
class ItemUsage:
    """How to use an item from elsewhere: its options URL and the widget's embed snippet."""

    options_url: str
    snippet: str
    dependencies: list[str]


def item_usage(*, item: ConnectedItem, api_url: str, widget_url: str) -> ItemUsage:
    """The options URL (each dependency's parameter left for the caller to fill in) and the
    HTML that embeds the widget (a widget key to put in; each dependency read from the field
    of the page whose id is its name)."""
    names = dependencies(item.path, item.body)
    query = "&".join(f"{name}=" for name in names)
    options_url = f"{api_url}/items/{quote(item.key, safe='')}/options/" + (
        f"?{query}" if query else ""
    )
    key, api = escape(item.key), escape(api_url)
    lines = [
        f'<select name="{key}" data-plugboard-item="{key}" data-plugboard-api="{api}"',
        '        data-plugboard-key="YOUR_WIDGET_KEY"',
    ]
    if names:
        depends = ",".join(f"{name}=#{name}" for name in names)
        lines.append(f'        data-plugboard-depends="{depends}"')
    lines[-1] += "></select>"
    lines.append(f'<script src="{escape(widget_url)}" defer></script>')
    return ItemUsage(options_url=options_url, snippet="\n".join(lines), dependencies=names)


_MISSING = object()
_FIELD_HINT_LIMIT = 12
_OPTION_FIELDS = {"value": "Value", "label": "Label"}


def _dotted_fields(element: Any, prefix: str = "", depth: int = 0) -> list[str]:
    """The dotted paths of an element's values (objects followed, lists not), for a hint."""
    if not isinstance(element, dict) or depth > 3:
        return [prefix] if prefix else []
    found: list[str] = []
    for name, value in element.items():
        path = f"{prefix}.{name}" if prefix else str(name)
        found.extend(_dotted_fields(value, path, depth + 1) if isinstance(value, dict) else [path])
    return found


def unmatched_references(*, item: ConnectedItem, elements: list[Any]) -> list[dict[str, str]]:
    """The ``{references}`` of ``value`` and ``label`` that match a field in none of
    ``elements`` (the preview's records): they would render empty in every option. One warning
    each, naming the field and the fields the first record has."""
    if not elements:
        return []
    fields = _dotted_fields(elements[0])
    hint = ", ".join(fields[:_FIELD_HINT_LIMIT]) + (" …" if len(fields) > _FIELD_HINT_LIMIT else "")
    warnings: list[dict[str, str]] = []
    for field, label in _OPTION_FIELDS.items():
        seen: set[str] = set()
        for match in REFERENCE.finditer(getattr(item, field) or ""):
            reference = match.group(1).strip()
            if reference in seen:
                continue
            seen.add(reference)
            if any(get_path(element, reference, _MISSING) is not _MISSING for element in elements):
                continue
            count = len(elements)
            records = "the record" if count == 1 else f"any of the {count} records"
            message = (
                f"{{{reference}}} matches no field in {records} of the preview, so it shows "
                "as empty."
            )
            if fields:
                message += f" The first record has: {hint}."
            warnings.append(
                {"field": field, "label": label, "reference": reference, "message": message}
            )
    return warnings
