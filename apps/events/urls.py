"""The events pages under ``/t/<tenant>/`` (the API's routes are in config.api_urls)."""

from django.urls import path

from apps.events import pages

urlpatterns = [
    path(
        "datasources/<uuid:pk>/events/",
        pages.EventsLogView.as_view(),
        name="datasource-events-log",
    ),
    path(
        "datasources/<uuid:pk>/events/test/",
        pages.SendTestEventView.as_view(),
        name="datasource-events-test",
    ),
    path(
        "datasources/<uuid:pk>/events/poll/",
        pages.PollNowPageView.as_view(),
        name="datasource-events-poll-now",
    ),
    path(
        "datasources/<uuid:pk>/events/<uuid:event_id>/redeliver/",
        pages.RedeliverPageView.as_view(),
        name="datasource-event-redeliver",
    ),
]
