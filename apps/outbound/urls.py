"""Checks of the URLs a data source is configured with (before any call is made)."""

from __future__ import annotations

from django.core.exceptions import ValidationError

from apps.outbound.errors import InvalidDestination
from apps.outbound.policy import parse_target


def validate_https_url(url: str, field: str) -> str:
    """A well-formed https URL, or a ValidationError on ``field`` (code ``https_required``
    for another scheme)."""
    if not url:
        raise ValidationError({field: ValidationError("This URL is required.", code="required")})
    try:
        parse_target(url)
    except InvalidDestination as exc:
        raise ValidationError({field: ValidationError(exc.message, code=exc.code)}) from None
    return url
