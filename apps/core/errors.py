"""One error model for the whole product.

An :class:`ApplicationError` carries a stable snake_case ``code``, an HTTP ``status``, a sentence a
tenant admin can act on and a ``details`` dict. The DRF exception handler below renders every
API error, ours and the framework's, as ``{"error": {"code", "message", "details"}}``; forms show
the same sentence.
"""

from __future__ import annotations

import logging
from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import DatabaseError as DjangoDatabaseError
from django.db import IntegrityError as DjangoIntegrityError
from django.db import InterfaceError as DjangoInterfaceError
from django.db import OperationalError as DjangoOperationalError
from django.http import Http404, JsonResponse
from rest_framework import exceptions as drf_exceptions
from rest_framework import status as http_status
from rest_framework.response import Response

from apps.core.codes import ErrorCode

logger = logging.getLogger(__name__)


class ApplicationError(Exception):
    """An error the product reports to its user with a stable code."""

    code: str = ErrorCode.ERROR
    status: int = http_status.HTTP_400_BAD_REQUEST
    message: str = "The request could not be completed."

    def __init__(
        self,
        message: str | None = None,
        *,
        code: str | None = None,
        status: int | None = None,
        details: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        self.message = message or self.message
        self.code = code or self.code
        self.status = status or self.status
        self.details = details or {}
        self.headers = headers or {}
        super().__init__(self.message)

    def as_body(self) -> dict[str, Any]:
        return error_body(self.code, self.message, self.details)


class NotFound(ApplicationError):
    code = ErrorCode.NOT_FOUND
    status = http_status.HTTP_404_NOT_FOUND
    message = "Not found."


class Forbidden(ApplicationError):
    code = ErrorCode.PERMISSION_DENIED
    status = http_status.HTTP_403_FORBIDDEN
    message = "You do not have permission to do this."


def error_body(code: str, message: str, details: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "details": details or {}}}


# Field-level validation codes that name the problem better than a generic "validation_error";
# when every failing field agrees on one of these, it becomes the error's code.
_SPECIFIC_VALIDATION_CODES_EXCLUDED = {"invalid", "required", "null", "blank", "invalid_choice"}


def flatten_validation(detail: Any, prefix: str = "") -> list[tuple[str, str, str]]:
    """Turn DRF's nested error detail into (field path, code, message) triples."""
    out: list[tuple[str, str, str]] = []
    if isinstance(detail, dict):
        for key, value in detail.items():
            name = str(key) if not prefix else f"{prefix}.{key}"
            if key == "non_field_errors" and not prefix:
                name = ""
            out.extend(flatten_validation(value, name))
    elif isinstance(detail, list):
        if all(isinstance(item, drf_exceptions.ErrorDetail) for item in detail):
            for item in detail:
                out.append((prefix, item.code or "invalid", str(item)))
        else:
            for index, value in enumerate(detail):
                if value:
                    out.extend(
                        flatten_validation(value, f"{prefix}.{index}" if prefix else str(index))
                    )
    elif isinstance(detail, drf_exceptions.ErrorDetail):
        out.append((prefix, detail.code or "invalid", str(detail)))
    else:
        out.append((prefix, "invalid", str(detail)))
    return out


def validation_error_body(detail: Any) -> dict[str, Any]:
    problems = flatten_validation(detail)
    fields: dict[str, list[dict[str, str]]] = {}
    for field, code, message in problems:
        fields.setdefault(field or "non_field_errors", []).append(
            {"code": code, "message": message}
        )
    codes = {code for _, code, _ in problems}
    code = ErrorCode.VALIDATION_ERROR
    if len(codes) == 1:
        (only,) = codes
        if only not in _SPECIFIC_VALIDATION_CODES_EXCLUDED:
            code = only
    if problems:
        field, _, message = problems[0]
        first = f"{field}: {message}" if field else message
        message = first if len(problems) == 1 else f"{first} (and {len(problems) - 1} more)"
    else:
        message = "The request is not valid."
    return error_body(code, message, {"fields": fields})


def django_validation_detail(exc: DjangoValidationError) -> Any:
    """Django's ValidationError as DRF error details, keeping each error's code."""

    def details(errors: list[DjangoValidationError]) -> list[drf_exceptions.ErrorDetail]:
        return [
            drf_exceptions.ErrorDetail(message, code=error.code or "invalid")
            for error in errors
            for message in error.messages
        ]

    if hasattr(exc, "error_dict"):
        return {field: details(errors) for field, errors in exc.error_dict.items()}
    return details(exc.error_list)


_DRF_CODES = {
    drf_exceptions.NotAuthenticated: ErrorCode.NOT_AUTHENTICATED,
    drf_exceptions.AuthenticationFailed: ErrorCode.AUTHENTICATION_FAILED,
    drf_exceptions.PermissionDenied: ErrorCode.PERMISSION_DENIED,
    drf_exceptions.NotFound: ErrorCode.NOT_FOUND,
    drf_exceptions.MethodNotAllowed: ErrorCode.METHOD_NOT_ALLOWED,
    drf_exceptions.NotAcceptable: ErrorCode.NOT_ACCEPTABLE,
    drf_exceptions.UnsupportedMediaType: ErrorCode.UNSUPPORTED_MEDIA_TYPE,
    drf_exceptions.Throttled: ErrorCode.THROTTLED,
    drf_exceptions.ParseError: ErrorCode.PARSE_ERROR,
}


class DatabaseUnavailable(ApplicationError):
    code = ErrorCode.DATABASE_UNAVAILABLE
    status = 503
    message = "The database cannot be reached right now; nothing was changed. Try again shortly."

    def __init__(self) -> None:
        super().__init__(headers={"Retry-After": "5"})


def as_application_error(exc: BaseException) -> ApplicationError | None:
    """The application error an exception stands for (a lost database connection is a 503
    the client may retry, not a server error), or None."""
    if isinstance(exc, ApplicationError):
        return exc
    if isinstance(exc, DjangoDatabaseError) and not isinstance(exc, DjangoIntegrityError):
        return DatabaseUnavailable() if _connection_lost(exc) else None
    return None


def _connection_lost(exc: BaseException) -> bool:
    return isinstance(exc, DjangoInterfaceError | DjangoOperationalError)


def api_exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """DRF's EXCEPTION_HANDLER: every API error in the contract's body."""
    # Imported here: rest_framework.views loads the authentication classes, which load models
    # that use this module.
    from rest_framework.views import exception_handler as drf_exception_handler

    exc = as_application_error(exc) or exc
    if isinstance(exc, ApplicationError):
        return Response(exc.as_body(), status=exc.status, headers=exc.headers)
    if isinstance(exc, DjangoValidationError):
        exc = drf_exceptions.ValidationError(detail=django_validation_detail(exc))
    if isinstance(exc, Http404):
        exc = drf_exceptions.NotFound()
    if isinstance(exc, DjangoPermissionDenied):
        exc = drf_exceptions.PermissionDenied()

    response = drf_exception_handler(exc, context)
    if response is None:
        logger.exception("Unhandled error in %s", context.get("view").__class__.__name__)
        return Response(
            error_body(
                ErrorCode.SERVER_ERROR, "Something went wrong on our side. Please try again."
            ),
            status=http_status.HTTP_500_INTERNAL_SERVER_ERROR,
        )
    if isinstance(exc, drf_exceptions.ValidationError):
        response.data = validation_error_body(exc.detail)
        return response
    code = next((c for cls, c in _DRF_CODES.items() if isinstance(exc, cls)), None)
    if code is None:
        code = getattr(exc, "default_code", ErrorCode.ERROR)
    detail = exc.detail if isinstance(exc, drf_exceptions.APIException) else str(exc)
    message = str(detail) if not isinstance(detail, dict | list) else "The request failed."
    details: dict[str, Any] = {}
    if isinstance(exc, drf_exceptions.Throttled) and exc.wait is not None:
        details["retry_after"] = int(exc.wait)
    response.data = error_body(code, message, details)
    return response


def json_error_response(code: str, message: str, status: int) -> JsonResponse:
    return JsonResponse(error_body(code, message), status=status)
