"""The inbound endpoint's hot route: every call to ``/api/v1/inbound/{token}`` is answered by
the middleware (see ``apps.core.middleware.HotRouteMiddleware``): it needs no session, no CSRF
check and no login."""

from __future__ import annotations

import re

from django.http import HttpRequest, HttpResponseBase

from apps.core.middleware import HotRouteMiddleware
from apps.events.views import ROUTE, inbound


class InboundMiddleware(HotRouteMiddleware):
    prefix = "/api/v1/inbound/"
    pattern = re.compile(rf"^/api/v1/{ROUTE}\Z")
    url_name = "event-inbound"
    view = inbound

    def answer(self, request: HttpRequest, **kwargs: str) -> HttpResponseBase | None:
        return inbound(request, kwargs["token"])
