from __future__ import annotations

import hashlib
import secrets as secrets_module
import uuid
from datetime import timedelta

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils import timezone

from apps.core.crypto import DecryptionError
from apps.core.fields import EncryptedJSONField, EncryptedModel, EncryptedTextField
from apps.core.stamps import StampedModel, tenant_stamp
from apps.outbound.auth import mode_choices
from apps.tenants.models import TenantOwned


class Status(models.TextChoices):
    UNKNOWN = "unknown", "Not tested yet"
    OK = "ok", "OK"
    NEEDS_ATTENTION = "needs_attention", "Needs attention"


class DataSource(EncryptedModel, StampedModel, TenantOwned):
    """A connected REST API: where it is, how to authenticate, and how to test it.

    Configuration is plain JSON and may be shown; every secret lives in ``secrets``, which is
    encrypted and write-only. Tokens obtained at run time live in :class:`TokenState`.
    """

    # Outcomes of tests and refreshes do not change what processes remember of a data source.
    STAMP_EXEMPT_FIELDS = frozenset({"status", "last_error", "last_tested_at"})
    STAMP_FIELDS = ("tenant",)
    VERSION_FIELD = "cache_version"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(max_length=200)
    type = models.CharField(max_length=20, choices=[("rest", "REST API")], default="rest")
    slug = models.SlugField(max_length=100)
    base_url = models.CharField(max_length=2000)
    docs_url = models.CharField(max_length=2000, blank=True)
    health_check_path = models.CharField(max_length=500, blank=True)
    timeout_seconds = models.PositiveSmallIntegerField(
        default=60, validators=[MinValueValidator(1), MaxValueValidator(60)]
    )
    headers = models.JSONField(default=list, blank=True)
    # Requests a bulk job of this data source keeps in flight (never above BULK_MAX_CONCURRENCY).
    bulk_concurrency = models.PositiveSmallIntegerField(default=4)
    auth_mode = models.CharField(max_length=40, choices=mode_choices, default="none")
    auth_config = models.JSONField(default=dict, blank=True)
    secrets = EncryptedJSONField()
    ping = models.JSONField(default=dict, blank=True)
    # Events (see event_settings): plain settings, and the signing and inbound secrets apart.
    events_config = models.JSONField(default=dict, blank=True)
    event_secrets = EncryptedJSONField()
    # The inbound URL's token: shown to admins (encrypted at rest), found by its digest.
    inbound_token = EncryptedTextField(null=True, blank=True)
    inbound_token_digest = models.CharField(  # noqa: DJ001 - NULL: no token, never equal
        max_length=64, unique=True, null=True, editable=False
    )
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.UNKNOWN)
    last_error = models.TextField(blank=True)
    last_tested_at = models.DateTimeField(null=True, blank=True)
    # Bumped on every change; part of every options cache key, so a change invalidates at once.
    cache_version = models.PositiveIntegerField(default=1, editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["tenant", "slug"], name="unique_datasource_slug"),
        ]

    def __str__(self) -> str:
        return self.name

    def save(self, *args: object, **kwargs: object) -> None:
        if self._state.adding and not self.inbound_token_digest:
            self.new_inbound_token()  # every data source has its inbound URL
        super().save(*args, **kwargs)

    def stamp_names(self) -> list[str]:
        return [tenant_stamp(self.tenant_id)]

    # What pages and the API show: a data source whose stored secrets no configured key decrypts
    # needs attention whatever its last test said.
    @property
    def current_status(self) -> str:
        return Status.NEEDS_ATTENTION if secrets_unreadable(self) else self.status

    @property
    def current_status_display(self) -> str:
        return Status(self.current_status).label

    @property
    def current_last_error(self) -> str:
        return UNREADABLE_SECRETS_MESSAGE if secrets_unreadable(self) else self.last_error

    @property
    def pool_key(self) -> str:
        """Outbound connections are pooled per data source."""
        return f"datasource:{self.pk}"

    def new_inbound_token(self) -> str:
        """Give the data source a new inbound URL token (256 random bits); the old one stops
        working once saved."""
        token = secrets_module.token_urlsafe(32)
        self.inbound_token = token
        self.inbound_token_digest = inbound_token_digest(token)
        return token


def inbound_token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


UNREADABLE_SECRETS_MESSAGE = (
    "Stored secrets cannot be decrypted with the configured keys: enter them again."
)


def _unreadable(datasource: DataSource, attname: str) -> bool:
    try:
        getattr(datasource, attname)  # decrypts, or raises
    except DecryptionError:
        return True
    return False


def auth_secrets_unreadable(datasource: DataSource) -> bool:
    """Whether no configured key decrypts ``datasource``'s stored auth secrets."""
    return _unreadable(datasource, "secrets")


def event_secrets_unreadable(datasource: DataSource) -> bool:
    """Whether no configured key decrypts ``datasource``'s signing and inbound secrets."""
    return _unreadable(datasource, "event_secrets")


def secrets_unreadable(datasource: DataSource) -> bool:
    """Whether any of ``datasource``'s stored secrets cannot be decrypted."""
    return auth_secrets_unreadable(datasource) or event_secrets_unreadable(datasource)


class TokenState(EncryptedModel):
    """Tokens a data source obtained at run time (refreshed, rotated), encrypted at rest."""

    datasource = models.OneToOneField(
        DataSource, on_delete=models.CASCADE, primary_key=True, related_name="token_state"
    )
    access_token = EncryptedTextField(null=True, blank=True)
    refresh_token = EncryptedTextField(null=True, blank=True)
    token_type = models.CharField(max_length=40, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    obtained_at = models.DateTimeField(null=True, blank=True)
    extra = models.JSONField(default=dict, blank=True)
    last_refresh_attempt_at = models.DateTimeField(null=True, blank=True)
    last_refresh_error = models.TextField(blank=True)

    def __str__(self) -> str:
        return f"Tokens of {self.datasource_id}"

    def expiring(self, within: timedelta) -> bool:
        return self.expires_at is not None and self.expires_at - timezone.now() <= within


class OAuthGrant(EncryptedModel, TenantOwned):
    """A pending OAuth 2.0 authorization: server-side, single use, bound to user and tenant."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    state = models.CharField(max_length=100, unique=True)
    datasource = models.ForeignKey(DataSource, on_delete=models.CASCADE, related_name="+")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    code_verifier = EncryptedTextField(null=True, blank=True)
    redirect_uri = models.CharField(max_length=2000)
    created_at = models.DateTimeField(auto_now_add=True)
    used_at = models.DateTimeField(null=True, blank=True)

    LIFETIME = timedelta(minutes=10)

    def __str__(self) -> str:
        return f"OAuth grant for {self.datasource_id}"

    @property
    def expired(self) -> bool:
        return timezone.now() - self.created_at > self.LIFETIME


class AuditAction(models.TextChoices):
    CREATED = "created", "Created"
    CHANGED = "changed", "Changed"
    TESTED = "tested", "Tested"
    CONNECTED = "connected", "Connected"
    DELETED = "deleted", "Deleted"
    CACHE_PURGED = "cache_purged", "Cache purged"
    BULK_STARTED = "bulk_started", "Bulk job started"
    BULK_CANCELLED = "bulk_cancelled", "Bulk job cancelled"


class AuditEntry(TenantOwned):
    """Who did what to a data source, and when. Field names only: never a secret value."""

    datasource = models.ForeignKey(
        DataSource, null=True, blank=True, on_delete=models.SET_NULL, related_name="audit_entries"
    )
    datasource_name = models.CharField(max_length=200)
    action = models.CharField(max_length=20, choices=AuditAction.choices)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    actor_label = models.CharField(max_length=200)
    changes = models.JSONField(default=list, blank=True)
    summary = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "audit entries"

    def __str__(self) -> str:
        return f"{self.actor_label} {self.action} {self.datasource_name}"
