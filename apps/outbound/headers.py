"""Validation of the custom headers a data source sends."""

from __future__ import annotations

import re
from typing import Any

from django.core.exceptions import ValidationError

from apps.core.codes import ErrorCode

MAX_HEADERS = 20
MAX_VALUE_LENGTH = 4096
_TOKEN = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,100}$")

# Reference: https://fetch.spec.whatwg.org/#forbidden-request-header
FORBIDDEN_NAMES = frozenset(
    {
        "accept-charset",
        "accept-encoding",
        "access-control-request-headers",
        "access-control-request-method",
        "connection",
        "content-length",
        "cookie",
        "cookie2",
        "date",
        "dnt",
        "expect",
        "host",
        "keep-alive",
        "origin",
        "referer",
        "set-cookie",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "via",
        "x-http-method",
        "x-http-method-override",
        "x-method-override",
        # Not in the Fetch list, but credentials belong to the auth settings, not headers.
        "authorization",
    }
)
FORBIDDEN_PREFIXES = ("proxy-", "sec-")


def validate_header_name(name: Any, *, allow_authorization: bool = False) -> str:
    if not isinstance(name, str) or not _TOKEN.match(name):
        raise ValidationError(
            f"{name!r} is not a valid header name (letters, digits and !#$%&'*+.^_`|~-).",
            code=ErrorCode.INVALID_HEADER,
        )
    lower = name.lower()
    if allow_authorization and lower == "authorization":
        return name
    if lower in FORBIDDEN_NAMES or lower.startswith(FORBIDDEN_PREFIXES):
        hint = " Set credentials under authentication instead." if lower == "authorization" else ""
        raise ValidationError(
            f"The header {name} cannot be set.{hint}", code=ErrorCode.FORBIDDEN_HEADER
        )
    return name


# Anything but visible Latin-1, space and tab (RFC 9110 field-value, obs-text included).
_NOT_FIELD_VALUE = re.compile(r"[^\t\x20-\x7e\x80-\xff]")


def header_value_problem(value: Any) -> str | None:
    """Why ``value`` cannot be sent as an HTTP header value (RFC 9110 field-value), or None.
    The sentence never repeats the value: it may be a secret."""
    if not isinstance(value, str):
        return "must be text"
    if value[:1] in (" ", "\t") or value[-1:] in (" ", "\t"):
        return "may not start or end with spaces"
    bad = _NOT_FIELD_VALUE.search(value)
    if bad is None:
        return None
    ch = bad.group()
    if ch in "\r\n":
        return "may not contain line breaks"
    if ord(ch) < 0x20 or ord(ch) == 0x7F:
        return "may not contain control characters"
    return "may only contain Latin-1 characters (encode anything else)"


def validate_header_value(value: Any, *, what: str = "A header value") -> str:
    problem = header_value_problem(value)
    if problem:
        raise ValidationError(f"{what} {problem}.", code=ErrorCode.INVALID_HEADER)
    if len(value) > MAX_VALUE_LENGTH:
        raise ValidationError(
            f"{what} may be at most {MAX_VALUE_LENGTH} characters.", code=ErrorCode.INVALID_HEADER
        )
    return value


def validate_headers(headers: Any) -> list[dict[str, str]]:
    """``[{"name", "value"}]``, at most 20, names valid and not forbidden, no duplicates."""
    if headers in (None, ""):
        return []
    if not isinstance(headers, list):
        raise ValidationError("Headers must be a list of {name, value}.", code=ErrorCode.INVALID)
    if len(headers) > MAX_HEADERS:
        raise ValidationError(
            f"At most {MAX_HEADERS} headers are allowed.", code=ErrorCode.TOO_MANY_HEADERS
        )
    seen: set[str] = set()
    cleaned = []
    for item in headers:
        if not isinstance(item, dict) or set(item) - {"name", "value"}:
            raise ValidationError(
                "Each header is an object with name and value.", code=ErrorCode.INVALID
            )
        name = validate_header_name(item.get("name"))
        value = validate_header_value(item.get("value", ""))
        if name.lower() in seen:
            raise ValidationError(
                f"The header {name} is listed twice.", code=ErrorCode.DUPLICATE_HEADER
            )
        seen.add(name.lower())
        cleaned.append({"name": name, "value": value})
    return cleaned
