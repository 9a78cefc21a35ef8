from __future__ import annotations

import hmac

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.defaults import page_not_found, server_error

from apps.core.codes import ErrorCode
from apps.core.errors import json_error_response
from apps.core.health import health_report, readiness
from apps.core.metrics import exposition


@never_cache
def healthz(request: HttpRequest) -> JsonResponse:
    """200 when database, cache and broker all answer; 503 otherwise."""
    healthy, report = health_report()
    return JsonResponse(report, status=200 if healthy else 503)


@never_cache
def readyz(request: HttpRequest) -> JsonResponse:
    """200 when this process reaches database, cache and broker; 503 naming the one that is
    down. What a deploy waits for before it sends a new process traffic."""
    ready, report = readiness()
    return JsonResponse(report, status=200 if ready else 503)


@never_cache
def metrics(request: HttpRequest) -> HttpResponse:
    """Prometheus metrics, for ``Authorization: Bearer <METRICS_TOKEN>`` only. Without the
    token configured, or without the right one, there is nothing here (404): the figures name
    data sources and routes, and are nobody else's business."""
    token = settings.METRICS_TOKEN
    scheme, _, given = request.META.get("HTTP_AUTHORIZATION", "").partition(" ")
    if not (
        token
        and scheme.lower() == "bearer"
        and hmac.compare_digest(given.strip().encode(), token.encode())
    ):
        raise Http404()
    body, content_type = exposition()
    return HttpResponse(body, content_type=content_type)


def _wants_json(request: HttpRequest) -> bool:
    return request.path.startswith("/api/")


def not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    if _wants_json(request):
        return json_error_response(ErrorCode.NOT_FOUND, "Not found.", 404)
    return page_not_found(request, exception)


def server_failure(request: HttpRequest) -> HttpResponse:
    if _wants_json(request):
        return json_error_response(
            ErrorCode.SERVER_ERROR, "Something went wrong on our side. Please try again.", 500
        )
    return server_error(request)
