"""Middleware of the core: every request's id and figures; pages answer an application error
with its sentence, as the API does with its body."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from typing import Any

from csp.middleware import CSPMiddleware
from csp.utils import build_policy
from django.conf import settings
from django.core.signals import request_finished
from django.dispatch import receiver
from django.http import HttpRequest, HttpResponse, HttpResponseBase, JsonResponse
from django.shortcuts import render
from django.urls import ResolverMatch

from apps.core import metrics, request_id
from apps.core.errors import ApplicationError, as_application_error


class RequestObservationMiddleware:
    """The request's id (the client's ``X-Request-ID`` when sane, else a new one), current
    while it is served and returned in the response's ``X-Request-ID``; and its count and time
    by route, the URL pattern's name (never the raw path: that would make a series per URL).

    The id stays current until the request is finished (the response closed, after a streamed
    body and Django's own "Not Found" lines), not merely until this middleware returns."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response
        self.static_prefix = "/" + (settings.STATIC_URL or "static/").lstrip("/")

    def __call__(self, request: HttpRequest) -> HttpResponse:
        rid = request_id.sane(request.META.get(request_id.META_KEY)) or request_id.generate()
        request_id.activate(rid)
        started = time.perf_counter()
        status = 500
        try:
            response = self.get_response(request)
            status = response.status_code
            response[request_id.HEADER] = rid
            return response
        finally:
            metrics.request_answered(
                self._route(request), request.method or "", status, time.perf_counter() - started
            )

    def _route(self, request: HttpRequest) -> str:
        match = getattr(request, "resolver_match", None)
        if match is not None:
            return match.view_name or "unnamed"
        if request.path.startswith(self.static_prefix):
            return "static"
        return "unmatched"  # a 404, or answered before routing (a CORS preflight)


@receiver(request_finished)
def _request_finished(**kwargs: Any) -> None:
    request_id.activate(None)


class ContentSecurityPolicyMiddleware(CSPMiddleware):
    """django-csp's middleware, with the site's policy built once: building it for every
    response (some 40 µs) is a cost the options endpoint, the hottest route, would pay on every
    call. A response with a policy of its own, a view's override or exemption, or a nonce goes
    through django-csp unchanged."""

    _PER_RESPONSE = ("_csp_exempt", "_csp_config", "_csp_update", "_csp_replace")

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        super().__init__(get_response)
        self.policy = build_policy()
        self.report_only = bool(getattr(settings, "CONTENT_SECURITY_POLICY_REPORT_ONLY", None))

    def process_response(
        self, request: HttpRequest, response: HttpResponseBase
    ) -> HttpResponseBase:
        if (
            self.report_only
            or getattr(request, "_csp_nonce", None) is not None
            or any(hasattr(response, name) for name in self._PER_RESPONSE)
            or (settings.DEBUG and response.status_code in (404, 500))
        ):
            return super().process_response(request, response)
        if self.policy and "Content-Security-Policy" not in response:
            response["Content-Security-Policy"] = self.policy
        return response


class PermissionsPolicyMiddleware:
    """``Permissions-Policy`` (settings.PERMISSIONS_POLICY) on every response that has none:
    Django has no setting of its own for it."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response
        self.policy = settings.PERMISSIONS_POLICY

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if self.policy and "Permissions-Policy" not in response:
            response["Permissions-Policy"] = self.policy
        return response


class ApplicationErrorPageMiddleware:
    """An ApplicationError escaping a page view (e.g. the cache is down, so a change is refused)
    becomes a page with its status and sentence instead of a bare server error."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        error = as_application_error(exception)
        if error is None:
            return None
        if request.path.startswith("/api/"):
            if not isinstance(exception, ApplicationError):
                # (DRF's views answer their own; this is for the ones that skip DRF.)
                response = JsonResponse(error.as_body(), status=error.status)
                for name, value in error.headers.items():
                    response[name] = value
                return response
            return None
        exception = error
        return render(
            request,
            "plugboard/error.html",
            {"title": "This could not be done", "message": exception.message},
            status=exception.status,
        )


def api_error_response(exception: BaseException) -> HttpResponse | None:
    """The contract's error body for an exception that stands for an application error (see
    ``as_application_error``), or None."""
    error = as_application_error(exception)
    if error is None:
        return None
    response = JsonResponse(error.as_body(), status=error.status)
    for name, value in error.headers.items():
        response[name] = value
    return response


class HotRouteMiddleware:
    """Base of a middleware that answers one hot API route itself, placed right after the
    middleware every response needs (request id and figures, HTTPS redirect and security
    headers, CSP, Permissions-Policy): the middleware after those has nothing to do for a call
    authenticated by its URL or a bearer key (sessions, CSRF, login lockouts, messages, static
    files), and the route is found without walking the URLconf. What that middleware would
    still add is added here: the host is checked against ALLOWED_HOSTS, the answer gets
    ``X-Frame-Options`` and, when not streamed, its ``Content-Length``; an error that stands
    for an application error gets the contract's body.

    Subclasses set ``prefix`` and ``pattern`` (the path starts with the one, and the other
    matches the whole of it, as the URLconf's route does), ``url_name`` and ``view`` (the
    route's name and view, for the request's ``resolver_match``), and answer in ``answer``;
    None sends the request the full way."""

    prefix: str
    pattern: re.Pattern[str]
    url_name: str
    view: Callable[..., Any]

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response
        self.frame_options = getattr(settings, "X_FRAME_OPTIONS", "DENY").upper()

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        path = request.path_info
        match = self.pattern.fullmatch(path) if path.startswith(self.prefix) else None
        if match is None:
            return self.get_response(request)
        request.get_host()  # DisallowedHost (400) for a host not allowed, as on the full way
        kwargs = match.groupdict()
        # The route, as URL routing would set it (what the request is counted under, even
        # when it fails); the full way sets it again.
        request.resolver_match = ResolverMatch(
            self.view, (), kwargs, url_name=self.url_name, route=self.pattern.pattern
        )
        try:
            response = self.answer(request, **kwargs)
        except Exception as exc:
            response = api_error_response(exc)
            if response is None:
                raise
        if response is None:
            return self.get_response(request)
        if "X-Frame-Options" not in response:
            response["X-Frame-Options"] = self.frame_options
        if not response.streaming and "Content-Length" not in response:
            response["Content-Length"] = str(len(response.content))
        return response

    def answer(self, request: HttpRequest, **kwargs: str) -> HttpResponseBase | None:
        raise NotImplementedError
