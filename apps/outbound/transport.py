"""The transport under the outbound client: pinned connections, one deadline per exchange,
bounded keep-alive pools, and timings for the connection test.

- ``PinnedAdapter`` connects to the address the policy checked (``request.plugboard_pin``) and
  sends the real host name for SNI and certificate verification.
- Certificates are verified against ``OUTBOUND_CA_BUNDLE`` only: sessions ignore the process
  environment (proxies, .netrc, ``REQUESTS_CA_BUNDLE``), and ``verify`` cannot widen trust.
- ``DeadlineSSLSocket`` bounds every handshake, read and write by the time left in the current
  exchange, so a server that drips a byte a second is cut off at the deadline.
"""

from __future__ import annotations

import os
import re
import ssl
import threading
import time
from collections import OrderedDict
from contextvars import ContextVar
from dataclasses import dataclass, field
from http.cookiejar import CookieJar
from typing import Any

import requests
from django.conf import settings
from requests.adapters import HTTPAdapter
from requests.structures import CaseInsensitiveDict
from urllib3.connection import HTTPSConnection
from urllib3.connectionpool import HTTPSConnectionPool

from apps.outbound.errors import DestinationBlocked

_deadline: ContextVar[float | None] = ContextVar("outbound_deadline", default=None)
_trace: ContextVar[Trace | None] = ContextVar("outbound_trace", default=None)
# A request target (path and query) to send exactly as written, not re-encoded (the proxy).
_exact_target: ContextVar[str | None] = ContextVar("outbound_exact_target", default=None)
_SENDABLE_TARGET = re.compile(r"/[!-~]*")

POOL_CONNECTIONS = 4  # distinct (address, host name) pools per session
POOL_MAXSIZE = 8  # kept-alive connections per pool
MAX_SESSIONS = 256  # sessions (one per data source) kept per process


@dataclass
class Trace:
    """Timings of one exchange, in milliseconds, for the connection test's steps."""

    dns_ms: float | None = None
    auth_ms: float | None = None
    addresses: list[str] = field(default_factory=list)
    connect_ms: float | None = None
    tls_ms: float | None = None
    tls_version: str | None = None
    reused_connection: bool = False
    request_ms: float | None = None
    connected_to: str | None = None


class Deadline:
    """An absolute point in time (monotonic) by which an exchange must be over."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.at = time.monotonic() + seconds

    def remaining(self) -> float:
        return self.at - time.monotonic()

    def expired(self) -> bool:
        return self.remaining() <= 0

    def active(self, trace: Trace | None = None) -> _Active:
        """This deadline (and ``trace``) current within a ``with`` block."""
        return _Active(self.at, trace)


class _Active:
    """``Deadline.active``: a plain context manager (one per read of a streamed body, where a
    generator-based one costs more than the read's bookkeeping)."""

    __slots__ = ("_at", "_tokens", "_trace")

    def __init__(self, at: float, trace: Trace | None) -> None:
        self._at, self._trace = at, trace

    def __enter__(self) -> None:
        self._tokens = (_deadline.set(self._at), _trace.set(self._trace))

    def __exit__(self, *exc: object) -> None:
        deadline_token, trace_token = self._tokens
        _deadline.reset(deadline_token)
        _trace.reset(trace_token)


def _time_left() -> float | None:
    at = _deadline.get()
    if at is None:
        return None
    left = at - time.monotonic()
    if left <= 0:
        raise TimeoutError("the exchange's deadline has passed")
    return left


# Setting a socket's timeout is a system call; within this much of the time left, the one
# already set is kept (a blocking call may then end this much after the deadline).
_TIMEOUT_SLACK = 0.05


class DeadlineSSLSocket(ssl.SSLSocket):
    """An SSL socket whose every blocking call ends by the current exchange's deadline."""

    def _bound(self) -> None:
        left = _time_left()
        if left is not None:
            current = self.gettimeout()
            if current is None or abs(current - left) > _TIMEOUT_SLACK:
                self.settimeout(left)

    def do_handshake(self, *args: Any, **kwargs: Any) -> None:
        self._bound()
        super().do_handshake(*args, **kwargs)

    def recv(self, *args: Any, **kwargs: Any) -> bytes:
        self._bound()
        return super().recv(*args, **kwargs)

    def recv_into(self, *args: Any, **kwargs: Any) -> int:
        self._bound()
        return super().recv_into(*args, **kwargs)

    def read(self, *args: Any, **kwargs: Any) -> Any:
        self._bound()
        return super().read(*args, **kwargs)

    def send(self, *args: Any, **kwargs: Any) -> int:
        self._bound()
        return super().send(*args, **kwargs)

    def sendall(self, *args: Any, **kwargs: Any) -> None:
        self._bound()
        return super().sendall(*args, **kwargs)


def build_ssl_context(ca_bundle: str) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=ca_bundle)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.check_hostname = True
    context.verify_mode = ssl.CERT_REQUIRED
    context.sslsocket_class = DeadlineSSLSocket
    return context


class TracingHTTPSConnection(HTTPSConnection):
    """Records connect and TLS timings into the current trace."""

    def _new_conn(self) -> Any:
        started = time.perf_counter()
        sock = super()._new_conn()
        trace = _trace.get()
        if trace is not None:
            trace.connect_ms = (time.perf_counter() - started) * 1000
            trace.connected_to = f"{self.host}:{self.port}"
        return sock

    def connect(self) -> None:
        started = time.perf_counter()
        super().connect()
        trace = _trace.get()
        if trace is not None:
            total = (time.perf_counter() - started) * 1000
            trace.tls_ms = max(total - (trace.connect_ms or 0.0), 0.0)
            version = getattr(self.sock, "version", None)
            trace.tls_version = version() if callable(version) else None


class ExactTarget:
    """Send the request made meanwhile with this request target, byte for byte (urllib3 would
    normalise its percent-escapes). Only a target of visible ASCII starting with '/' is used."""

    __slots__ = ("_target", "_token")

    def __init__(self, target: str | None) -> None:
        self._target = target if target and _SENDABLE_TARGET.fullmatch(target) else None

    def __enter__(self) -> None:
        self._token = _exact_target.set(self._target)

    def __exit__(self, *exc: object) -> None:
        _exact_target.reset(self._token)


class TracingHTTPSConnectionPool(HTTPSConnectionPool):
    ConnectionCls = TracingHTTPSConnection

    def _make_request(self, conn: Any, method: str, url: str, *args: Any, **kwargs: Any) -> Any:
        exact = _exact_target.get()
        return super()._make_request(conn, method, exact or url, *args, **kwargs)

    def _get_conn(self, timeout: float | None = None) -> Any:
        conn = super()._get_conn(timeout)
        trace = _trace.get()
        if trace is not None and getattr(conn, "sock", None) is not None:
            trace.reused_connection = True
        return conn


class NoCookies(CookieJar):
    """Upstream cookies are never kept: no state leaks between calls or data sources."""

    def set_cookie(self, cookie: Any) -> None:
        return None

    def extract_cookies(self, response: Any, request: Any) -> None:
        return None


class Answer:
    """An upstream's answer as the transport hands it back: its status, its headers (read
    case-insensitively, repeated ones joined) and ``raw``, urllib3's response with the body
    not read yet. ``close`` gives the connection back to its pool (closed first when the body
    was not read to its end)."""

    __slots__ = ("headers", "raw", "request", "status_code")

    def __init__(self, raw: Any, request: Any = None) -> None:
        self.raw = raw
        self.request = request  # what was sent (as on a requests Response)
        self.status_code: int = raw.status
        self.headers = CaseInsensitiveDict(raw.headers)

    def close(self) -> None:
        self.raw.close()
        self.raw.release_conn()


class PinnedAdapter(HTTPAdapter):
    """Connects to the checked address in ``request.plugboard_pin``; refuses anything else."""

    def __init__(self, ssl_context: ssl.SSLContext, **kwargs: Any) -> None:
        self.ssl_context = ssl_context
        super().__init__(
            pool_connections=POOL_CONNECTIONS, pool_maxsize=POOL_MAXSIZE, max_retries=0, **kwargs
        )

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {"https": TracingHTTPSConnectionPool}

    def get_connection_with_tls_context(
        self, request: Any, verify: Any, proxies: Any = None, cert: Any = None
    ) -> Any:
        pin = getattr(request, "plugboard_pin", None)
        if pin is None or not request.url.lower().startswith("https://"):
            raise DestinationBlocked("The destination was not checked; the call was refused.")
        return self.poolmanager.connection_from_host(
            host=pin.ip,
            port=pin.port,
            scheme="https",
            pool_kwargs={"server_hostname": pin.hostname, "ssl_context": self.ssl_context},
        )

    def build_response(self, req: Any, resp: Any) -> Any:
        # The client reads the status, the headers and the raw body only: a requests Response
        # (its cookie jar, encoding guess and history) would cost more than the rest of it.
        return Answer(resp, req)

    def cert_verify(self, conn: Any, url: str, verify: Any, cert: Any) -> None:
        # Trust comes from our SSL context alone; `verify` and the environment cannot change it.
        conn.cert_reqs = "CERT_REQUIRED"
        conn.ca_certs = None
        conn.ca_cert_dir = None


class RefuseAdapter(HTTPAdapter):
    def send(self, request: Any, *args: Any, **kwargs: Any) -> Any:
        raise DestinationBlocked("Only https:// destinations are allowed.")


def new_session(ca_bundle: str) -> requests.Session:
    session = requests.Session()
    session.trust_env = False  # no proxies, .netrc or CA bundle from the environment
    session.cookies = NoCookies()
    session.headers = requests.structures.CaseInsensitiveDict(
        {"User-Agent": "Plugboard/1.0", "Accept-Encoding": "gzip, deflate", "Accept": "*/*"}
    )
    session.mount("https://", PinnedAdapter(build_ssl_context(ca_bundle)))
    session.mount("http://", RefuseAdapter())
    return session


class SessionRegistry:
    """One session (and so one set of keep-alive pools) per key and process, LRU-bounded."""

    def __init__(self, limit: int = MAX_SESSIONS) -> None:
        self.limit = limit
        self._sessions: OrderedDict[tuple[str, str], requests.Session] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: str) -> requests.Session:
        ca_bundle = settings.OUTBOUND_CA_BUNDLE
        full_key = (key, ca_bundle)
        with self._lock:
            session = self._sessions.get(full_key)
            if session is not None:
                self._sessions.move_to_end(full_key)
                return session
            session = new_session(ca_bundle)
            self._sessions[full_key] = session
            while len(self._sessions) > self.limit:
                _, evicted = self._sessions.popitem(last=False)
                evicted.close()
            return session

    def discard(self, key: str) -> None:
        """Close and forget ``key``'s session (its keep-alive connections)."""
        with self._lock:
            for full_key in [k for k in self._sessions if k[0] == key]:
                self._sessions.pop(full_key).close()

    def _forget_after_fork(self) -> None:
        # A forked child must not share its parent's sockets; drop them without closing.
        self._sessions = OrderedDict()
        self._lock = threading.Lock()


sessions = SessionRegistry()
os.register_at_fork(after_in_child=sessions._forget_after_fork)
