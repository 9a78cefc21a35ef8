"""Tenants and memberships are managed here through the services; API keys are created on the
tenant pages or with create_api_key, and only revoked here (never edited or deleted)."""

from django.contrib import admin

from apps.core.admin import ReadOnlyAdmin
from apps.tenants.models import ApiKey, Membership, Tenant
from apps.tenants.services import (
    api_key_revoke,
    membership_remove,
    membership_set,
    tenant_delete,
    tenant_save,
)


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    autocomplete_fields = ["user"]


@admin.register(Tenant)
class TenantAdmin(admin.ModelAdmin):
    list_display = ("name", "slug", "created_at")
    fields = ("name", "slug", "limits")
    search_fields = ("name", "slug")
    inlines = [MembershipInline]

    def save_model(self, request, obj, form, change) -> None:
        tenant_save(tenant=obj)

    def save_formset(self, request, form, formset, change) -> None:
        for membership in formset.save(commit=False):
            membership_set(tenant=membership.tenant, user=membership.user, role=membership.role)
        for membership in formset.deleted_objects:
            membership_remove(membership=membership)

    def delete_model(self, request, obj) -> None:
        tenant_delete(tenant=obj)

    def delete_queryset(self, request, queryset) -> None:
        for tenant in queryset:
            tenant_delete(tenant=tenant)


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ("user", "tenant", "role", "created_at")
    list_filter = ("role", "tenant")
    search_fields = ("user__username", "tenant__slug")
    autocomplete_fields = ["user", "tenant"]

    def save_model(self, request, obj, form, change) -> None:
        membership_set(tenant=obj.tenant, user=obj.user, role=obj.role)

    def delete_model(self, request, obj) -> None:
        membership_remove(membership=obj)

    def delete_queryset(self, request, queryset) -> None:
        for membership in queryset:
            membership_remove(membership=membership)


@admin.register(ApiKey)
class ApiKeyAdmin(ReadOnlyAdmin):
    """Keys are never shown (only their prefix) and never edited; revoking goes through the
    service, which takes them out of every process's memory at once."""

    list_display = ("name", "tenant", "scope", "display_prefix", "created_at", "revoked_at")
    list_filter = ("scope", "tenant")
    search_fields = ("name", "prefix", "tenant__slug")
    fields = ("tenant", "name", "scope", "display_prefix", "allowed_origins", "created_by",
              "created_at", "last_used_at", "revoked_at")  # fmt: skip
    readonly_fields = fields
    actions = ["revoke"]

    @admin.action(description="Revoke selected keys")
    def revoke(self, request, queryset):
        for key in queryset:
            api_key_revoke(api_key=key)
