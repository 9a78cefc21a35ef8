from __future__ import annotations

import uuid

from django.conf import settings
from django.core.validators import RegexValidator
from django.db import models

from apps.core.codes import ErrorCode
from apps.core.stamps import StampedModel, tenant_stamp
from apps.tenants.limits import validate_limits

slug_validator = RegexValidator(
    r"^[a-z0-9](?:[a-z0-9-]{0,48}[a-z0-9])?$",
    "Use 1 to 50 lowercase letters, digits and hyphens, starting and ending with a letter or digit.",
    code=ErrorCode.INVALID_SLUG,
)


# Moved by any change to widget keys or items: the allowed origins of CORS preflights.
WIDGET_ORIGINS_STAMP = "stamp:widget-origins"


class Tenant(StampedModel):
    """An organisation using Plugboard. Everything a tenant owns is invisible to the others."""

    slug = models.CharField(max_length=50, unique=True, validators=[slug_validator])
    name = models.CharField(max_length=200)
    # Overrides of the RATE_LIMITS setting for this tenant (apps.tenants.limits).
    limits = models.JSONField(
        default=dict, blank=True, validators=[validate_limits],
        help_text='Overrides of the default limits, e.g. {"options": {"key": 600, "tenant": '
        '6000}, "proxy": {"key": 60}, "upstream_concurrency": 8}: requests a minute (0: no '
        "limit). Empty: the defaults.",
    )  # fmt: skip
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def stamp_names(self) -> list[str]:
        return [tenant_stamp(self.pk), WIDGET_ORIGINS_STAMP]


class Role(models.TextChoices):
    OWNER = "owner", "Owner"
    ADMIN = "admin", "Admin"
    VIEWER = "viewer", "Viewer"


WRITE_ROLES = frozenset({Role.OWNER, Role.ADMIN})


class Membership(models.Model):
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships"
    )
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=10, choices=Role.choices, default=Role.VIEWER)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "tenant"], name="unique_membership"),
        ]
        ordering = ["tenant__name"]

    def __str__(self) -> str:
        return f"{self.user} in {self.tenant} ({self.role})"

    @property
    def can_write(self) -> bool:
        return self.role in WRITE_ROLES


class TenantOwned(models.Model):
    """Base of every model a tenant owns; queries of it go through the tenant-scoped bases."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")

    class Meta:
        abstract = True


class ApiKeyScope(models.TextChoices):
    ADMIN = "admin", "Admin (manage this tenant's objects)"
    WIDGET = "widget", "Widget (options endpoint only, from allowed origins)"


class ApiKey(StampedModel, TenantOwned):
    """A bearer key for the API. Only a hash is stored; the key itself is shown once."""

    STAMP_EXEMPT_FIELDS = frozenset({"last_used_at"})
    STAMP_FIELDS = ("tenant",)

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(max_length=100)
    scope = models.CharField(max_length=10, choices=ApiKeyScope.choices)
    prefix = models.CharField(max_length=16, unique=True, editable=False)
    key_hash = models.CharField(max_length=64, editable=False)
    allowed_origins = models.JSONField(default=list, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)
    revoked_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = "API key"

    def __str__(self) -> str:
        return f"{self.name} (pb_{self.prefix}_…)"

    def stamp_names(self) -> list[str]:
        return [tenant_stamp(self.tenant_id), WIDGET_ORIGINS_STAMP]

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None

    @property
    def display_prefix(self) -> str:
        return f"pb_{self.prefix}_…"
