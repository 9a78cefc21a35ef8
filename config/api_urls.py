"""Routes under /api/v1/."""

from django.urls import path, re_path
from rest_framework.routers import SimpleRouter

from apps.bulk.apis import (
    BulkCancelView,
    BulkErrorsView,
    BulkQueryView,
    BulkResultView,
    BulkStatusView,
    DataSourceBulkView,
)
from apps.datasources.apis import DataSourceViewSet
from apps.events.apis import DataSourceEventsView, EventDetailView, PollNowView, RedeliverView
from apps.events.views import ROUTE as INBOUND_ROUTE
from apps.events.views import inbound
from apps.items.apis import ItemViewSet, OptionsView
from apps.proxy.views import ROUTE as PROXY_ROUTE
from apps.proxy.views import DataSourceStatsView, ProxyView
from apps.tenants.apis import ApiKeyViewSet

router = SimpleRouter()
router.register("api-keys", ApiKeyViewSet, basename="api-key")
router.register("datasources", DataSourceViewSet, basename="datasource")
router.register("items", ItemViewSet, basename="item")

urlpatterns = [
    path("items/<str:key>/options/", OptionsView.as_view(), name="item-options"),
    # No API key: the token is the credential (apps.events.views). Calls are answered by
    # InboundMiddleware; the route names them (and documents the endpoint).
    re_path(rf"^{INBOUND_ROUTE}\Z", inbound, name="event-inbound"),
    # Calls by remembered admin keys are answered by ProxyMiddleware, the others here.
    re_path(rf"^{PROXY_ROUTE}$", ProxyView.as_view(), name="proxy"),
    path("datasources/<uuid:pk>/stats/", DataSourceStatsView.as_view(), name="datasource-stats"),
    path("datasources/<uuid:pk>/events/", DataSourceEventsView.as_view(), name="datasource-events"),
    path("datasources/<uuid:pk>/events/poll/", PollNowView.as_view(), name="datasource-poll"),
    path("events/<uuid:pk>/", EventDetailView.as_view(), name="event-detail"),
    path("events/<uuid:pk>/redeliver/", RedeliverView.as_view(), name="event-redeliver"),
    path("datasources/<uuid:pk>/bulk/", DataSourceBulkView.as_view(), name="datasource-bulk"),
    path(
        "datasources/<uuid:pk>/bulk/query/", BulkQueryView.as_view(), name="datasource-bulk-query"
    ),
    # The contract writes these without a trailing slash; with one they are answered too (and
    # left out of the schema).
    path("bulk/<uuid:pk>/status", BulkStatusView.as_view(), name="bulk-status"),
    path("bulk/<uuid:pk>/status/", BulkStatusView.as_view(schema=None)),
    path("bulk/<uuid:pk>/cancel", BulkCancelView.as_view(), name="bulk-cancel"),
    path("bulk/<uuid:pk>/cancel/", BulkCancelView.as_view(schema=None)),
    path("bulk/<uuid:pk>/errors.csv", BulkErrorsView.as_view(), name="bulk-errors"),
    path("bulk/<uuid:pk>/result.csv", BulkResultView.as_view(), name="bulk-result"),
    *router.urls,
]
