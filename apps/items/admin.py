from django.contrib import admin
from django.urls import reverse

from apps.core.admin import ReadOnlyAdmin
from apps.items.models import ConnectedItem
from apps.items.services import item_delete


@admin.register(ConnectedItem)
class ConnectedItemAdmin(ReadOnlyAdmin):
    list_display = ("key", "name", "tenant", "datasource", "method", "path")
    list_filter = ("tenant", "method")
    search_fields = ("key", "name", "path")

    def delete_through(self, request, obj: ConnectedItem) -> None:
        item_delete(item=obj)

    def get_view_on_site_url(self, obj=None):
        if obj is None:
            return None
        return reverse("item-edit", args=[obj.tenant.slug, obj.key])
