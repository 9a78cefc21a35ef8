"""The inbound endpoint: ``POST /api/v1/inbound/{token}``. No API key: the URL's token is the
credential (and, with an inbound secret, the sender's signature)."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt

from apps.core.codes import ErrorCode
from apps.core.errors import ApplicationError, error_body
from apps.datasources.event_settings import events_of
from apps.events.inbound import MAX_BODY, PayloadTooLarge, datasource_for_token, inbound_record
from apps.outbound.errors import SecretsUnreadable

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


@csrf_exempt
def inbound(request: HttpRequest, token: str) -> HttpResponse:
    if request.method not in ("POST", "GET"):
        response = JsonResponse(
            error_body(ErrorCode.METHOD_NOT_ALLOWED, "POST events to this URL."), status=405
        )
        response["Allow"] = "POST"
        return response
    datasource = datasource_for_token(token)
    if datasource is None:
        return JsonResponse(_NOT_FOUND, status=404)
    if request.method == "GET":
        if "challenge" in request.GET:
            return _echo(request.GET["challenge"])
        response = JsonResponse(
            error_body(ErrorCode.METHOD_NOT_ALLOWED, "POST events to this URL."), status=405
        )
        response["Allow"] = "POST"
        return response
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    if length > MAX_BODY:
        return _error(PayloadTooLarge())
    try:
        body = _body(request, length)
    except LengthRequired as exc:
        return _error(exc)
    if body is None:
        return _error(PayloadTooLarge())
    if "validationToken" in request.GET and not body:
        return _echo(request.GET["validationToken"])
    try:
        settings = events_of(datasource)
    except SecretsUnreadable as exc:
        # The signature cannot be checked: the sender should try again once an admin has
        # entered the secrets again.
        return _error(ApplicationError(exc.message, code=exc.code, status=503))
    try:
        recorded = inbound_record(
            datasource,
            settings,
            headers=request.headers,
            body=body,
            content_type=request.META.get("CONTENT_TYPE", ""),
        )
    except ApplicationError as exc:
        return _error(exc)
    event = recorded.event
    answer = {"id": str(event.pk), "status": event.status}
    if not recorded.created:
        answer["duplicate"] = True
    return JsonResponse(answer, status=202 if recorded.created else 200)
