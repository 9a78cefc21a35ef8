"""Routes under /api/v1/."""

from rest_framework.routers import SimpleRouter

from apps.tenants.apis import ApiKeyViewSet

router = SimpleRouter()
router.register("api-keys", ApiKeyViewSet, basename="api-key")

urlpatterns = [*router.urls]
