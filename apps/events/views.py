"""The inbound endpoint: ``POST /api/v1/inbound/{token}``. No API key: the URL's token is the
credential (and, with an inbound secret, the sender's signature)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.http.request import HttpHeaders
from django.views.decorators.csrf import csrf_exempt

from apps.core.codes import ErrorCode
from apps.core.errors import ApplicationError, error_body
from apps.core.ratelimit import RateLimited
from apps.events.inbound import (
    MAX_BODY,
    PayloadTooLarge,
    Receiver,
    Stale,
    inbound_record,
    receiver_for_token,
)
from apps.events.recording import Recorded

# The endpoint's route under /api/v1/ (the URLconf's and InboundMiddleware's).
ROUTE = r"inbound/(?P<token>[^/]+)"
_NOT_FOUND = error_body(ErrorCode.NOT_FOUND, "No such inbound URL.")


def _error(exc: ApplicationError) -> JsonResponse:
    response = JsonResponse(exc.as_body(), status=exc.status)
    for name, value in exc.headers.items():
        response[name] = value
    return response


def _echo(value: str) -> HttpResponse:
    """A provider's URL check (Dropbox's ``challenge``, Microsoft Graph's ``validationToken``)
    wants its value back as plain text."""
    response = HttpResponse(value[:1000], content_type="text/plain; charset=utf-8")
    response["X-Content-Type-Options"] = "nosniff"
    return response


class LengthRequired(ApplicationError):
    code = ErrorCode.LENGTH_REQUIRED
    status = 411
    message = "This server needs a Content-Length: send the body with one, not chunked."


def _body(request: HttpRequest, length: int) -> bytes | None:
    """The request body, or None past the limit. A chunked body (no Content-Length) is read
    from the server's decoded stream, at most one byte past the limit."""
    chunked = "chunked" in request.META.get("HTTP_TRANSFER_ENCODING", "").lower()
    if length or not chunked:
        return request.body
    stream = request.META.get("wsgi.input")
    if stream is None or not request.META.get("wsgi.input_terminated"):
        # A server that does not decode chunked bodies (Django's development server) would
        # give nothing or the raw chunks: the sender is asked for a length instead.
        raise LengthRequired()
    chunks, total = [], 0
    while total <= MAX_BODY:
        chunk = stream.read(min(64 * 1024, MAX_BODY + 1 - total))
        if not chunk:
            break
        chunks.append(chunk)
        total += len(chunk)
    return None if total > MAX_BODY else b"".join(chunks)


def _read_body(request: HttpRequest) -> tuple[bytes, ApplicationError | None]:
    """The request's body, or why it is refused (411, 413)."""
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    if length > MAX_BODY:
        return b"", PayloadTooLarge()
    try:
        body = _body(request, length)
    except LengthRequired as exc:
        return b"", exc
    return (b"", PayloadTooLarge()) if body is None else (body, None)


@csrf_exempt
def inbound(request: HttpRequest, token: str) -> HttpResponse:
    if request.method not in ("POST", "GET"):
        return _method_not_allowed()
    # A receiver this process remembers is good for recording, which confirms it on its way;
    # any other answer is given only after it is confirmed or read afresh.
    receiver = receiver_for_token(token)
    if receiver is None:
        return JsonResponse(_NOT_FOUND, status=404)
    body, problem = _read_body(request)
    if request.method == "GET":
        echo = request.GET.get("challenge")
    else:
        echo = None if body else request.GET.get("validationToken")
    if request.method == "GET" or problem is not None or echo is not None:
        if receiver.remembered is not None and not receiver.confirm():
            receiver = receiver_for_token(token, fresh=True)
            if receiver is None:
                return JsonResponse(_NOT_FOUND, status=404)
        if problem is not None:
            return _error(problem)
        return _method_not_allowed() if echo is None else _echo(echo)
    try:
        recorded = _record(request, receiver, body)
    except Stale:
        recorded = None
    except ApplicationError as exc:
        if receiver.remembered is None or isinstance(exc, RateLimited):
            return _error(exc)  # (a rate limit is told only once the receiver was confirmed)
        recorded = None
    if recorded is None:  # remembered, and it did not hold or its answer was a refusal
        receiver = receiver_for_token(token, fresh=True)
        if receiver is None:
            return JsonResponse(_NOT_FOUND, status=404)
        try:
            recorded = _record(request, receiver, body)
        except ApplicationError as exc:
            return _error(exc)
    event = recorded.event
    answer = {"id": str(event.pk), "status": event.status}
    if not recorded.created:
        answer["duplicate"] = True
    return JsonResponse(answer, status=202 if recorded.created else 200)


class _Headers(Mapping[str, str]):
    """A request's headers, each read from its WSGI environ when asked for (``request.headers``
    parses every one of them first, which costs more here than the rest of the request)."""

    def __init__(self, meta: Mapping[str, Any]) -> None:
        self._meta = meta

    def __getitem__(self, name: str) -> str:
        return self._meta[HttpHeaders.to_wsgi_name(name)]

    def __iter__(self) -> Iterator[str]:
        return iter(HttpHeaders(self._meta))

    def __len__(self) -> int:
        return len(HttpHeaders(self._meta))


def _record(request: HttpRequest, receiver: Receiver, body: bytes) -> Recorded:
    return inbound_record(
        receiver,
        headers=_Headers(request.META),
        body=body,
        content_type=request.META.get("CONTENT_TYPE", ""),
    )


def _method_not_allowed() -> JsonResponse:
    response = JsonResponse(
        error_body(ErrorCode.METHOD_NOT_ALLOWED, "POST events to this URL."), status=405
    )
    response["Allow"] = "POST"
    return response
