"""The upstream URL of a proxied call: the data source's base URL, then the client's path and
query exactly as the client wrote them — provided the path cannot leave the base URL's host or
path. What could be read as leaving it is refused before any connection is made."""

from __future__ import annotations

import re
from urllib.parse import quote, unquote, urlsplit

from apps.core.codes import ErrorCode
from apps.core.errors import ApplicationError

# Encoded slashes and backslashes: servers disagree on whether they separate segments.
_AMBIGUOUS = re.compile(r"%2f|%5c|\\", re.IGNORECASE)
# What a path may hold as written (RFC 3986 pchar, '/' and percent-escapes).
_PATH_CHARS = re.compile(r"^[A-Za-z0-9\-._~!$&'()*+,;=:@/%]*$")


class InvalidPath(ApplicationError):
    code = ErrorCode.INVALID_PATH
    status = 400
    message = "This path would leave the data source's base URL."


def _problem(raw_path: str) -> str | None:
    if _AMBIGUOUS.search(raw_path):
        return "Encoded slashes and backslashes are not allowed in a proxied path."
    if not _PATH_CHARS.match(raw_path):
        return "The path holds characters that must be percent-encoded."
    if "//" in raw_path or raw_path.startswith("/"):
        return "Empty path segments ('//') are not allowed in a proxied path."
    segments = raw_path.split("/")
    if any(unquote(segment) in (".", "..") for segment in segments):
        return "'.' and '..' segments are not allowed in a proxied path."
    return None


def _escape_unsendable(query: str) -> str:
    """Bytes a client should have escaped (spaces, controls, non-ASCII) are escaped; everything
    else stays as written. WSGI hands the query over as latin-1, one character per byte."""
    return "".join(
        ch if 0x21 <= ord(ch) <= 0x7E else quote(ch.encode("latin-1"), safe="") for ch in query
    )


def upstream_url(base_url: str, raw_path: str, raw_query: str) -> str:
    """``base_url`` + ``/`` + ``raw_path`` (+ ``?raw_query``), or InvalidPath."""
    problem = _problem(raw_path)
    if problem:
        raise InvalidPath(problem, details={"reason": problem})
    if raw_query:
        raw_query = _escape_unsendable(raw_query)
    base = base_url.rstrip("/")
    url = f"{base}/{raw_path}" if raw_path else base
    if raw_query:
        url = f"{url}?{raw_query}"
    # Belt and braces: whatever was joined, the result names the same origin and sits under the
    # base path.
    before, after = urlsplit(base), urlsplit(url)
    same_origin = (before.scheme, before.hostname, before.port) == (
        after.scheme, after.hostname, after.port,
    )  # fmt: skip
    if not same_origin or not (after.path == before.path or after.path.startswith(
        before.path.rstrip("/") + "/"
    )):  # fmt: skip
        raise InvalidPath()
    return url


def raw_request_path(request_uri: str, prefix: str) -> str:
    """The part of a request's path (as the client wrote it) after ``prefix``, without the
    slash that follows it."""
    path = request_uri.split("?", 1)[0]
    index = path.find(prefix)
    rest = path[index + len(prefix) :] if index >= 0 else ""
    return rest[1:] if rest.startswith("/") else rest
