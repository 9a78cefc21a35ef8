"""Destination policy for every outbound call.

- Only ``https`` URLs without userinfo, backslashes, whitespace or control characters.
- The host is resolved once; every address must be allowed, and the connection is then made to
  the checked address (see ``transport``), so a second lookup cannot rebind it.
- Loopback, private, link-local, shared, reserved, multicast and unspecified addresses are
  refused, also when they hide inside an IPv6 address (IPv4-mapped, IPv4-compatible, 6to4,
  Teredo, NAT64), unless ``OUTBOUND_ALLOWED_NETWORKS`` names a network that holds them.
"""

from __future__ import annotations

import ipaddress
import re
import socket
import threading
import time
from collections.abc import Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from functools import lru_cache
from urllib.parse import unquote, urlsplit

from django.conf import settings

from apps.core.codes import ErrorCode
from apps.outbound.errors import (
    DestinationBlocked,
    InvalidDestination,
    UpstreamTimeout,
    UpstreamUnreachable,
)

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

_FORBIDDEN_URL_CHARS = re.compile(r"[\x00-\x20\x7f\\]")
_NAT64_NETWORKS = (
    ipaddress.ip_network("64:ff9b::/96"),  # RFC 6052 well-known prefix
    ipaddress.ip_network("64:ff9b:1::/48"),  # RFC 8215 local-use prefix
)
_IPV4_COMPATIBLE = ipaddress.ip_network("::/96")  # deprecated ::a.b.c.d form
# Ranges Python's ipaddress still calls global but that are never a public API endpoint.
_EXTRA_BLOCKED = (
    ipaddress.ip_network("fec0::/10"),  # deprecated site-local
    ipaddress.ip_network("2001:db8::/32"),  # documentation
    ipaddress.ip_network("100::/64"),  # discard-only
)


class _Resolver:
    """Name lookups in a bounded pool of threads (getaddrinfo has no timeout of its own). The
    lookups of one host share one thread, and one owner (a tenant) has at most
    ``per_owner`` lookups of its own running: names that resolve slowly hold back their
    owner's calls, never the others'."""

    def __init__(self, workers: int = 32, per_owner: int = 4) -> None:
        self.pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="outbound-dns")
        self.per_owner = per_owner
        self.changed = threading.Condition()
        self.running: dict[tuple[str, int], Future] = {}
        self.owned: dict[str, int] = {}

    def lookup(self, host: str, port: int, *, timeout: float, owner: str) -> list:
        give_up = time.monotonic() + max(timeout, 0.001)
        with self.changed:
            while True:
                future = self.running.get((host, port))
                if future is not None:
                    break
                if not owner or self.owned.get(owner, 0) < self.per_owner:
                    self.owned[owner] = self.owned.get(owner, 0) + 1
                    future = self.pool.submit(self._run, host, port, owner)
                    self.running[(host, port)] = future
                    break
                left = give_up - time.monotonic()
                if left <= 0:
                    raise UpstreamTimeout(
                        f"Looking up {host} took too long: other names of this tenant are "
                        "still being looked up."
                    )
                self.changed.wait(left)
        return future.result(timeout=max(give_up - time.monotonic(), 0.001))

    def _run(self, host: str, port: int, owner: str) -> list:
        try:
            return socket.getaddrinfo(host, port, 0, socket.SOCK_STREAM)
        finally:
            with self.changed:
                left = self.owned.get(owner, 1) - 1
                if left:
                    self.owned[owner] = left
                else:
                    self.owned.pop(owner, None)
                self.running.pop((host, port), None)
                self.changed.notify_all()


_resolver = _Resolver()


@dataclass(frozen=True)
class Target:
    """A checked URL's parts."""

    url: str
    host: str  # lower-case name or IP literal, without brackets
    port: int
    path: str  # path and query, for the request line

    @property
    def host_header(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if self.port == 443 else f"{host}:{self.port}"

    @property
    def origin(self) -> tuple[str, int]:
        return (self.host, self.port)


@dataclass(frozen=True)
class Pin:
    """The checked address a request must connect to, and the name TLS must verify."""

    ip: str
    hostname: str
    port: int


def parse_target(url: str) -> Target:
    """Check a URL's form; raise InvalidDestination with a readable reason."""
    if not isinstance(url, str) or not url:
        raise InvalidDestination("The URL is empty.")
    if _FORBIDDEN_URL_CHARS.search(url):
        raise InvalidDestination("The URL contains whitespace, a backslash or a control character.")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise InvalidDestination("The URL is not valid.") from exc
    if parts.scheme.lower() != "https":
        raise InvalidDestination(
            "Only https:// URLs are allowed.", code=ErrorCode.HTTPS_REQUIRED, status=400
        )
    if "@" in parts.netloc or parts.username is not None or parts.password is not None:
        raise InvalidDestination("The URL must not contain a user name or password.")
    host = (parts.hostname or "").rstrip(".")
    if not host:
        raise InvalidDestination("The URL has no host.")
    if "%" in host:
        raise InvalidDestination("IPv6 zone identifiers are not allowed in URLs.")
    if has_dot_segment(parts.path):
        raise InvalidDestination("The URL's path contains a '.' or '..' segment.")
    path = parts.path or "/"
    if parts.query:
        path = f"{path}?{parts.query}"
    return Target(url=url, host=host.lower(), port=port or 443, path=path)


def has_dot_segment(path: str) -> bool:
    """Whether a URL path (without its query) has a ``.`` or ``..`` segment, also
    percent-encoded (``%2e%2E``): HTTP libraries normalise those away, leaving the base path."""
    return any(unquote(segment) in (".", "..") for segment in path.split("/"))


_SCHEME_IN_FRONT = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")


def is_absolute_url(path: str) -> bool:
    """Whether ``path`` names its own scheme (``https://…``) rather than a path."""
    return bool(_SCHEME_IN_FRONT.match(path))


_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def relative_path_problem(path: str) -> str | None:
    """Why ``path`` (relative to a base URL, query allowed) is not one, or None.

    Only what is in front matters: a scheme (``https://…``) or an authority (``//host``,
    ``\\host``). A query may carry anything, URLs included (``/x?next=https://y``)."""
    if _SCHEME_IN_FRONT.match(path) or path[:2].replace("\\", "/") == "//":
        return "Give a path relative to the base URL, like /health, not a URL."
    if any(ch in path for ch in " \r\n\t"):
        return "A path may not contain spaces or line breaks; write them as %20."
    before_query = path.split("?", 1)[0].split("#", 1)[0]
    if _CONTROL.search(path) or _CONTROL.search(unquote(before_query)):
        return "A path may not contain control characters (also percent-encoded, like %01)."
    if "\\" in before_query:
        return "A path may not contain backslashes."
    if has_dot_segment(before_query):
        return "A path may not contain '.' or '..' segments."
    return None


@lru_cache(maxsize=8)
def _allowed_networks(raw: tuple[str, ...]) -> tuple[IPNetwork, ...]:
    return tuple(ipaddress.ip_network(item.strip(), strict=False) for item in raw if item.strip())


def allowed_networks() -> tuple[IPNetwork, ...]:
    return _allowed_networks(tuple(settings.OUTBOUND_ALLOWED_NETWORKS))


def embedded_ipv4(ip: IPAddress) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address carries, in any of the forms used to smuggle one."""
    if not isinstance(ip, ipaddress.IPv6Address):
        return None
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip.teredo is not None:
        return ip.teredo[1]  # the client's (de-obfuscated) address
    for network in _NAT64_NETWORKS:
        if ip in network:
            return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    if ip in _IPV4_COMPATIBLE and int(ip) > 1:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def _is_public(ip: IPAddress) -> bool:
    return (
        ip.is_global
        and not ip.is_multicast
        and not ip.is_reserved
        and not ip.is_unspecified
        and not any(ip in net for net in _EXTRA_BLOCKED if net.version == ip.version)
    )


def address_allowed(ip: IPAddress, networks: Iterable[IPNetwork] | None = None) -> bool:
    """True when ``ip`` (and any IPv4 address inside it) may be connected to."""
    return _address_allowed(ip, tuple(allowed_networks() if networks is None else networks))


@lru_cache(maxsize=4096)  # the answer depends on nothing else; ipaddress's checks are slow
def _address_allowed(ip: IPAddress, networks: tuple[IPNetwork, ...]) -> bool:
    inner = embedded_ipv4(ip)
    for candidate in (ip, inner):
        if candidate is not None and any(
            candidate.version == net.version and candidate in net for net in networks
        ):
            return True
    if inner is not None:
        # An IPv4-mapped address is its IPv4 address; the other wrappers must pass as well.
        return _is_public(inner) and (ip.ipv4_mapped is not None or _is_public(ip))
    return _is_public(ip)


@lru_cache(maxsize=4096)  # parsing is slow, and a miss raises and catches twice
def ip_literal(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


_LEGACY_IPV4 = re.compile(r"(0x[0-9a-f]+|[0-9]+)(\.(0x[0-9a-f]+|[0-9]+)){0,3}", re.IGNORECASE)


def legacy_ipv4(host: str) -> ipaddress.IPv4Address | None:
    """The address a host written in an old IPv4 form stands for (``127.1``, ``2130706433``,
    ``0x7f000001``, ``0``): resolvers still read these as addresses."""
    if not _LEGACY_IPV4.fullmatch(host):
        return None
    try:
        return ipaddress.IPv4Address(socket.inet_aton(host))
    except OSError:
        return None


def resolve(host: str, port: int, *, timeout: float, owner: str = "") -> list[IPAddress]:
    """All addresses of ``host``, resolved once, within ``timeout`` seconds (``owner``: whose
    call it is, see ``_Resolver``)."""
    literal = ip_literal(host)
    if literal is not None:
        return [literal]
    try:
        infos = _resolver.lookup(host, port, timeout=timeout, owner=owner)
    except FutureTimeout as exc:
        raise UpstreamTimeout(f"Looking up {host} took too long.") from exc
    except (socket.gaierror, UnicodeError, OSError) as exc:
        raise UpstreamUnreachable(f"The name {host} does not resolve.") from exc
    addresses: list[IPAddress] = []
    for info in infos:
        ip = ipaddress.ip_address(info[4][0].split("%", 1)[0])
        if ip not in addresses:
            addresses.append(ip)
    if not addresses:
        raise UpstreamUnreachable(f"The name {host} does not resolve.")
    return addresses


def check_target(target: Target, *, timeout: float, owner: str = "") -> tuple[Pin, list[IPAddress]]:
    """Resolve and check ``target``; the pin names the address to connect to."""
    addresses = resolve(target.host, target.port, timeout=timeout, owner=owner)
    networks = allowed_networks()
    refused = [ip for ip in addresses if not address_allowed(ip, networks)]
    if refused:
        # The address itself is not said: tenants must not map internal names through it.
        raise DestinationBlocked(
            f"{target.host} resolves to an address that is not allowed: private, loopback, "
            "link-local and other internal addresses are refused.",
            details={"host": target.host},
        )
    # Prefer IPv4 when both are offered: IPv6 is often unroutable on servers.
    chosen = sorted(addresses, key=lambda ip: ip.version)[0]
    return Pin(ip=str(chosen), hostname=target.host, port=target.port), addresses
