"""Checks of the URLs a connection is configured with, before any call is made."""

from __future__ import annotations

from django.core.exceptions import ValidationError

from apps.core.codes import ErrorCode
from apps.outbound.errors import InvalidDestination
from apps.outbound.policy import address_allowed, ip_literal, legacy_ipv4, parse_target


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


def validate_destination(url: str) -> str:
    """An https URL the outbound policy does not refuse on its face: well-formed, and not an
    address literal of a refused network. (Names are resolved and checked on every call.)"""
    validate_https_url(url)
    target = parse_target(url)
    literal = ip_literal(target.host) or legacy_ipv4(target.host)
    if literal is not None and not address_allowed(literal):
        raise ValidationError(
            "This address is not allowed: private, loopback, link-local and other internal "
            "addresses are refused.",
            code=ErrorCode.DESTINATION_BLOCKED,
        )
    return url
