"""Django admin for superusers. Secrets and tokens are never shown, not even encrypted."""

from django.contrib import admin

from apps.datasources.models import AuditEntry, DataSource, OAuthGrant, TokenState
from apps.datasources.representation import secrets_set


@admin.register(DataSource)
class DataSourceAdmin(admin.ModelAdmin):
    list_display = ("name", "tenant", "slug", "base_url", "auth_mode", "status", "updated_at")
    list_filter = ("auth_mode", "status", "tenant")
    search_fields = ("name", "slug", "base_url", "tenant__slug")
    exclude = ("secrets",)
    readonly_fields = ("stored_secrets", "status", "last_error", "last_tested_at", "cache_version",
                       "created_by", "created_at", "updated_at")  # fmt: skip

    @admin.display(description="Stored secrets")
    def stored_secrets(self, obj: DataSource) -> str:
        return ", ".join(secrets_set(obj)) or "none"


@admin.register(TokenState)
class TokenStateAdmin(admin.ModelAdmin):
    list_display = ("datasource", "expires_at", "obtained_at", "last_refresh_attempt_at")
    fields = ("datasource", "has_access_token", "has_refresh_token", "token_type", "expires_at",
              "obtained_at", "last_refresh_attempt_at", "last_refresh_error")  # fmt: skip
    readonly_fields = fields

    def has_add_permission(self, request):
        return False

    @admin.display(boolean=True, description="Access token stored")
    def has_access_token(self, obj: TokenState) -> bool:
        return obj.access_token is not None and obj.access_token != ""

    @admin.display(boolean=True, description="Refresh token stored")
    def has_refresh_token(self, obj: TokenState) -> bool:
        return obj.refresh_token is not None and obj.refresh_token != ""


@admin.register(OAuthGrant)
class OAuthGrantAdmin(admin.ModelAdmin):
    list_display = ("datasource", "user", "created_at", "used_at")
    fields = ("datasource", "user", "redirect_uri", "created_at", "used_at")
    readonly_fields = fields

    def has_add_permission(self, request):
        return False


@admin.register(AuditEntry)
class AuditEntryAdmin(admin.ModelAdmin):
    list_display = ("created_at", "tenant", "datasource_name", "action", "actor_label")
    list_filter = ("action", "tenant")
    search_fields = ("datasource_name", "actor_label")
    readonly_fields = [f.name for f in AuditEntry._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
