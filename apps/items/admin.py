from django.contrib import admin

from apps.items.models import ConnectedItem


@admin.register(ConnectedItem)
class ConnectedItemAdmin(admin.ModelAdmin):
    list_display = ("key", "name", "tenant", "datasource", "method", "path")
    list_filter = ("tenant", "method")
    search_fields = ("key", "name", "path")
    readonly_fields = ("cache_version", "created_at", "updated_at")
