"""Reading data sources for the pages: what is attached to one (and goes when it is deleted),
drafts, the status as a person reads it, and the history.

What other apps attach to a data source (connected items, events, bulk jobs…) is found through
the ORM's relations, not by importing those apps (they sit above this one): every tenant-owned
model of another app whose rows are deleted with the data source (``on_delete=CASCADE``) counts.
Rows with a ``name`` are listed by name, linked when their model has a ``get_absolute_url``;
rows with a ``status`` are counted by status, so that pending or running ones are said apart.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.db import models
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.utils import timezone

from apps.datasources.models import AuditAction, AuditEntry, DataSource, Status
from apps.tenants.models import TenantOwned

# At most this many named rows are listed on the delete page (the rest are counted).
LISTED_ROWS = 50

# A data source is a draft until its connection is configured: the wizard creates it with a
# name only, and the configure page (like the API) always writes a base URL.
DRAFT = Q(base_url="")
DRAFT_LABEL = "Draft — finish setup"


def is_draft(datasource: DataSource) -> bool:
    return not datasource.base_url


# --- what is attached ---------------------------------------------------------------------


@dataclass
class AttachedRow:
    label: str
    url: str | None


@dataclass
class AttachedGroup:
    """The rows of one model that go with a data source."""

    label: str  # plural, lower case: "connected items"
    singular: str
    count: int
    rows: list[AttachedRow] = field(default_factory=list)  # named rows (at most LISTED_ROWS)
    statuses: list[tuple[str, int]] = field(default_factory=list)  # (label, count), by status

    @property
    def noun(self) -> str:
        return self.singular if self.count == 1 else self.label

    @property
    def unlisted(self) -> int:
        return self.count - len(self.rows) if self.rows else 0


def _attached_relations() -> list[models.ForeignObjectRel]:
    """Relations through which another app's tenant-owned rows go with a data source."""
    relations = []
    for rel in DataSource._meta.get_fields(include_hidden=True):
        if not (rel.auto_created and not rel.concrete and rel.is_relation):
            continue
        model = rel.related_model
        if (
            getattr(rel, "on_delete", None) is models.CASCADE
            and issubclass(model, TenantOwned)
            and model._meta.app_label != DataSource._meta.app_label
        ):
            relations.append(rel)
    return relations


def _rows_of(rel: models.ForeignObjectRel, datasource: DataSource) -> QuerySet:
    return rel.related_model._default_manager.filter(
        tenant_id=datasource.tenant_id, **{rel.field.name: datasource}
    )


def _field_names(model: type[models.Model]) -> set[str]:
    return {f.name for f in model._meta.concrete_fields}


def _link(row: models.Model) -> str | None:
    get_url = getattr(row, "get_absolute_url", None)
    return get_url() if callable(get_url) else None


def attached_to(datasource: DataSource) -> list[AttachedGroup]:
    """Every kind of row another app attached to ``datasource``, with its count (0 included)."""
    groups = []
    for rel in _attached_relations():
        model = rel.related_model
        rows = _rows_of(rel, datasource)
        names = _field_names(model)
        group = AttachedGroup(
            label=str(model._meta.verbose_name_plural),
            singular=str(model._meta.verbose_name),
            count=rows.count(),
        )
        if group.count and "status" in names:
            labels = dict(model._meta.get_field("status").flatchoices)
            counted = rows.order_by().values_list("status").annotate(n=models.Count("pk"))
            group.statuses = sorted(
                ((str(labels.get(status, status)).lower(), n) for status, n in counted),
                key=lambda pair: -pair[1],
            )
        if group.count and "name" in names:
            group.rows = [
                AttachedRow(label=str(row), url=_link(row))
                for row in rows.select_related("tenant")[:LISTED_ROWS]
            ]
        groups.append(group)
    return groups


def has_attached(datasource: DataSource) -> bool:
    return any(_rows_of(rel, datasource).exists() for rel in _attached_relations())


def unattached() -> Q:
    """Data sources no other app attached anything to."""
    condition = Q()
    for rel in _attached_relations():
        condition &= ~Exists(
            rel.related_model._default_manager.filter(**{rel.field.name: OuterRef("pk")})
        )
    return condition


def abandoned_drafts(*, created_before: datetime) -> QuerySet[DataSource]:
    """Drafts created before ``created_before`` with nothing attached (the cleanup's)."""
    return DataSource.objects.filter(DRAFT, unattached(), created_at__lt=created_before)


# --- status as a person reads it ----------------------------------------------------------

NOT_TESTED_SINCE_SAVED = "Not tested since saved"


def with_tested(queryset: QuerySet[DataSource]) -> QuerySet[DataSource]:
    """Annotate ``ever_tested``: whether any connection test of the data source was recorded."""
    tests = AuditEntry.objects.filter(datasource=OuterRef("pk"), action=AuditAction.TESTED)
    return queryset.annotate(ever_tested=Exists(tests))


def status_of(datasource: DataSource, *, ever_tested: bool) -> dict[str, str]:
    """The status badge: its CSS value and label. "Not tested yet" only while no test ran: a
    data source whose unsaved settings alone were tested reads "Not tested since saved"; a
    draft reads "Draft — finish setup"."""
    value = datasource.current_status
    if is_draft(datasource):
        return {"value": "draft", "label": DRAFT_LABEL}
    label = datasource.current_status_display
    if value == Status.UNKNOWN and ever_tested:
        label = NOT_TESTED_SINCE_SAVED
    return {"value": value, "label": label}


# --- history ------------------------------------------------------------------------------

HISTORY_PAGE_SIZE = 20
HISTORY_FILTERS = {
    "": ("All", None),
    "changes": ("Changes", (AuditAction.CREATED, AuditAction.CHANGED, AuditAction.CONNECTED)),
    "tests": ("Tests", (AuditAction.TESTED,)),
}


def history_of(datasource: DataSource, *, kind: str = "") -> QuerySet[AuditEntry]:
    """``datasource``'s audit entries, newest first; ``kind`` narrows to changes or tests."""
    entries = AuditEntry.objects.filter(tenant_id=datasource.tenant_id, datasource=datasource)
    actions = HISTORY_FILTERS.get(kind, HISTORY_FILTERS[""])[1]
    if actions:
        entries = entries.filter(action__in=actions)
    return entries.select_related("actor").order_by("-created_at", "-id")


def history_row(entry: AuditEntry) -> dict[str, Any]:
    """An entry as the history table shows it (the page, and the live update after a test)."""
    details = ", ".join(entry.changes or [])
    if entry.summary:
        details = f"{details} {entry.summary}".strip()
    return {
        "when": timezone.localtime(entry.created_at).strftime("%Y-%m-%d %H:%M:%S"),
        "who": entry.actor_label,
        "what": entry.get_action_display(),
        "details": details,
    }
