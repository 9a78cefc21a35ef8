"""The proxy's hot route: a call by a remembered admin key is answered by the middleware (see
``apps.core.middleware.HotRouteMiddleware``); any other goes the full way, to ``ProxyView``."""

from __future__ import annotations

import re

from django.http import HttpRequest, HttpResponseBase

from apps.core.middleware import HotRouteMiddleware
from apps.proxy.views import ROUTE, ProxyView, by_remembered_key


class ProxyMiddleware(HotRouteMiddleware):
    prefix = "/api/v1/proxy/"
    pattern = re.compile(rf"^/api/v1/{ROUTE}$")
    url_name = "proxy"
    view = ProxyView.as_view()

    def answer(self, request: HttpRequest, **kwargs: str) -> HttpResponseBase | None:
        return by_remembered_key(request, kwargs["slug"])
