from __future__ import annotations

import uuid

from django.core.validators import RegexValidator
from django.db import models

from apps.core.codes import ErrorCode
from apps.core.stamps import StampedModel, tenant_stamp
from apps.datasources.models import DataSource
from apps.tenants.models import WIDGET_ORIGINS_STAMP, TenantOwned

key_validator = RegexValidator(
    r"^[A-Za-z0-9][A-Za-z0-9_-]{0,99}$",
    "Use letters, digits, hyphens and underscores (up to 100), starting with a letter or digit.",
    code=ErrorCode.INVALID_KEY,
)


class ConnectedItem(StampedModel, TenantOwned):
    """A form field whose options come from a data source.

    ``path`` and ``body`` are templates whose ``{name}`` placeholders are the item's
    dependencies; ``value`` and ``label`` are templates of dotted paths over each element of the
    list found at ``results_path``.
    """

    STAMP_FIELDS = ("tenant",)
    VERSION_FIELD = "cache_version"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    key = models.CharField(max_length=100, validators=[key_validator])
    name = models.CharField(max_length=200)
    datasource = models.ForeignKey(DataSource, on_delete=models.CASCADE, related_name="items")
    method = models.CharField(
        max_length=10, choices=[("GET", "GET"), ("POST", "POST")], default="GET"
    )
    path = models.CharField(max_length=2000, blank=True)
    body = models.TextField(null=True, blank=True)  # noqa: DJ001 - null is the contract's "no body"
    results_path = models.CharField(max_length=500, blank=True)
    value = models.CharField(max_length=500)
    label = models.CharField(max_length=500)
    # Bumped on every change; part of every cache key of this item.
    cache_version = models.PositiveIntegerField(default=1, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["key"]
        constraints = [
            models.UniqueConstraint(fields=["tenant", "key"], name="unique_item_key"),
        ]
        # CORS preflights find the tenants that have an item by its key alone.
        indexes = [models.Index(fields=["key"], name="item_key_idx")]

    def __str__(self) -> str:
        return f"{self.name} ({self.key})"

    def stamp_names(self) -> list[str]:
        return [tenant_stamp(self.tenant_id), WIDGET_ORIGINS_STAMP]

    def clean(self) -> None:
        from django.core.exceptions import ValidationError

        if self.datasource_id and self.tenant_id and self.datasource.tenant_id != self.tenant_id:
            raise ValidationError({"datasource": "The data source belongs to another tenant."})
