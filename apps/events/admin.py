"""Django admin for superusers: events and their attempts, read-only (bodies as their preview)."""

from django.contrib import admin

from apps.core.admin import ReadOnlyAdmin
from apps.events.models import DeliveryAttempt, Event, PollState


class DeliveryAttemptInline(admin.TabularInline):
    model = DeliveryAttempt
    fields = ("attempt", "at", "status_code", "ok", "error", "elapsed_ms")
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Event)
class EventAdmin(ReadOnlyAdmin):
    list_display = ("received_at", "tenant", "datasource", "source", "status", "attempts")
    list_filter = ("status", "source", "tenant")
    fields = ("tenant", "datasource", "source", "status", "received_at", "content_type",
              "body_size", "preview", "attempts", "next_attempt_at", "delivered_at")  # fmt: skip
    readonly_fields = fields
    inlines = [DeliveryAttemptInline]
    list_select_related = ("tenant", "datasource")

    def get_queryset(self, request):
        return super().get_queryset(request).defer("body")


@admin.register(PollState)
class PollStateAdmin(ReadOnlyAdmin):
    list_display = ("datasource", "watermark", "last_polled_at", "last_recorded", "next_poll_at")
    fields = ("datasource", "watermark", "last_polled_at", "last_recorded", "last_error",
              "next_poll_at")  # fmt: skip
    readonly_fields = fields
