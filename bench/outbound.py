"""Outbound client: pooled vs unpooled, and the client's per-call cost vs a bare
requests.Session, over 200 sequential calls to the local HTTPS upstream."""

from __future__ import annotations

import requests

from bench.support import UpstreamForBench, median_of, setup_django, timed, verdict

CALLS = 200
RUNS = 3
POOLED_TARGET = 0.5  # pooled time / unpooled time
OVERHEAD_TARGET = 1.5  # client time per call / bare requests.Session time per call


def main() -> None:
    setup_django()
    from django.conf import settings

    from apps.outbound.client import OutboundRequest, send
    from tests.support.servers import ALLOWED_NETWORKS

    with UpstreamForBench() as upstream:
        settings.OUTBOUND_CA_BUNDLE = str(upstream.pki.ca_pem)
        settings.OUTBOUND_ALLOWED_NETWORKS = ALLOWED_NETWORKS
        url = f"{upstream.base}/bytes/1024"
        request = OutboundRequest("GET", url)

        def pooled() -> None:
            send(request, timeout=10, max_bytes=1 << 20, pool="bench")

        def unpooled() -> None:
            send(request, timeout=10, max_bytes=1 << 20, fresh_connection=True)

        bare_session = requests.Session()
        bare_session.trust_env = False
        bare_session.verify = str(upstream.pki.ca_pem)

        def bare() -> None:
            bare_session.get(url, timeout=10).content  # noqa: B018

        for fn in (pooled, bare, unpooled):
            timed(fn, 20)  # warm up: imports, first handshakes, server threads

        t_pooled = median_of(RUNS, lambda: timed(pooled, CALLS))
        t_unpooled = median_of(RUNS, lambda: timed(unpooled, CALLS))
        t_bare = median_of(RUNS, lambda: timed(bare, CALLS))
        bare_session.close()

    pooled_ratio = t_pooled / t_unpooled
    overhead_ratio = t_pooled / t_bare
    ms = 1000 / CALLS
    print(f"Outbound client: {CALLS} sequential GET /bytes/1024 over TLS to 127.0.0.2 "
          f"(median of {RUNS} runs)")  # fmt: skip
    print(f"  client, pooled          {t_pooled:6.2f} s  {t_pooled * ms:6.2f} ms/call")
    print(f"  client, unpooled        {t_unpooled:6.2f} s  {t_unpooled * ms:6.2f} ms/call")
    print(f"  bare requests.Session   {t_bare:6.2f} s  {t_bare * ms:6.2f} ms/call")
    print(f"  pooled / unpooled time:            {pooled_ratio:5.2f}   target <= {POOLED_TARGET}"
          f"   {verdict(pooled_ratio, POOLED_TARGET)}")  # fmt: skip
    print(f"  client / bare requests per call:   {overhead_ratio:5.2f}   target <= {OVERHEAD_TARGET}"
          f"   {verdict(overhead_ratio, OVERHEAD_TARGET)}")  # fmt: skip


if __name__ == "__main__":
    main()
