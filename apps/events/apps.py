from django.apps import AppConfig


class EventsConfig(AppConfig):
    name = "apps.events"
    label = "events"
    verbose_name = "Events"

    def ready(self) -> None:
        from apps.datasources.panels import DETAIL_PANELS
        from apps.events.logs import mask_inbound_tokens
        from apps.events.panel import events_panel

        DETAIL_PANELS.append(events_panel)
        mask_inbound_tokens()
