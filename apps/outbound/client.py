"""The one outbound HTTP client. Every call Plugboard makes to an upstream goes through
:func:`send` (or :func:`datasource_request`, which adds a data source's base URL, headers and
auth on top of it).

It checks each destination against the policy and connects to the checked address, follows at
most three redirects itself (each checked again, never to http, credentials dropped when the host
changes), bounds the whole exchange by one deadline, caps the body after decompression, and
turns every failure into a typed error with a readable message.
"""

from __future__ import annotations

import functools
import json
import logging
import ssl
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, BinaryIO
from urllib.parse import urlencode, urljoin, urlsplit

import requests
from django.conf import settings
from requests.structures import CaseInsensitiveDict
from urllib3.exceptions import DecodeError, ProtocolError, ReadTimeoutError
from urllib3.exceptions import HTTPError as Urllib3HTTPError
from urllib3.exceptions import SSLError as Urllib3SSLError

from apps.core import metrics
from apps.outbound import policy
from apps.outbound.errors import (
    DestinationBlocked,
    InvalidRequestSettings,
    OutboundError,
    RateLimited,
    ResponseTooLarge,
    UnexpectedResponse,
    UpstreamError,
    UpstreamTimeout,
    UpstreamTLSError,
    UpstreamUnreachable,
)
from apps.outbound.headers import header_value_problem
from apps.outbound.redaction import redact_url
from apps.outbound.transport import Answer, Deadline, ExactTarget, Trace, new_session, sessions

logger = logging.getLogger("plugboard.outbound")

MAX_REDIRECTS = 3
MAX_TIMEOUT = 60.0
OPTIONS_MAX_BYTES = 10 * 1024 * 1024
TOKEN_MAX_BYTES = 1024 * 1024
_READ_CHUNK = 64 * 1024
_REDIRECT_STATUSES = {301, 302, 303, 307, 308}
# Headers that may follow a redirect to another host; everything else may identify the caller.
_CROSS_HOST_SAFE_HEADERS = {"accept", "accept-language", "content-type", "user-agent"}


@dataclass
class Credentials:
    """What an auth mode added to a request, so that it can be withheld from other hosts."""

    headers: dict[str, str] = field(default_factory=dict)
    params: list[tuple[str, str]] = field(default_factory=list)
    token: str | None = None  # the token used, to detect a concurrent refresh

    def values(self) -> set[str]:
        """Every credential value, whole and (for "Bearer x"/"Basic x") without its scheme."""
        found = {v for v in self.headers.values() if v}
        found.update(v.split(" ", 1)[1] for v in self.headers.values() if " " in v)
        found.update(v for _, v in self.params if v)
        if self.token:
            found.add(self.token)
        return found


@dataclass
class OutboundRequest:
    method: str
    url: str
    headers: dict[str, str] = field(default_factory=dict)
    params: list[tuple[str, str]] = field(default_factory=list)
    # Bytes, or a RequestBody (a file read as it is sent, rewound for a retry).
    body: bytes | RequestBody | None = None
    # Send the URL's path and query exactly as written (the proxy forwards them byte for byte).
    exact_url: bool = False


class RequestBody:
    """A request body read from a file as it is sent, with its length announced; rewound before
    each send so that a retry (after a token refresh) sends it again."""

    def __init__(self, file: BinaryIO, length: int) -> None:
        self.file = file
        self.len = length  # requests announces Content-Length from this

    def rewind(self) -> RequestBody:
        self.file.seek(0)
        return self

    def read(self, size: int = -1) -> bytes:
        return self.file.read(size)


@dataclass
class OutboundResponse:
    status_code: int
    headers: CaseInsensitiveDict
    content: bytes
    url: str
    elapsed_ms: float
    redirects: int = 0
    # Credential values sent with the request, so that callers can mask them if echoed back.
    sensitive: set[str] = field(default_factory=set)

    @property
    def ok(self) -> bool:
        return 200 <= self.status_code < 300

    @property
    def content_type(self) -> str:
        return self.headers.get("Content-Type", "")

    @property
    def text(self) -> str:
        return self.content.decode(_charset(self.content_type), errors="replace")

    def json(self) -> Any:
        try:
            return json.loads(self.content)
        except ValueError as exc:
            raise UnexpectedResponse(
                "The upstream API did not answer with JSON.",
                details={"content_type": self.content_type[:100]},
            ) from exc

    def raise_for_status(self) -> OutboundResponse:
        """Map a non-2xx answer to the contract's typed errors."""
        if self.ok:
            return self
        if self.status_code == 429:
            raise RateLimited(retry_after=parse_retry_after(self.headers.get("Retry-After")))
        raise UpstreamError(status_code=self.status_code)


def _charset(content_type: str) -> str:
    for part in content_type.split(";")[1:]:
        name, _, value = part.strip().partition("=")
        if name.lower() == "charset" and value:
            return value.strip('"')
    return "utf-8"


def header_int(value: str | None, max_digits: int = 18) -> int | None:
    """A header's non-negative integer (``Content-Length``, ``Retry-After``), or None when it is
    not plain ASCII digits of a sane length (``str.isdigit`` also takes "²", and ``int`` refuses
    thousands of digits)."""
    value = (value or "").strip()
    if not value or len(value) > max_digits or not (value.isascii() and value.isdigit()):
        return None
    return int(value)


def parse_retry_after(value: str | None) -> int | None:
    """Seconds to wait: delta-seconds or an HTTP date; None when unreadable."""
    if not value or len(value) > 100:
        return None
    value = value.strip()
    seconds = header_int(value, max_digits=9)
    if seconds is not None or (value.isascii() and value.isdigit()):
        return seconds
    from email.utils import parsedate_to_datetime

    try:
        when = parsedate_to_datetime(value)
        return max(int(when.timestamp() - time.time()), 0)
    except (TypeError, ValueError, OverflowError, IndexError):
        return None


def add_query(url: str, params: Iterable[tuple[str, str]]) -> str:
    """``url`` with ``params`` appended to its query; what the query held is kept as written."""
    params = list(params)
    if not params:
        return url
    base, _, fragment = url.partition("#")
    separator = "&" if urlsplit(base).query else ("" if base.endswith("?") else "?")
    return base + separator + urlencode(params) + (f"#{fragment}" if fragment else "")


def join_url(base_url: str, path: str) -> str:
    """``https://h/api`` + ``/items?x=1`` → ``https://h/api/items?x=1`` (never replaces the host)."""
    if not path:
        return base_url
    return base_url.rstrip("/") + "/" + path.lstrip("/")


def _tls_reason(exc: BaseException) -> str:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, ssl.SSLCertVerificationError):
            return current.verify_message or "certificate verify failed"
        if isinstance(current, ssl.SSLError):
            return current.reason or "TLS handshake failed"
        for arg in getattr(current, "args", ()):
            if isinstance(arg, BaseException) and id(arg) not in seen:
                current = arg
                break
        else:
            current = current.__cause__ or current.__context__
    return "TLS handshake failed"


def _map_transport_error(
    exc: Exception, target: policy.Target, deadline: Deadline
) -> OutboundError:
    where = target.host if target.port == 443 else f"{target.host}:{target.port}"
    if deadline.expired() or isinstance(exc, requests.Timeout | ReadTimeoutError | TimeoutError):
        return UpstreamTimeout(
            f"{where} did not answer within {deadline.seconds:g} seconds.",
            details={"timeout_seconds": deadline.seconds},
        )
    if isinstance(exc, requests.exceptions.SSLError | Urllib3SSLError | ssl.SSLError):
        return UpstreamTLSError(
            f"The TLS connection to {where} failed: {_tls_reason(exc)}.",
            details={"reason": "tls"},
        )
    if isinstance(exc, DecodeError | requests.exceptions.ContentDecodingError):
        return UnexpectedResponse(f"{where} sent a body that could not be decoded.")
    if isinstance(exc, ProtocolError | requests.exceptions.ChunkedEncodingError):
        return UpstreamUnreachable(f"The connection to {where} broke off.")
    return UpstreamUnreachable(f"Could not connect to {where}.")


def _read_capped(response: Answer, max_bytes: int, where: str) -> bytes:
    declared = header_int(response.headers.get("Content-Length"))
    encoded = response.headers.get("Content-Encoding", "identity").lower() not in ("", "identity")
    if declared is not None and declared > max_bytes and not encoded:
        raise ResponseTooLarge(
            f"{where} answered with {declared:,} bytes; the limit is {max_bytes:,}.",
            details={"limit_bytes": max_bytes, "reason": "too_large"},
        )
    chunks: list[bytes] = []
    total = 0
    for chunk in response.raw.stream(_READ_CHUNK, decode_content=True):
        total += len(chunk)
        if total > max_bytes:
            raise ResponseTooLarge(
                f"{where} answered with more than {max_bytes:,} bytes (after decompression).",
                details={"limit_bytes": max_bytes, "reason": "too_large"},
            )
        chunks.append(chunk)
    return b"".join(chunks)


def _next_request(current: OutboundRequest, response: Answer, status: int) -> OutboundRequest:
    location = response.headers.get("Location")
    if not location:
        raise UnexpectedResponse("The upstream API redirected without saying where to.")
    url = urljoin(current.url, location)
    method, body = current.method, current.body
    if (status == 303 and method != "HEAD") or (status in (301, 302) and method == "POST"):
        method, body = "GET", None
    headers = dict(current.headers)
    if body is None:
        headers = {k: v for k, v in headers.items() if k.lower() != "content-type"}
    return OutboundRequest(method=method, url=url, headers=headers, body=body)


# What every outbound request says unless its caller says otherwise.
DEFAULT_HEADERS = {
    "User-Agent": "Plugboard/1.0",
    "Accept-Encoding": "gzip, deflate",
    "Accept": "*/*",
}
_BODYLESS = ("GET", "HEAD")


def _prepare(
    method: str,
    url: str,
    headers: dict[str, str],
    body: bytes | RequestBody | None,
    *,
    exact: bool = False,
) -> requests.PreparedRequest:
    """The request as the transport sends it, or InvalidRequestSettings naming the header at
    fault (never its value, which may be a secret).

    Built directly rather than by ``Session.prepare_request``, which merges session settings,
    cookies and hooks this client never uses and costs more than the rest of a call's work."""
    merged = CaseInsensitiveDict(DEFAULT_HEADERS)
    merged.update(headers)
    for name, value in merged.items():
        problem = header_value_problem(value)
        if problem:
            raise InvalidRequestSettings(
                f"The {name} header cannot be sent: its value {problem}. "
                "Correct the data source's settings.",
                details={"header": name},
            )
    prepared = requests.PreparedRequest()
    prepared.method = method.upper()
    try:
        if exact:
            prepared.url = url  # the caller's encoding, as it is (see ExactTarget)
        else:
            prepared.prepare_url(url, None)
    except (requests.RequestException, ValueError, TypeError, UnicodeError) as exc:
        raise InvalidRequestSettings(
            f"The request could not be built ({type(exc).__name__}). "
            "Correct the data source's settings."
        ) from None
    if isinstance(body, RequestBody):
        merged["Content-Length"] = str(body.len)
        prepared.body = body.rewind()
    elif body is not None:
        merged["Content-Length"] = str(len(body))
        prepared.body = body
    elif prepared.method not in _BODYLESS:
        merged["Content-Length"] = "0"
    prepared.headers = merged
    prepared.hooks = {"response": []}
    return prepared


def _request_target(url: str) -> str:
    """The path and query of ``url`` as written (for the request line)."""
    parts = urlsplit(url)
    return (parts.path or "/") + (f"?{parts.query}" if parts.query else "")


class _Call:
    """One call's state: its session, deadline, credentials and what must not be logged."""

    def __init__(
        self,
        request: OutboundRequest,
        *,
        timeout: float,
        pool: str,
        credentials: Credentials | None,
        follow_redirects: bool,
        trace: Trace | None,
        fresh_connection: bool,
        redact: Iterable[str],
        owner: str = "",
    ) -> None:
        self.request = request
        self.owner = owner
        self.pool = pool  # also what the call is counted under (see metrics.upstream_labels)
        self.deadline = Deadline(min(max(float(timeout), 0.1), MAX_TIMEOUT))
        self.started = time.perf_counter()
        self.credentials = credentials or Credentials()
        self.secrets = self.credentials.values() | {v for v in redact if v}
        self.follow_redirects = follow_redirects
        self.trace = trace
        self.fresh = fresh_connection
        ca_bundle = settings.OUTBOUND_CA_BUNDLE
        self.session = new_session(ca_bundle) if fresh_connection else sessions.get(pool)
        self.adapter = self.session.get_adapter("https://")
        self.hops = 0
        self.request_started = self.started

    def close(self) -> None:
        if self.fresh:
            self.session.close()

    def _headers_for(self, current: OutboundRequest, target: policy.Target, carry: bool) -> tuple:
        headers = dict(current.headers)
        url = target.url
        if carry:
            headers.update(self.credentials.headers)
            url = add_query(url, self.credentials.params)
        else:
            headers = {k: v for k, v in headers.items() if k.lower() in _CROSS_HOST_SAFE_HEADERS}
        headers["Host"] = target.host_header
        return url, headers

    def _send_hop(self, current: OutboundRequest, target: policy.Target, carry: bool) -> Answer:
        """Check the destination and send one request to the checked address."""
        dns_started = time.perf_counter()
        pin, addresses = policy.check_target(
            target, timeout=self.deadline.remaining(), owner=self.owner
        )
        if self.trace is not None and self.hops == 0:
            self.trace.dns_ms = (time.perf_counter() - dns_started) * 1000
            self.trace.addresses = [str(ip) for ip in addresses]
        url, headers = self._headers_for(current, target, carry)
        prepared = _prepare(current.method, url, headers, current.body, exact=current.exact_url)
        prepared.plugboard_pin = pin  # type: ignore[attr-defined]
        self.request_started = time.perf_counter()
        target_line = _request_target(url) if current.exact_url else None
        with self.deadline.active(self.trace), ExactTarget(target_line):
            try:
                # The adapter directly: Session.send would only add cookies, hooks and
                # redirects, none of which this client wants.
                return self.adapter.send(
                    prepared,
                    stream=True,
                    timeout=(self.deadline.remaining(), self.deadline.remaining()),
                    verify=True,
                    cert=None,
                    proxies={},
                )
            except OutboundError:
                raise
            except (requests.RequestException, Urllib3HTTPError, OSError, ValueError) as exc:
                raise _map_transport_error(exc, target, self.deadline) from None

    def open(self) -> tuple[Answer, policy.Target]:
        """The final answer (after redirects), its body not read yet."""
        current, origin, carry = self.request, None, True
        while True:
            target = policy.parse_target(add_query(current.url, current.params))
            if origin is None:
                origin = target.origin
            elif target.origin != origin:
                carry = False  # credentials never follow a redirect to another host
            upstream = self._send_hop(current, target, carry)
            status = upstream.status_code
            if not (self.follow_redirects and status in _REDIRECT_STATUSES):
                return upstream, target
            try:
                if self.hops == MAX_REDIRECTS:
                    raise UnexpectedResponse(
                        f"The upstream API redirected more than {MAX_REDIRECTS} times."
                    )
                current = _next_request(current, upstream, status)
                if urlsplit(current.url).scheme.lower() != "https":
                    raise DestinationBlocked(
                        "The upstream API redirected to a non-https URL; refused."
                    )
            finally:
                upstream.close()
            self.hops += 1

    def read(self, upstream: Answer, target: policy.Target, max_bytes: int) -> bytes:
        """The body, at most ``max_bytes`` after decompression, within the deadline."""
        with self.deadline.active(self.trace):
            try:
                content = _read_capped(upstream, max_bytes, target.host)
            except OutboundError:
                raise
            except (requests.RequestException, Urllib3HTTPError, OSError, ValueError) as exc:
                raise _map_transport_error(exc, target, self.deadline) from None
        if self.trace is not None:  # from sending the last request to the end of its body
            self.trace.request_ms = (time.perf_counter() - self.request_started) * 1000
        return content

    def log_answer(self, target: policy.Target, status: int) -> float:
        elapsed = (time.perf_counter() - self.started) * 1000
        metrics.upstream_called(self.pool, metrics.status_class(status), elapsed / 1000)
        if not logger.isEnabledFor(logging.INFO):
            return elapsed  # masking the URL costs more than the call's own bookkeeping
        logger.info(
            "%s %s -> %s in %.0f ms",
            self.request.method,
            redact_url(target.url, self.secrets),
            status,
            elapsed,
        )
        return elapsed

    def log_failure(self, exc: OutboundError) -> None:
        metrics.upstream_called(self.pool, exc.code, time.perf_counter() - self.started)
        logger.info(
            "%s %s failed: %s (%s)",
            self.request.method,
            redact_url(self.request.url, self.secrets),
            exc.code,
            exc.message,
        )


def send(
    request: OutboundRequest,
    *,
    timeout: float,
    max_bytes: int,
    pool: str = "default",
    credentials: Credentials | None = None,
    follow_redirects: bool = True,
    trace: Trace | None = None,
    fresh_connection: bool = False,
    redact: Iterable[str] = (),
    owner: str = "",
) -> OutboundResponse:
    """Send ``request`` to an upstream under the outbound policy; see the module docstring.
    ``redact`` lists secret values that must not appear in what is logged (the credentials'
    values are always redacted); ``owner`` names whose call it is (its lookups are bounded)."""
    call = _Call(
        request, timeout=timeout, pool=pool, credentials=credentials,
        follow_redirects=follow_redirects, trace=trace, fresh_connection=fresh_connection,
        redact=redact, owner=owner,
    )  # fmt: skip
    try:
        upstream, target = call.open()
        try:
            content = call.read(upstream, target, max_bytes)
        finally:
            upstream.close()
        elapsed = call.log_answer(target, upstream.status_code)
        return OutboundResponse(
            status_code=upstream.status_code,
            headers=upstream.headers,
            content=content,
            url=target.url,
            elapsed_ms=elapsed,
            redirects=call.hops,
        )
    except OutboundError as exc:
        call.log_failure(exc)
        raise
    finally:
        call.close()


class Stream:
    """An upstream answer whose body is read as it arrives, within the call's deadline and
    size cap (the proxy's pass-through). Close it when done."""

    def __init__(self, call: _Call, upstream: Answer, target: policy.Target,
                 max_bytes: int) -> None:  # fmt: skip
        self._call, self._upstream, self._target = call, upstream, target
        self.max_bytes = max_bytes
        self.status_code = upstream.status_code
        self.headers = upstream.headers  # case-insensitive
        self.url = target.url
        self.read_bytes = 0
        self._closed = False
        self._source: Iterator[bytes] | None = None
        self._prefetched: list[bytes] = []
        self._after_close: list[Callable[[], object]] = []
        self.sensitive: set[str] = set()

    @functools.cached_property
    def declared_length(self) -> int | None:
        """The body's length as announced (None when unknown, or encoded: decoded it differs)."""
        encoded = self.headers.get("Content-Encoding", "identity").lower() not in ("", "identity")
        return None if encoded else header_int(self.headers.get("Content-Length"))

    def prefetch(self, limit: int) -> bytes:
        """Read up to about ``limit`` bytes now (kept for ``chunks``); the bytes read so far."""
        declared = self.declared_length
        while sum(map(len, self._prefetched)) < limit:
            if declared and self.read_bytes >= declared:
                break  # all of it (no read for the end: the connection went back with the last)
            chunk = self._next_chunk(_READ_CHUNK)
            if chunk is None:
                break
            self._prefetched.append(chunk)
        return b"".join(self._prefetched)

    def chunks(self, size: int = _READ_CHUNK) -> Iterator[bytes]:
        """The body, decoded, chunk by chunk; ResponseTooLarge past the cap, the typed transport
        errors (a timeout at the deadline) when reading fails."""
        while self._prefetched:
            yield self._prefetched.pop(0)
        while True:
            chunk = self._next_chunk(size)
            if chunk is None:
                return
            yield chunk

    def _next_chunk(self, size: int) -> bytes | None:
        if self._source is None:
            self._source = self._upstream.raw.stream(size, decode_content=True)
        source = self._source
        while True:
            with self._call.deadline.active(self._call.trace):
                try:
                    chunk = next(source, None)
                except OutboundError:
                    raise
                except (requests.RequestException, Urllib3HTTPError, OSError, ValueError) as exc:
                    raise _map_transport_error(exc, self._target, self._call.deadline) from None
            if chunk is None:
                return None
            if not chunk:
                continue
            self.read_bytes += len(chunk)
            if self.read_bytes > self.max_bytes:
                raise ResponseTooLarge(
                    f"{self._target.host} answered with more than {self.max_bytes:,} bytes.",
                    details={"limit_bytes": self.max_bytes, "reason": "too_large"},
                )
            return chunk

    def after_close(self, callback: Callable[[], object]) -> None:
        """Call ``callback`` once the stream is closed."""
        self._after_close.append(callback)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            self._upstream.close()
            self._call.log_answer(self._target, self.status_code)
            self._call.close()
        finally:
            for callback in self._after_close:
                callback()


def open_stream(
    request: OutboundRequest,
    *,
    timeout: float,
    max_bytes: int,
    pool: str = "default",
    credentials: Credentials | None = None,
    follow_redirects: bool = False,
    redact: Iterable[str] = (),
    owner: str = "",
) -> Stream:
    """Send ``request`` like :func:`send`, but hand back the answer with its body unread. A body
    announced larger than ``max_bytes`` is refused before any of it is read."""
    call = _Call(
        request, timeout=timeout, pool=pool, credentials=credentials,
        follow_redirects=follow_redirects, trace=None, fresh_connection=False, redact=redact,
        owner=owner,
    )  # fmt: skip
    try:
        upstream, target = call.open()
    except OutboundError as exc:
        call.log_failure(exc)
        call.close()
        raise
    stream = Stream(call, upstream, target, max_bytes)
    declared = stream.declared_length
    if declared is not None and declared > max_bytes:
        upstream.close()
        call.close()
        error = ResponseTooLarge(
            f"{target.host} answered with {declared:,} bytes; the limit is {max_bytes:,}.",
            details={"limit_bytes": max_bytes, "reason": "too_large"},
        )
        call.log_failure(error)
        raise error
    return stream
