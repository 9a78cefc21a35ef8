from django.contrib import admin

from apps.tenants.models import ApiKey, Membership, Tenant


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    autocomplete_fields = ["user"]


@admin.register(Tenant)
class TenantAdmin(admin.ModelAdmin):
    list_display = ("name", "slug", "created_at")
    search_fields = ("name", "slug")
    inlines = [MembershipInline]


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ("user", "tenant", "role", "created_at")
    list_filter = ("role", "tenant")
    search_fields = ("user__username", "tenant__slug")
    autocomplete_fields = ["user", "tenant"]


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    """Keys are created with create_api_key or in the tenant UI; the admin never shows a hash."""

    list_display = ("name", "tenant", "scope", "display_prefix", "created_at", "revoked_at")
    list_filter = ("scope", "tenant")
    search_fields = ("name", "prefix", "tenant__slug")
    fields = (
        "tenant",
        "name",
        "scope",
        "display_prefix",
        "allowed_origins",
        "created_by",
        "created_at",
        "last_used_at",
        "revoked_at",
    )
    readonly_fields = (
        "tenant",
        "scope",
        "display_prefix",
        "created_by",
        "created_at",
        "last_used_at",
        "revoked_at",
    )
    actions = ["revoke"]

    def has_add_permission(self, request):
        return False

    @admin.action(description="Revoke selected keys")
    def revoke(self, request, queryset):
        from apps.tenants.services import api_key_revoke

        for key in queryset:
            api_key_revoke(api_key=key)
