"""Django admin for superusers: read-only, secrets and tokens never shown, not even encrypted;
deletion goes through the service (audited, cache purged)."""

from django.contrib import admin
from django.urls import reverse

from apps.core.admin import ReadOnlyAdmin
from apps.datasources.connections import readable_token_state
from apps.datasources.models import AuditEntry, DataSource, OAuthGrant, TokenState
from apps.datasources.representation import secrets_set
from apps.datasources.services import datasource_delete


@admin.register(DataSource)
class DataSourceAdmin(ReadOnlyAdmin):
    list_display = ("name", "tenant", "slug", "base_url", "auth_mode", "status", "updated_at")
    list_filter = ("auth_mode", "status", "tenant")
    search_fields = ("name", "slug", "base_url", "tenant__slug")
    exclude = ("secrets", "event_secrets", "inbound_token", "inbound_token_digest")
    readonly_fields = ("stored_secrets",)

    def delete_through(self, request, obj: DataSource) -> None:
        datasource_delete(datasource=obj, actor=request.user)

    def get_view_on_site_url(self, obj=None):
        return reverse("datasource-detail", args=[obj.tenant.slug, obj.pk]) if obj else None

    @admin.display(description="Stored secrets")
    def stored_secrets(self, obj: DataSource) -> str:
        return ", ".join(secrets_set(obj)) or "none"


@admin.register(TokenState)
class TokenStateAdmin(ReadOnlyAdmin):
    list_display = ("datasource", "expires_at", "obtained_at", "last_refresh_attempt_at")
    fields = ("datasource", "has_access_token", "has_refresh_token", "token_type", "expires_at",
              "obtained_at", "last_refresh_attempt_at", "last_refresh_error")  # fmt: skip
    readonly_fields = fields

    @admin.display(boolean=True, description="Access token stored (readable)")
    def has_access_token(self, obj: TokenState) -> bool:
        state = readable_token_state(obj)
        return bool(state and state.access_token)

    @admin.display(boolean=True, description="Refresh token stored (readable)")
    def has_refresh_token(self, obj: TokenState) -> bool:
        state = readable_token_state(obj)
        return bool(state and state.refresh_token)


@admin.register(OAuthGrant)
class OAuthGrantAdmin(ReadOnlyAdmin):
    list_display = ("datasource", "user", "created_at", "used_at")
    fields = ("datasource", "user", "redirect_uri", "created_at", "used_at")
    readonly_fields = fields


@admin.register(AuditEntry)
class AuditEntryAdmin(ReadOnlyAdmin):
    list_display = ("created_at", "tenant", "datasource_name", "action", "actor_label")
    list_filter = ("action", "tenant")
    search_fields = ("datasource_name", "actor_label")
