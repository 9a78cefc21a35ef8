"""Django admin is for superusers to look across tenants. Changes are made where the services
check them — the tenant pages, the API and the management commands — so the admins of
tenant-owned rows are read-only, link to the tenant page of each row, and delete through the
services."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from apps.core.models import WorkerHeartbeat


class ReadOnlyAdmin(admin.ModelAdmin):
    """Look, do not touch: no add or change; deletion only where a subclass routes it through a
    service (``delete_through``)."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return hasattr(self, "delete_through") and super().has_delete_permission(request, obj)

    def delete_model(self, request: HttpRequest, obj: Any) -> None:
        self.delete_through(request, obj)

    def delete_queryset(self, request: HttpRequest, queryset: Any) -> None:
        for obj in queryset:
            self.delete_through(request, obj)


@admin.register(WorkerHeartbeat)
class WorkerHeartbeatAdmin(ReadOnlyAdmin):
    list_display = ("name", "seen_at")
