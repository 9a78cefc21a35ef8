"""Content negotiation of the API: JSON, whatever the client accepts."""

from __future__ import annotations

from typing import Any

from rest_framework.exceptions import NotAcceptable
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.renderers import BaseRenderer
from rest_framework.request import Request


class FallbackContentNegotiation(DefaultContentNegotiation):
    """The view's first renderer (JSON) when none matches ``Accept``, instead of a 406.

    The API renders JSON only (no browsable HTML API), and a client asking for something else
    still gets an answer: the proxy above all, whose ``Accept`` is the upstream's business (a
    browser's ``text/html`` for an HTML upstream must reach it, not stop here)."""

    def select_renderer(
        self, request: Request, renderers: list[BaseRenderer], format_suffix: str | None = None
    ) -> tuple[BaseRenderer, Any]:
        try:
            return super().select_renderer(request, renderers, format_suffix)
        except NotAcceptable:
            return renderers[0], renderers[0].media_type
