"""The outbound client against a real HTTPS upstream (httpbin on 127.0.0.2)."""

import logging
import time
import tracemalloc
from urllib.parse import quote

import pytest

from apps.outbound.client import Credentials, OutboundRequest, send
from apps.outbound.errors import (
    DestinationBlocked,
    RateLimited,
    ResponseTooLarge,
    UnexpectedResponse,
    UpstreamError,
    UpstreamTimeout,
    UpstreamTLSError,
    UpstreamUnreachable,
)
from apps.outbound.transport import Trace, sessions


def get(url, **kwargs):
    kwargs.setdefault("timeout", 10)
    kwargs.setdefault("max_bytes", 1_000_000)
    return send(OutboundRequest("GET", url, headers=kwargs.pop("headers", {})), **kwargs)


# --- TLS and the pinned connection -------------------------------------------------------------


def test_connects_to_the_checked_address_and_verifies_the_host_name(upstream):
    trace = Trace()
    response = get(upstream.url("/get"), trace=trace, fresh_connection=True)

    assert response.status_code == 200
    assert response.json()["headers"]["Host"] == f"upstream.test:{upstream.port}"
    assert trace.connected_to == f"127.0.0.2:{upstream.port}"
    assert trace.tls_version in ("TLSv1.2", "TLSv1.3")


def test_a_certificate_for_another_name_is_refused(upstream):
    with pytest.raises(UpstreamTLSError) as info:
        get(upstream.url("/get", host="wrong-name.test"))
    assert "wrong-name.test" in info.value.message
    assert info.value.code == "upstream_unreachable"


def test_the_environment_ca_bundle_is_ignored(upstream, settings, monkeypatch):
    """REQUESTS_CA_BUNDLE names the test CA, OUTBOUND_CA_BUNDLE does not: verification fails."""
    import certifi

    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(upstream.ca_pem))
    monkeypatch.setenv("CURL_CA_BUNDLE", str(upstream.ca_pem))
    monkeypatch.setenv("SSL_CERT_FILE", str(upstream.ca_pem))
    settings.OUTBOUND_CA_BUNDLE = certifi.where()

    with pytest.raises(UpstreamTLSError) as info:
        get(upstream.url("/get"))
    assert "certificate verify failed" in info.value.message or "issuer" in info.value.message


def test_proxies_from_the_environment_are_ignored(upstream, monkeypatch):
    monkeypatch.setenv("HTTPS_PROXY", "http://127.0.0.1:9")
    monkeypatch.setenv("https_proxy", "http://127.0.0.1:9")
    monkeypatch.setenv("ALL_PROXY", "http://127.0.0.1:9")
    assert get(upstream.url("/get")).status_code == 200


def test_netrc_credentials_from_the_environment_are_ignored(upstream, monkeypatch, tmp_path):
    netrc = tmp_path / "netrc"
    netrc.write_text("machine upstream.test login netrc-user password netrc-canary\n")
    netrc.chmod(0o600)
    monkeypatch.setenv("NETRC", str(netrc))
    monkeypatch.setenv("HOME", str(tmp_path))
    (tmp_path / ".netrc").write_text(netrc.read_text())
    (tmp_path / ".netrc").chmod(0o600)

    echoed = get(upstream.url("/headers")).json()["headers"]

    assert "Authorization" not in echoed


def test_cookies_are_never_kept(upstream):
    first = get(upstream.url("/cookies/set?session=abc"), pool="cookie-test")
    assert first.status_code == 200
    echoed = get(upstream.url("/cookies"), pool="cookie-test").json()
    assert echoed["cookies"] == {}


# --- deadline ------------------------------------------------------------------------------------


def test_a_dripping_server_is_cut_off_at_the_deadline(upstream):
    started = time.monotonic()
    with pytest.raises(UpstreamTimeout) as info:
        get(upstream.url("/drip?duration=8&numbytes=16&delay=0"), timeout=2)
    elapsed = time.monotonic() - started

    assert 1.8 <= elapsed < 3.5, elapsed
    assert "2 seconds" in info.value.message
    assert info.value.status == 504


def test_a_server_slow_to_answer_is_cut_off_at_the_deadline(upstream):
    started = time.monotonic()
    with pytest.raises(UpstreamTimeout):
        get(upstream.url("/delay/6"), timeout=1)
    assert time.monotonic() - started < 2.5


def test_a_pooled_connection_gets_a_fresh_deadline(upstream):
    get(upstream.url("/drip?duration=0.5&numbytes=4&delay=0"), timeout=2, pool="deadline-reuse")
    response = get(
        upstream.url("/drip?duration=1&numbytes=4&delay=0"), timeout=3, pool="deadline-reuse"
    )
    assert response.status_code == 200
    assert response.content == b"****"


# --- body caps -----------------------------------------------------------------------------------


def test_a_gzip_bomb_is_refused_without_being_inflated(upstream):
    tracemalloc.start()
    try:
        with pytest.raises(ResponseTooLarge) as info:
            get(upstream.url("/_test/bomb?mb=200"), max_bytes=10 * 1024 * 1024, timeout=30)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert "after decompression" in info.value.message
    assert info.value.code == "response_too_large"  # the proxy's code, for every caller
    assert peak < 40 * 1024 * 1024, f"peak {peak / 1e6:.0f} MB while reading a 200 MB bomb"


def test_a_body_over_the_cap_is_refused_and_one_under_it_is_read(upstream):
    with pytest.raises(ResponseTooLarge):
        get(upstream.url("/bytes/5000"), max_bytes=4096)
    assert len(get(upstream.url("/bytes/4000"), max_bytes=4096).content) == 4000


def test_a_streamed_body_over_the_cap_is_refused(upstream):
    with pytest.raises(ResponseTooLarge):
        get(upstream.url(f"/_test/big?size={3 * 65536}"), max_bytes=2 * 65536)


# --- redirects -----------------------------------------------------------------------------------


def test_same_host_redirects_keep_credentials(upstream):
    response = send(
        OutboundRequest("GET", upstream.url("/redirect-to?url=%2Fheaders")),
        timeout=5,
        max_bytes=100_000,
        credentials=Credentials(headers={"Authorization": "Bearer same-host-token"}),
    )
    assert response.redirects == 1
    assert response.json()["headers"]["Authorization"] == "Bearer same-host-token"


def test_a_redirect_to_another_host_drops_every_credential(upstream):
    other = f"https://127.0.0.2:{upstream.port}/anything"  # same server, another host name
    response = send(
        OutboundRequest(
            "GET",
            upstream.url(f"/redirect-to?url={quote(other, safe='')}"),
            headers={"X-Tenant-Env": "prod", "Accept": "application/json"},
        ),
        timeout=5,
        max_bytes=100_000,
        credentials=Credentials(
            headers={"Authorization": "Bearer secret-token", "X-API-Key": "secret-key"},
            params=[("api_key", "secret-query-key")],
        ),
    )
    echoed = response.json()
    assert response.redirects == 1
    assert echoed["headers"]["Host"] == f"127.0.0.2:{upstream.port}"
    body = response.text
    for secret in ("secret-token", "secret-key", "secret-query-key", "prod"):
        assert secret not in body
    assert echoed["headers"]["Accept"] == "application/json"


def test_credentials_stay_dropped_when_a_chain_returns_to_the_first_host(upstream):
    back = upstream.url("/headers")
    hop = f"https://127.0.0.2:{upstream.port}/redirect-to?url={quote(back, safe='')}"
    response = send(
        OutboundRequest("GET", upstream.url(f"/redirect-to?url={quote(hop, safe='')}")),
        timeout=5,
        max_bytes=100_000,
        credentials=Credentials(headers={"Authorization": "Bearer secret-token"}),
    )
    assert response.redirects == 2
    assert "Authorization" not in response.json()["headers"]


def test_three_redirects_are_followed_and_a_fourth_is_refused(upstream):
    assert get(upstream.url("/redirect/3")).redirects == 3
    with pytest.raises(UnexpectedResponse, match="more than 3 times"):
        get(upstream.url("/redirect/4"))


def test_a_redirect_from_https_to_http_is_refused(upstream):
    target = quote(f"http://upstream.test:{upstream.port}/get", safe="")
    with pytest.raises(DestinationBlocked):
        get(upstream.url(f"/redirect-to?url={target}"))


def test_303_turns_a_post_into_a_get_without_its_body(upstream):
    response = send(
        OutboundRequest(
            "POST",
            upstream.url("/redirect-to?url=%2Fanything&status_code=303"),
            headers={"Content-Type": "application/json"},
            body=b'{"a": 1}',
        ),
        timeout=5,
        max_bytes=100_000,
    )
    echoed = response.json()
    assert echoed["method"] == "GET"
    assert echoed["data"] == ""


def test_307_keeps_the_method_and_body(upstream):
    response = send(
        OutboundRequest(
            "POST",
            upstream.url("/redirect-to?url=%2Fanything&status_code=307"),
            headers={"Content-Type": "application/json"},
            body=b'{"a": 1}',
        ),
        timeout=5,
        max_bytes=100_000,
    )
    assert response.json()["method"] == "POST"
    assert response.json()["json"] == {"a": 1}


# --- statuses and typed errors -------------------------------------------------------------------


def test_non_2xx_answers_map_to_typed_errors(upstream):
    with pytest.raises(UpstreamError) as info:
        get(upstream.url("/status/503")).raise_for_status()
    assert info.value.details["status_code"] == 503
    assert info.value.code == "upstream_error" and info.value.status == 502


def test_a_429_becomes_rate_limited_with_its_retry_after(upstream):
    response = get(upstream.url("/_test/rate-limited?retry_after=17"))
    assert response.status_code == 429
    with pytest.raises(RateLimited) as info:
        response.raise_for_status()
    assert info.value.retry_after == 17
    assert info.value.headers == {"Retry-After": "17"}
    assert info.value.status == 429
    assert info.value.code == "upstream_rate_limited"


def test_a_closed_port_is_unreachable(upstream, settings):
    from tests.support.servers import free_port

    port = free_port("127.0.0.2")
    with pytest.raises(UpstreamUnreachable) as info:
        get(f"https://127.0.0.2:{port}/")
    assert info.value.code == "upstream_unreachable"


def test_a_name_that_does_not_resolve_fails_closed(upstream):
    with pytest.raises(UpstreamUnreachable, match="does not resolve"):
        get("https://no-such-host.test/")


def test_keys_in_query_strings_never_reach_messages_or_logs(upstream, caplog):
    caplog.set_level(logging.INFO, logger="plugboard.outbound")
    with pytest.raises(UpstreamError) as info:
        get(upstream.url("/status/500?api_key=sk_live_canary_123")).raise_for_status()
    get(upstream.url("/get?token=sk_live_canary_456"))

    assert "sk_live_canary" not in str(info.value)
    assert "sk_live_canary" not in caplog.text
    assert "api_key=***" in caplog.text


# --- pooling -------------------------------------------------------------------------------------


def test_calls_of_one_pool_reuse_the_connection_and_its_tls_session(upstream):
    sessions.discard("pool-a")
    traces = [Trace() for _ in range(5)]
    for trace in traces:
        get(upstream.url("/get"), pool="pool-a", trace=trace)

    assert traces[0].reused_connection is False and traces[0].tls_ms is not None
    assert all(t.reused_connection and t.tls_ms is None for t in traces[1:])


@pytest.mark.parametrize("size", [0, 10, 70_000])
def test_a_streamed_answer_read_to_its_end_gives_its_connection_back(upstream, size):
    from apps.outbound.client import open_stream

    sessions.discard("pool-s")
    sockets = []
    for _ in range(3):
        stream = open_stream(OutboundRequest("GET", upstream.url(f"/bytes/{size}")),
                             timeout=10, max_bytes=10**6, pool="pool-s")  # fmt: skip
        assert stream.declared_length == size
        stream.prefetch(64 * 1024)  # (as the proxy does; chunks() begins with what it read)
        body = b"".join(stream.chunks())
        stream.close()
        assert len(body) == size
        pools = sessions.get("pool-s").get_adapter("https://").poolmanager.pools
        (pool,) = pools._container.values()
        sockets += [conn.sock for conn in pool.pool.queue if conn is not None and conn.sock]
    # One connection, open after each answer and used for the next.
    assert len(sockets) == 3 and sockets[0] is sockets[1] is sockets[2]


def test_pools_are_not_shared_between_data_sources(upstream):
    sessions.discard("pool-b")
    sessions.discard("pool-c")
    get(upstream.url("/get"), pool="pool-b")
    other = Trace()
    get(upstream.url("/get"), pool="pool-c", trace=other)
    assert other.reused_connection is False
    assert sessions.get("pool-b") is not sessions.get("pool-c")


def test_the_session_registry_is_bounded():
    from apps.outbound.transport import SessionRegistry

    registry = SessionRegistry(limit=3)
    first = registry.get("one")
    for name in ("two", "three", "four"):
        registry.get(name)
    assert len(registry._sessions) == 3
    assert registry.get("one") is not first  # evicted and closed, then made anew


def test_a_server_that_never_completes_the_tls_handshake_is_cut_off(upstream):
    import socket
    import threading

    listener = socket.socket()
    listener.bind(("127.0.0.2", 0))
    listener.listen(4)
    held = []

    def accept_and_hold():
        try:
            conn, _ = listener.accept()
            held.append(conn)  # never answers the ClientHello
        except OSError:
            pass

    threading.Thread(target=accept_and_hold, daemon=True).start()
    started = time.monotonic()
    try:
        with pytest.raises(UpstreamTimeout):
            get(f"https://127.0.0.2:{listener.getsockname()[1]}/", timeout=1.5)
    finally:
        listener.close()
        for conn in held:
            conn.close()
    assert 1.3 <= time.monotonic() - started < 3
