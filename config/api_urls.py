"""Routes under /api/v1/."""

from rest_framework.routers import SimpleRouter

from apps.datasources.apis import DataSourceViewSet
from apps.tenants.apis import ApiKeyViewSet

router = SimpleRouter()
router.register("api-keys", ApiKeyViewSet, basename="api-key")
router.register("datasources", DataSourceViewSet, basename="datasource")

urlpatterns = [*router.urls]
