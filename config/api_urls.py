"""Routes under /api/v1/."""

from django.urls import path
from rest_framework.routers import SimpleRouter

from apps.datasources.apis import DataSourceViewSet
from apps.items.apis import ItemViewSet, OptionsView
from apps.tenants.apis import ApiKeyViewSet

router = SimpleRouter()
router.register("api-keys", ApiKeyViewSet, basename="api-key")
router.register("datasources", DataSourceViewSet, basename="datasource")
router.register("items", ItemViewSet, basename="item")

urlpatterns = [
    path("items/<str:key>/options/", OptionsView.as_view(), name="item-options"),
    *router.urls,
]
