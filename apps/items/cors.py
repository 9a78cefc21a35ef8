"""CORS for the options endpoint: only the allowed origins of widget keys, never a wildcard.

A preflight carries no key, so it is answered for the origins allowed by the widget keys of the
tenants that have an item with the key in the URL — never for an origin only another tenant
allows. What a key's origins are is remembered per process and checked against a stamp that any
change to a key or an item moves, so a preflight costs one Redis read, not a table scan.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

from apps.core import stamps
from apps.core.memo import StampedMemo
from apps.items.models import ConnectedItem
from apps.tenants.models import WIDGET_ORIGINS_STAMP, ApiKey, ApiKeyScope
from apps.tenants.services import normalize_origin

OPTIONS_PATH = re.compile(r"^/api/v1/items/([A-Za-z0-9][A-Za-z0-9_-]{0,99})/options/$")
ALLOWED_HEADERS = "Authorization, Accept, X-Plugboard-Tenant"
MAX_AGE = "600"

# Item key -> the origins its preflights are answered for.
ORIGINS: StampedMemo[str, frozenset[str]] = StampedMemo(size=2048, max_age=300)


def widget_origins_for_item(item_key: str) -> frozenset[str]:
    """The origins allowed by active widget keys of the tenants that have item ``item_key``."""
    remembered = ORIGINS.confirmed(item_key)
    if remembered is not None:
        return remembered
    stamp_value = stamps.current(WIDGET_ORIGINS_STAMP)  # read before the rows it will vouch for
    tenants = ConnectedItem.objects.filter(key=item_key).values("tenant")
    keys = ApiKey.objects.filter(
        scope=ApiKeyScope.WIDGET, revoked_at__isnull=True, tenant__in=tenants
    ).values_list("allowed_origins", flat=True)
    origins = frozenset(origin for allowed in keys for origin in allowed or [])
    ORIGINS.remember(item_key, origins, stamp=WIDGET_ORIGINS_STAMP, stamp_value=stamp_value)
    return origins


def preflight_allowed(item_key: str, origin: str) -> bool:
    try:
        wanted = normalize_origin(origin)
    except Exception:
        return False
    return wanted in widget_origins_for_item(item_key)


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
        if request.method == "OPTIONS" and "HTTP_ACCESS_CONTROL_REQUEST_METHOD" in request.META:
            match = OPTIONS_PATH.match(request.path)
            if match:
                origin = request.headers.get("Origin", "")
                response = HttpResponse(status=204)
                response["Vary"] = "Origin"
                if origin and preflight_allowed(match.group(1), origin):
                    allow(response, origin)
                    response["Access-Control-Allow-Methods"] = "GET"
                    response["Access-Control-Allow-Headers"] = ALLOWED_HEADERS
                    response["Access-Control-Max-Age"] = MAX_AGE
                return response
        return self.get_response(request)
