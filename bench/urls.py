"""Everything of the product, plus the floors it is held to: /bench/bare (the options
endpoint's), /bench/naive/<path> (the proxy's) and /bench/insert (the inbound endpoint's)."""

import os
import uuid

import requests
from django.db import connection
from django.http import HttpResponse, JsonResponse
from django.urls import include, path
from django.views.decorators.csrf import csrf_exempt
from django_redis import get_redis_connection

from bench.seed import INSERT_TABLE

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


@csrf_exempt
def insert(request):
    """What recording a webhook written the obvious way does: one INSERT of the body (in the
    bench's own table, id and content type beside it), answered like the inbound endpoint. No
    token, no cache purge, no queue."""
    row_id = uuid.uuid4()
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {INSERT_TABLE} (id, content_type, body) VALUES (%s, %s, %s)",  # noqa: S608
            [row_id, request.META.get("CONTENT_TYPE", ""), request.body],
        )
    return JsonResponse({"id": str(row_id), "status": "recorded"}, status=202)


urlpatterns = [
    path("bench/bare", bare),
    path("bench/insert", insert),
    path("bench/naive/<path:path>", naive),
    path("", include("config.urls")),
]
