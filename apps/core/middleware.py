"""Pages answer an application error with its sentence, as the API does with its body."""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from apps.core.errors import ApplicationError


class ApplicationErrorPageMiddleware:
    """An ApplicationError escaping a page view (e.g. the cache is down, so a change is refused)
    becomes a page with its status and sentence instead of a bare server error."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if not isinstance(exception, ApplicationError) or request.path.startswith("/api/"):
            return None
        return render(
            request,
            "plugboard/error.html",
            {"title": "This could not be done", "message": exception.message},
            status=exception.status,
        )
