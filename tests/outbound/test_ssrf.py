"""SSRF payloads: each one is refused, and a canary listener on loopback proves that nothing
connected to it. A positive control shows the canary does see a connection when one is made."""

import socket
from urllib.parse import quote

import pytest

from apps.outbound.client import OutboundRequest, send
from apps.outbound.errors import DestinationBlocked, OutboundError, UpstreamUnreachable


@pytest.fixture
def connect_spy(monkeypatch):
    """Every address any socket tried to connect to during the test."""
    attempts = []
    original = socket.socket.connect

    def spy(self, address):
        attempts.append(address[0])
        return original(self, address)

    monkeypatch.setattr(socket.socket, "connect", spy)
    return attempts


def direct_payloads(port: int) -> list[str]:
    return [
        f"https://127.0.0.1:{port}/",
        f"https://2130706433:{port}/",  # decimal
        f"https://017700000001:{port}/",  # octal, one number
        f"https://0177.0.0.1:{port}/",  # octal, dotted
        f"https://0x7f.0.0.1:{port}/",  # hex, dotted
        f"https://0x7f000001:{port}/",  # hex, one number
        f"https://127.1:{port}/",  # short
        f"https://127.0.1:{port}/",  # short
        f"https://0:{port}/",  # unspecified, reaches the local host
        f"https://0.0.0.0:{port}/",
        f"https://[::1]:{port}/",
        f"https://[::]:{port}/",
        f"https://[::ffff:127.0.0.1]:{port}/",  # IPv4-mapped
        f"https://[::ffff:7f00:1]:{port}/",  # IPv4-mapped, hex
        f"https://[0:0:0:0:0:ffff:127.0.0.1]:{port}/",
        f"https://[::127.0.0.1]:{port}/",  # IPv4-compatible
        f"https://[2002:7f00:1::]:{port}/",  # 6to4
        f"https://[64:ff9b::7f00:1]:{port}/",  # NAT64
        f"https://[2001:0:4136:e378:8000:63bf:80ff:fffe]:{port}/",  # Teredo
        f"https://localhost:{port}/",  # a name for loopback
        f"https://localhost.:{port}/",  # with the root dot
        f"https://LOCALHOST:{port}/",
        f"https://loopback.test:{port}/",  # resolves to 127.0.0.1
        f"https://loopback6.test:{port}/",  # resolves to ::1
        f"https://mixed.test:{port}/",  # one public and one loopback address
        f"http://127.0.0.1:{port}/",  # not https
        f"https://user:pw@127.0.0.1:{port}/",  # userinfo
        f"https://upstream.test\\@127.0.0.1:{port}/",  # backslash confusion
        f"https://169.254.169.254:{port}/latest/meta-data/",  # cloud metadata
        f"https://metadata.test:{port}/computeMetadata/v1/",  # resolves to 169.254.169.254
        f"https://[fd00:ec2::254]:{port}/",  # AWS IPv6 metadata (ULA)
        f"https://10.0.0.1:{port}/",
        f"https://172.16.0.1:{port}/",
        f"https://192.168.1.1:{port}/",
        f"https://100.64.0.1:{port}/",  # shared address space
        f"https://internal.test:{port}/",  # resolves to 10.0.0.5
        f"https://[fe80::1]:{port}/",
        f"https://[fd12:3456::1]:{port}/",
        f"https://224.0.0.1:{port}/",
        f"https://255.255.255.255:{port}/",
    ]


@pytest.fixture
def ssrf_dns(test_dns):
    test_dns.update(
        {
            "loopback.test": ["127.0.0.1"],
            "loopback6.test": ["::1"],
            "mixed.test": ["93.184.216.34", "127.0.0.1"],
            "metadata.test": ["169.254.169.254"],
            "internal.test": ["10.0.0.5"],
        }
    )
    return test_dns


BLOCKED_PREFIXES = ("127.", "0.", "::", "10.", "172.16.", "192.168.", "100.64.", "169.254.",
                    "fe80", "fd", "224.", "255.", "2002:", "64:ff9b", "2001:0:", "2001::")  # fmt: skip


def test_the_table_has_at_least_25_payloads():
    assert len(direct_payloads(1)) >= 25


@pytest.mark.parametrize("index", range(len(direct_payloads(1))))
def test_direct_payload_is_refused_without_any_connection(index, canary, ssrf_dns, connect_spy):
    url = direct_payloads(canary.port)[index]

    with pytest.raises(OutboundError) as info:
        send(OutboundRequest("GET", url), timeout=3, max_bytes=1000)

    assert isinstance(info.value, DestinationBlocked | UpstreamUnreachable), info.value
    assert canary.connections == []
    assert connect_spy == [], f"{url} caused connect() to {connect_spy}"


def redirect_payloads(port: int) -> list[str]:
    return [
        f"https://127.0.0.1:{port}/",
        f"https://2130706433:{port}/",
        f"https://[::ffff:127.0.0.1]:{port}/",
        f"https://localhost:{port}/",
        f"https://169.254.169.254:{port}/latest/meta-data/",
        f"https://metadata.test:{port}/",
        f"http://upstream.test:{port}/get",  # https -> http
        f"https://user:pw@upstream.test:{port}/get",
    ]


@pytest.mark.parametrize("index", range(len(redirect_payloads(1))))
@pytest.mark.parametrize("status", [302, 307])
def test_redirect_into_a_blocked_destination_is_refused(
    index, status, upstream, canary, ssrf_dns, connect_spy
):
    target = redirect_payloads(canary.port)[index]
    url = upstream.url(f"/redirect-to?url={quote(target, safe='')}&status_code={status}")

    with pytest.raises(DestinationBlocked):
        send(OutboundRequest("GET", url), timeout=5, max_bytes=10_000)

    assert canary.connections == []
    assert all(not addr.startswith(BLOCKED_PREFIXES) or addr == "127.0.0.2" for addr in connect_spy)
    assert set(connect_spy) <= {"127.0.0.2"}


def test_a_name_that_rebinds_after_the_check_still_connects_to_the_checked_address(
    upstream, canary, ssrf_dns, connect_spy, monkeypatch
):
    """The first answer is checked and pinned; a second lookup (rebinding) never happens."""
    answers = [["127.0.0.2"], ["127.0.0.1"]]
    real = socket.getaddrinfo

    def rebinding(host, port, *args, **kwargs):
        if host == "rebind.test":
            ip = answers.pop(0)[0] if answers else "127.0.0.1"
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (ip, port))]
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", rebinding)
    try:
        response = send(
            OutboundRequest("GET", f"https://rebind.test:{upstream.port}/get"),
            timeout=5,
            max_bytes=100_000,
        )
    except OutboundError as exc:
        # The certificate does not name rebind.test; what matters is where it connected.
        assert exc.code == "upstream_unreachable"
    else:
        assert response.status_code == 200
    assert canary.connections == []
    assert connect_spy == ["127.0.0.2"]


def test_positive_control_the_canary_sees_a_connection_when_one_is_allowed(
    canary, settings, connect_spy
):
    settings.OUTBOUND_ALLOWED_NETWORKS = ["127.0.0.1/32"]

    with pytest.raises(OutboundError):  # the canary speaks no TLS
        send(OutboundRequest("GET", f"https://127.0.0.1:{canary.port}/"), timeout=3, max_bytes=10)

    assert connect_spy == ["127.0.0.1"]
    assert canary.wait_for_connection(timeout=2)
    assert len(canary.connections) == 1
