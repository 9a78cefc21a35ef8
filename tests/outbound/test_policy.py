"""The destination policy's pieces: URL form, address classes, allowed networks."""

import ipaddress

import pytest

from apps.outbound.errors import InvalidDestination
from apps.outbound.policy import address_allowed, embedded_ipv4, parse_target


@pytest.mark.parametrize(
    "url",
    [
        "http://api.example.com/",
        "ftp://api.example.com/",
        "//api.example.com/",
        "https://user:pass@api.example.com/",
        "https://user@api.example.com/",
        "https://api.example.com\\@evil.test/",
        "https://api.example.com/a b",
        "https://api.example.com/\r\nX-Injected: 1",
        "https://api.example.com/\t",
        "https:///nohost",
        "https://[fe80::1%25eth0]/",
        "https://api.example.com:99999/",
        "",
    ],
)
def test_urls_of_the_wrong_form_are_refused(url):
    with pytest.raises(InvalidDestination):
        parse_target(url)


def test_a_non_https_scheme_has_its_own_code():
    with pytest.raises(InvalidDestination) as info:
        parse_target("http://api.example.com/")
    assert info.value.code == "https_required"


def test_a_good_url_is_split_into_host_port_and_path():
    target = parse_target("https://API.Example.com.:8443/v1/items?q=1")
    assert (target.host, target.port, target.path) == ("api.example.com", 8443, "/v1/items?q=1")
    assert target.host_header == "api.example.com:8443"


@pytest.mark.parametrize(
    ("address", "allowed"),
    [
        ("93.184.216.34", True),
        ("2606:4700:4700::1111", True),
        ("::ffff:93.184.216.34", True),
        ("127.0.0.1", False),
        ("127.255.255.254", False),
        ("10.1.2.3", False),
        ("172.16.0.1", False),
        ("192.168.0.1", False),
        ("100.64.0.1", False),  # shared address space
        ("169.254.169.254", False),  # cloud metadata
        ("0.0.0.0", False),
        ("255.255.255.255", False),
        ("224.0.0.1", False),
        ("240.0.0.1", False),
        ("192.0.2.1", False),
        ("::1", False),
        ("::", False),
        ("fe80::1", False),
        ("fd00::1", False),
        ("fec0::1", False),
        ("ff02::1", False),
        ("2001:db8::1", False),
        ("::ffff:127.0.0.1", False),  # IPv4-mapped
        ("::127.0.0.1", False),  # IPv4-compatible
        ("2002:7f00:1::", False),  # 6to4 of 127.0.0.1
        ("2002:a9fe:a9fe::", False),  # 6to4 of 169.254.169.254
        ("64:ff9b::7f00:1", False),  # NAT64 of 127.0.0.1
        ("64:ff9b::a9fe:a9fe", False),  # NAT64 of the metadata address
        ("2001:0:4136:e378:8000:63bf:80ff:fffe", False),  # Teredo, client 127.0.0.1
    ],
)
def test_address_classes(address, allowed):
    assert address_allowed(ipaddress.ip_address(address), []) is allowed


def test_embedded_ipv4_is_unwrapped_from_every_form():
    expected = ipaddress.ip_address("127.0.0.1")
    for form in ["::ffff:127.0.0.1", "::127.0.0.1", "2002:7f00:1::", "64:ff9b::7f00:1",
                 "2001:0:4136:e378:8000:63bf:80ff:fffe"]:  # fmt: skip
        assert embedded_ipv4(ipaddress.ip_address(form)) == expected, form


def test_allowed_networks_open_exactly_what_they_name():
    networks = [ipaddress.ip_network("127.0.0.2/32")]
    assert address_allowed(ipaddress.ip_address("127.0.0.2"), networks)
    assert address_allowed(ipaddress.ip_address("::ffff:127.0.0.2"), networks)
    assert not address_allowed(ipaddress.ip_address("127.0.0.1"), networks)
    assert not address_allowed(ipaddress.ip_address("127.0.0.3"), networks)


def test_allowed_networks_come_from_settings(settings):
    settings.OUTBOUND_ALLOWED_NETWORKS = ["10.20.0.0/16"]
    assert address_allowed(ipaddress.ip_address("10.20.3.4"))
    assert not address_allowed(ipaddress.ip_address("10.21.3.4"))


def test_slow_name_lookups_of_one_owner_do_not_hold_back_anothers(monkeypatch):
    """An owner whose names resolve slowly holds at most a few lookup threads; another owner's
    lookups go on at once, and the slow owner's extra lookups give up at their own deadline."""
    import socket
    import threading
    import time

    from apps.outbound import policy
    from apps.outbound.errors import UpstreamTimeout

    real = socket.getaddrinfo
    release = threading.Event()

    def getaddrinfo(host, port, *args, **kwargs):
        if host.endswith(".slow.test"):
            release.wait(10)
            return real("127.0.0.1", port, *args, **kwargs)
        return real("127.0.0.1", port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    outcomes: list = []

    def slow(n):
        try:
            policy.resolve(f"h{n}.slow.test", 443, timeout=1.5, owner="tenant:evil")
            outcomes.append("resolved")
        except UpstreamTimeout:
            outcomes.append("timeout")

    threads = [threading.Thread(target=slow, args=(n,)) for n in range(40)]
    for thread in threads:
        thread.start()
    time.sleep(0.2)
    started = time.monotonic()
    assert policy.resolve("fast.example", 443, timeout=1, owner="tenant:good")
    assert time.monotonic() - started < 0.5
    for thread in threads:
        thread.join(5)
    release.set()
    assert outcomes.count("timeout") == 40  # each gave up at its own deadline
    assert max(policy._resolver.owned.values(), default=0) <= policy._resolver.per_owner
