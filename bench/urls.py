"""Everything of the product, plus /bench/bare: the floor the options endpoint is held to."""

from django.http import HttpResponse
from django.urls import include, path
from django_redis import get_redis_connection

BARE_KEY = "bench:bare"


def bare(request):
    """The same bytes as an options answer, straight from Redis: no auth, no tenant, no work."""
    return HttpResponse(
        get_redis_connection("default").get(BARE_KEY), content_type="application/json"
    )


urlpatterns = [
    path("bench/bare", bare),
    path("", include("config.urls")),
]
