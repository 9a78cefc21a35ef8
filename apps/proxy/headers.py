"""Which headers cross the proxy, each way."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

# Reference: https://www.rfc-editor.org/rfc/rfc9110#section-7.6.1 (hop-by-hop)
HOP_BY_HOP = frozenset({"connection", "keep-alive", "proxy-authenticate", "proxy-authorization",
                        "te", "trailer", "trailers", "transfer-encoding", "upgrade"})  # fmt: skip
# Never forwarded upstream: the caller's credentials for Plugboard, what Plugboard itself sets,
# and what would let a caller speak for Plugboard's network position.
NOT_FORWARDED = frozenset({"authorization", "cookie", "host", "content-length", "forwarded",
                           "x-csrftoken", "accept-encoding", "expect"})  # fmt: skip
NOT_FORWARDED_PREFIXES = ("proxy-", "x-plugboard-", "x-forwarded-")

# Passed back to the client: what it needs to use the answer; never Set-Cookie, hop-by-hop or
# CORS headers. Location and Link are rewritten when they point into the data source.
PASSED_BACK = frozenset({"content-type", "content-disposition", "content-language",
                         "cache-control", "expires", "etag", "last-modified", "link", "location",
                         "retry-after", "vary", "x-request-id", "request-id"})  # fmt: skip
PASSED_BACK_PREFIXES = ("x-ratelimit-", "ratelimit-")


def client_headers(meta: Mapping[str, object]) -> dict[str, str]:
    """A request's headers from its WSGI environ, named as ``request.headers`` names them
    (which builds a case-insensitive mapping first: more than the proxy's own work here)."""
    found = {}
    for key, value in meta.items():
        if key.startswith("HTTP_"):
            key = key[5:]
        elif key not in ("CONTENT_TYPE", "CONTENT_LENGTH"):
            continue
        found[key.replace("_", "-").title()] = value
    return found


def _connection_named(value: str | None) -> set[str]:
    return {name.strip().lower() for name in (value or "").split(",") if name.strip()}


def forwarded_request_headers(
    headers: Mapping[str, str], *, overridden: Iterable[str] = ()
) -> dict[str, str]:
    """The client's headers to send upstream; ``overridden`` names headers the data source
    sets itself (its custom headers), which win."""
    named = _connection_named(headers.get("Connection") or headers.get("connection"))
    skip = {name.lower() for name in overridden} | named
    out = {}
    for name, value in headers.items():
        lower = name.lower()
        if (
            lower in HOP_BY_HOP
            or lower in NOT_FORWARDED
            or lower in skip
            or lower.startswith(NOT_FORWARDED_PREFIXES)
        ):
            continue
        out[name] = value
    return out


def passed_back(name: str) -> bool:
    lower = name.lower()
    return lower in PASSED_BACK or lower.startswith(PASSED_BACK_PREFIXES)
