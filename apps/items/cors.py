"""CORS for the options endpoint: only the allowed origins of widget keys, never a wildcard."""

from __future__ import annotations

import re
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

from apps.tenants.models import ApiKey, ApiKeyScope
from apps.tenants.services import normalize_origin

OPTIONS_PATH = re.compile(r"^/api/v1/items/[^/]+/options/$")
ALLOWED_HEADERS = "Authorization, Accept, X-Plugboard-Tenant"
MAX_AGE = "600"


def origin_of_any_widget_key(origin: str) -> bool:
    """Whether any active widget key allows ``origin`` (a preflight carries no key)."""
    try:
        wanted = normalize_origin(origin)
    except Exception:
        return False
    keys = ApiKey.objects.filter(scope=ApiKeyScope.WIDGET, revoked_at__isnull=True)
    return any(wanted in (key.allowed_origins or []) for key in keys.only("allowed_origins"))


def allow(response: HttpResponse, origin: str) -> HttpResponse:
    response["Access-Control-Allow-Origin"] = origin
    response["Access-Control-Allow-Credentials"] = "false"
    response["Vary"] = "Origin"
    return response


class OptionsPreflightMiddleware:
    """Answers CORS preflights of the options endpoint before authentication runs."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if (
            request.method == "OPTIONS"
            and "HTTP_ACCESS_CONTROL_REQUEST_METHOD" in request.META
            and OPTIONS_PATH.match(request.path)
        ):
            origin = request.headers.get("Origin", "")
            response = HttpResponse(status=204)
            response["Vary"] = "Origin"
            if origin and origin_of_any_widget_key(origin):
                allow(response, origin)
                response["Access-Control-Allow-Methods"] = "GET"
                response["Access-Control-Allow-Headers"] = ALLOWED_HEADERS
                response["Access-Control-Max-Age"] = MAX_AGE
            return response
        return self.get_response(request)
