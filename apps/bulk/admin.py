"""Django admin for superusers: bulk jobs, read-only (they are started and cancelled on the
tenant's pages and through the API)."""

from django.contrib import admin

from apps.bulk.models import BulkJob


@admin.register(BulkJob)
class BulkJobAdmin(admin.ModelAdmin):
    list_display = ("id", "tenant", "datasource", "kind", "status", "processed", "total",
                    "created_at")  # fmt: skip
    list_filter = ("kind", "status")
    search_fields = ("id", "path")
    readonly_fields = [f.name for f in BulkJob._meta.fields]

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
