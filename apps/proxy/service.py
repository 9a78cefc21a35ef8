"""The pass-through proxy: a data source as an authenticated API connection.

A call is forwarded through the one outbound client (policy, pinned address, deadline, auth,
token refresh and one retry after an "expired"), never around it. Bodies are streamed both ways
with bounded memory: the request body is spooled (at most 256 kB in memory, the rest on disk,
at most 20 MB) so that a retry after a token refresh can send it again; the answer is passed on
as it arrives once its first 64 kB are in, so that a failure or the deadline before then still
gets the contract's error status. An answer of unannounced length is spooled the same way until
it ends, so that its size limit is an error status too rather than a cut-off body.
"""

from __future__ import annotations

import logging
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import BinaryIO
from urllib.parse import urljoin, urlsplit

from apps.core.codes import ErrorCode
from apps.core.errors import ApplicationError
from apps.datasources.connections import TokenStateStore, connection_of
from apps.datasources.models import DataSource
from apps.outbound.client import OutboundRequest, RequestBody, Stream
from apps.outbound.connection import Connection
from apps.outbound.errors import (
    DestinationBlocked,
    OutboundError,
    ResponseTooLarge,
    UpstreamTimeout,
    UpstreamUnreachable,
)
from apps.outbound.service import connection_stream
from apps.proxy import stats
from apps.proxy.headers import forwarded_request_headers, passed_back
from apps.proxy.paths import upstream_url

logger = logging.getLogger("plugboard.proxy")

MAX_BODY_BYTES = 20 * 1024 * 1024  # each way
# A spooled body keeps this much in memory, the rest on disk.
IN_MEMORY_BYTES = 256 * 1024
# An answer is passed on once this much of it is in (or all of it, when smaller): an upstream
# that stalls before then still gets an error status (504) rather than a cut-off body.
PREBUFFER_BYTES = 64 * 1024
_CHUNK = 64 * 1024
METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")


class RequestTooLarge(ApplicationError):
    code = ErrorCode.REQUEST_TOO_LARGE
    status = 413
    message = f"The request body is larger than {MAX_BODY_BYTES:,} bytes."


@dataclass
class ProxyAnswer:
    """The upstream's answer as the client gets it: status, headers, and the body (bytes, or
    chunks to stream); ``close`` ends the upstream exchange and counts the call."""

    status: int
    headers: list[tuple[str, str]]
    body: bytes | Iterator[bytes]
    length: int | None
    sensitive: set[str] = field(default_factory=set)


def request_body(source: BinaryIO, *, length: int | None) -> RequestBody | None:
    """The client's body, spooled (bounded memory); RequestTooLarge past 20 MB. ``length`` is
    what the client announced (None when it sent the body chunked)."""
    if length is not None and length > MAX_BODY_BYTES:
        raise RequestTooLarge()
    if length == 0:
        return None
    spool = tempfile.SpooledTemporaryFile(max_size=IN_MEMORY_BYTES)  # noqa: SIM115 - returned
    total = 0
    while True:
        chunk = source.read(_CHUNK)
        if not chunk:
            break
        total += len(chunk)
        if total > MAX_BODY_BYTES:
            spool.close()
            raise RequestTooLarge()
        spool.write(chunk)
    if total == 0 and length is None:
        spool.close()
        return None
    return RequestBody(spool, total)


def _outcome(status: int) -> str:
    return f"{status // 100}xx" if 200 <= status < 600 else "other"


def _failure_outcome(exc: OutboundError) -> str:
    if isinstance(exc, UpstreamTimeout):
        return "timeout"
    if isinstance(exc, ResponseTooLarge):
        return "too_large"
    if isinstance(exc, DestinationBlocked):
        return "blocked"
    if isinstance(exc, UpstreamUnreachable):
        return "unreachable"
    return "other"


def _inside(value: str, *, upstream: str, base_url: str, proxy_base: str) -> str | None:
    """A URL into the data source, as the proxy's URL; None for any other URL."""
    absolute = urljoin(upstream, value)
    base = base_url.rstrip("/")
    parts, base_parts = urlsplit(absolute), urlsplit(base)
    if (parts.scheme, parts.hostname, parts.port) != (
        base_parts.scheme, base_parts.hostname, base_parts.port,
    ):  # fmt: skip
        return None
    if absolute == base or absolute.startswith(base + "/"):
        return proxy_base.rstrip("/") + "/" + absolute[len(base) :].lstrip("/")
    if absolute.startswith(base + "?"):
        return proxy_base.rstrip("/") + "/" + absolute[len(base) :]
    return None


def _answer_headers(
    stream: Stream, *, base_url: str, proxy_base: Callable[[], str]
) -> list[tuple[str, str]]:
    headers = []
    for name, value in stream.headers.items():
        if not passed_back(name):
            continue
        lower = name.lower()
        if lower == "location":
            # Only a Location that stays inside the data source goes back (as the proxy's URL):
            # one elsewhere would send the client around the proxy, or name the upstream's host.
            inside = _inside(value, upstream=stream.url, base_url=base_url,
                             proxy_base=proxy_base())  # fmt: skip
            if inside is None:
                continue
            value = inside
        elif lower == "link":
            base = proxy_base()
            value = ", ".join(
                _rewrite_link(part, stream.url, base_url, base) for part in value.split(",")
            )
        headers.append((name, value))
    return headers


def _rewrite_link(part: str, upstream: str, base_url: str, proxy_base: str) -> str:
    start, end = part.find("<"), part.find(">")
    if start < 0 or end < start:
        return part.strip()
    url = part[start + 1 : end]
    target = _inside(url, upstream=upstream, base_url=base_url, proxy_base=proxy_base) or url
    return (part[:start] + "<" + target + ">" + part[end + 1 :]).strip()


def _spooled(stream: Stream) -> tuple[Iterator[bytes], int]:
    spool = tempfile.SpooledTemporaryFile(max_size=IN_MEMORY_BYTES)  # noqa: SIM115 - closed below
    try:
        for chunk in stream.chunks():
            spool.write(chunk)
    except BaseException:
        spool.close()
        raise
    length = spool.tell()
    spool.seek(0)

    def replay() -> Iterator[bytes]:
        try:
            while chunk := spool.read(_CHUNK):
                yield chunk
        finally:
            spool.close()

    return replay(), length


def proxy_forward(
    *,
    datasource: DataSource,
    method: str,
    raw_path: str,
    raw_query: str,
    headers: Mapping[str, str],
    body: RequestBody | None,
    proxy_base: Callable[[], str],
    taking: object = None,
    connect: Callable[[], Connection] | None = None,
) -> ProxyAnswer:
    """Forward one call to ``datasource`` (see the module docstring). Errors before the
    answer starts are raised (typed, with the contract's codes); the upstream's own statuses
    are its answer. ``taking``: a take of the tenant's call slot already asked for;
    ``connect``: the data source's connection, when the caller keeps it made already."""
    started = time.perf_counter()
    url = upstream_url(datasource.base_url, raw_path, raw_query)
    overridden = [h["name"] for h in datasource.headers or []]
    request = OutboundRequest(
        method=method,
        url=url,
        headers={
            **forwarded_request_headers(headers, overridden=overridden),
            "Accept-Encoding": "identity",  # passed through as it comes; the cap counts bytes
        },
        body=body,
        exact_url=True,
    )
    try:
        stream = connection_stream(
            connect() if connect is not None else connection_of(datasource),
            TokenStateStore(datasource.pk), request,
            max_bytes=MAX_BODY_BYTES, taking=taking,
        )  # fmt: skip
    except OutboundError as exc:
        stats.record(datasource_id=datasource.pk, outcome=_failure_outcome(exc),
                     elapsed_ms=(time.perf_counter() - started) * 1000)  # fmt: skip
        raise
    answer_headers = _answer_headers(stream, base_url=datasource.base_url, proxy_base=proxy_base)
    try:
        if stream.declared_length is None:
            content, length = _spooled(stream)  # its size limit stays an error status
        else:
            first = stream.prefetch(PREBUFFER_BYTES)
            length = stream.declared_length
            content = first if len(first) >= length else stream.chunks()
    except OutboundError as exc:
        stream.close()
        stats.record(datasource_id=datasource.pk, outcome=_failure_outcome(exc),
                     elapsed_ms=(time.perf_counter() - started) * 1000)  # fmt: skip
        raise
    if isinstance(content, bytes):
        stream.close()
        stats.record(datasource_id=datasource.pk, outcome=_outcome(stream.status_code),
                     elapsed_ms=(time.perf_counter() - started) * 1000)  # fmt: skip
        body_out: bytes | Iterator[bytes] = content
    else:
        body_out = _streamed(content, stream, datasource.pk, started)
    return ProxyAnswer(
        status=stream.status_code,
        headers=answer_headers,
        body=body_out,
        length=length,
        sensitive=stream.sensitive,
    )


def _streamed(
    content: Iterator[bytes], stream: Stream, datasource_id: object, started: float
) -> Iterator[bytes]:
    """Pass the body on as it arrives; a failure now can only cut the answer short (its status
    is sent), so it is logged and counted, and the connection is dropped."""
    outcome = _outcome(stream.status_code)
    try:
        yield from content
    except OutboundError as exc:
        outcome = _failure_outcome(exc)
        logger.warning("proxied answer cut short: %s (%s)", exc.code, exc.message)
        raise
    finally:
        stream.close()
        stats.record(datasource_id=datasource_id, outcome=outcome,
                     elapsed_ms=(time.perf_counter() - started) * 1000)  # fmt: skip
