"""The proxy under gunicorn with production settings on PostgreSQL and Redis, side by side with
a naive forwarding view (one pooled requests.Session, no auth, policy, limits or streaming) to
the same HTTPS upstream, in one run.

Prints, each with its target:
  (a) server CPU per request (user + system time of the gunicorn processes), median of the
      paired ratios naive / proxy over alternating rounds;   target >= 1.0 (no more CPU)
      with the same counting Redis's CPU too (the proxy's key, rate limits and call slots live
      there; the naive view uses none), throughput and p50/p99 of each beside it;
  (b) the web processes' peak RSS growth while 20 MB answers stream through;   target < 5 MB.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import threading

import requests

from bench.options import (
    ROOT,
    bench_env,
    free_port,
    peak_rss_mb,
    process_tree,
    redis_pid,
    reset_database,
    run,
    wait_for_port,
    wrk,
)
from bench.support import UpstreamForBench, verdict

ROUNDS = 9
CPU_TARGET = 1.0
RSS_TARGET_MB = 5.0
BIG = 20 * 1024 * 1024
PATH = "_test/data/projects"


def main() -> None:
    reset_database()
    with UpstreamForBench() as upstream:
        env = {**bench_env(upstream), "BENCH_UPSTREAM": upstream.base}
        run([sys.executable, "manage.py", "migrate", "--noinput"], env)
        seeded = json.loads(
            run([sys.executable, "-m", "bench.seed", upstream.base], env).strip().splitlines()[-1]
        )
        port = free_port()
        web = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "config.wsgi", "--bind", f"127.0.0.1:{port}",
             "--workers", "2", "--worker-class", "gthread", "--threads", "8",
             "--log-level", "warning", "--no-control-socket"],
            cwd=ROOT, env=env,
        )  # fmt: skip
        try:
            wait_for_port(port, web)
            base = f"http://127.0.0.1:{port}"
            auth = {"Authorization": f"Bearer {seeded['key']}"}
            proxy_url = f"{base}/api/v1/proxy/{seeded['slug']}/{PATH}"
            naive_url = f"{base}/bench/naive/{PATH}"
            client = requests.Session()
            client.trust_env = False
            for _ in range(20):  # warm both ways: imports, pools, remembered key and source
                client.get(proxy_url, headers=auth, timeout=30).raise_for_status()
                client.get(naive_url, timeout=30).raise_for_status()
            assert (
                client.get(proxy_url, headers=auth, timeout=30).content
                == client.get(naive_url, timeout=30).content
            )

            web_pids = process_tree(web.pid)
            redis_pids = list(filter(None, [redis_pid()]))
            runs: dict[str, list[dict[str, float]]] = {"proxy": [], "naive": []}
            for _ in range(ROUNDS):
                runs["proxy"].append(wrk(proxy_url, auth, web_pids, beside_pids=redis_pids))
                runs["naive"].append(wrk(naive_url, {}, web_pids, beside_pids=redis_pids))
            medians = {
                name: {m: statistics.median(r[m] for r in runs[name])
                       for m in ("rps", "p50", "p99", "errors", "cpu_ms")}
                for name in runs
            }  # fmt: skip
            for name in runs:
                medians[name]["redis_ms"] = statistics.median(
                    r["cpu_beside_ms"] for r in runs[name]
                )
            cpu_paired = sorted(
                n["cpu_ms"] / p["cpu_ms"] for p, n in zip(runs["proxy"], runs["naive"], strict=True)
            )
            with_redis_paired = sorted(
                (n["cpu_ms"] + n["cpu_beside_ms"]) / (p["cpu_ms"] + p["cpu_beside_ms"])
                for p, n in zip(runs["proxy"], runs["naive"], strict=True)
            )
            rps_paired = sorted(
                p["rps"] / n["rps"] for p, n in zip(runs["proxy"], runs["naive"], strict=True)
            )
            growth, streamed = _stream_big(base, seeded, auth, web.pid)
        finally:
            web.terminate()
            web.wait(timeout=30)

    proxy, naive = medians["proxy"], medians["naive"]
    cpu_ratio = statistics.median(cpu_paired)
    print(
        "Proxy (gunicorn: 2 workers x 8 threads, production settings, PostgreSQL, Redis; wrk 2"
        f" threads x 16 connections; medians of {ROUNDS} alternating rounds; GET {PATH})"
    )
    print(f"  (a) proxy  {proxy['rps']:8.0f} req/s  p50 {proxy['p50']:.2f} ms  p99 {proxy['p99']:.2f} ms"
          f"  server CPU {proxy['cpu_ms']:.3f} ms/request + Redis {proxy['redis_ms']:.3f} ms"
          f"  (non-2xx: {proxy['errors']:.0f})")  # fmt: skip
    print(f"      naive  {naive['rps']:8.0f} req/s  p50 {naive['p50']:.2f} ms  p99 {naive['p99']:.2f} ms"
          f"  server CPU {naive['cpu_ms']:.3f} ms/request + Redis {naive['redis_ms']:.3f} ms")  # fmt: skip
    print(
        f"      server CPU per request (gunicorn), naive / proxy, median of paired rounds:"
        f" {cpu_ratio:.3f} (rounds {cpu_paired[0]:.2f}..{cpu_paired[-1]:.2f})"
        f"   target >= {CPU_TARGET}   {verdict(cpu_ratio, CPU_TARGET, lower_is_better=False)}"
    )
    with_redis = statistics.median(with_redis_paired)
    print(
        f"        the same with Redis's CPU counted in: {with_redis:.3f}"
        f" (rounds {with_redis_paired[0]:.2f}..{with_redis_paired[-1]:.2f})"
    )
    print(
        f"      throughput proxy / naive, median of paired rounds: {statistics.median(rps_paired):.2f}"
        f" (rounds {rps_paired[0]:.2f}..{rps_paired[-1]:.2f})"
    )
    print(
        f"  (b) web peak RSS growth while {streamed} answers of {BIG // 2**20} MB streamed through:"
        f" {growth:.1f} MB   target < {RSS_TARGET_MB} MB   {verdict(growth, RSS_TARGET_MB)}"
    )


def _stream_big(base: str, seeded: dict, auth: dict, pid: int) -> tuple[float, int]:
    """Peak RSS growth of the web processes while 2 x 3 answers of 20 MB stream through, after
    the same traffic warmed them up (what a process keeps for good is not what a body costs)."""
    url = f"{base}/api/v1/proxy/{seeded['slug']}/_test/big?size={BIG}&announce=1"
    received: list[int] = []

    def download(times: int) -> None:
        for _ in range(times):
            with requests.get(url, headers=auth, stream=True, timeout=120) as response:
                response.raise_for_status()
                received.append(sum(len(c) for c in response.iter_content(65536)))

    def in_parallel(times: int) -> None:
        threads = [threading.Thread(target=download, args=(times,)) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=300)

    in_parallel(1)  # warm-up
    before, _ = peak_rss_mb(pid)
    in_parallel(3)
    after, _ = peak_rss_mb(pid)
    assert received == [BIG] * 8, received
    return after - before, 6


if __name__ == "__main__":
    main()
