"""Everything of the product, plus the floors it is held to: /bench/bare (the options
endpoint's) and /bench/naive/<path> (the proxy's)."""

import os

import requests
from django.http import HttpResponse
from django.urls import include, path
from django_redis import get_redis_connection

BARE_KEY = "bench:bare"


def bare(request):
    """The same bytes as an options answer, straight from Redis: no auth, no tenant, no work."""
    return HttpResponse(
        get_redis_connection("default").get(BARE_KEY), content_type="application/json"
    )


_naive = requests.Session()
_naive.trust_env = False
_naive.verify = os.environ.get("OUTBOUND_CA_BUNDLE", True)


def naive(request, path):
    """What a proxy written the obvious way does: forward the call with one pooled
    requests.Session to the same upstream, answer what came back. No auth, policy or limits."""
    query = request.META.get("QUERY_STRING", "")
    upstream = _naive.request(
        request.method,
        f"{os.environ['BENCH_UPSTREAM']}/{path}" + (f"?{query}" if query else ""),
        data=request.body or None,
        headers={"Content-Type": request.content_type} if request.body else None,
        timeout=30,
    )
    return HttpResponse(
        upstream.content,
        status=upstream.status_code,
        content_type=upstream.headers.get("Content-Type", "application/octet-stream"),
    )


urlpatterns = [
    path("bench/bare", bare),
    path("bench/naive/<path:path>", naive),
    path("", include("config.urls")),
]
