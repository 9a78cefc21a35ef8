"""Checks of the URLs a connection is configured with, before any call is made."""

from __future__ import annotations

from django.core.exceptions import ValidationError

from apps.core.codes import ErrorCode
from apps.outbound.errors import InvalidDestination
from apps.outbound.policy import parse_target


def validate_https_url(url: str, field: str | None = None) -> str:
    """A well-formed https URL, or a ValidationError (on ``field`` when given; code
    ``https_required`` for another scheme)."""
    if not url:
        error = ValidationError("This URL is required.", code=ErrorCode.REQUIRED)
    else:
        try:
            parse_target(url)
        except InvalidDestination as exc:
            error = ValidationError(exc.message, code=exc.code)
        else:
            return url
    raise ValidationError({field: error}) if field else error
