"""Events (inbound webhooks and their deliveries) under gunicorn and a Celery worker with
production settings on PostgreSQL and Redis, in one run.

Prints:
  (a) inbound recording throughput (POST /api/v1/inbound/{token}, a 1 kB JSON webhook) with
      delivery off (record only) and on (record and ask for a dispatch; no worker runs, the
      dispatch tasks wait in the broker and are purged afterwards), side by side with
      /bench/insert, a bare Django view
      that inserts the same body as one row, over alternating rounds: the median of the paired
      throughput ratios product / bare;                                       target >= 0.7
      and of the paired server CPU per request ratios bare / product (gunicorn and Redis; and
      with the bench database's PostgreSQL backends added), with p50/p99 of each beside them;
  (b) delivery throughput of one Celery worker: K events recorded with delivery on while no
      worker runs, then a worker started that delivers them (signed POSTs over TLS to the
      upstream's webhook receiver); events/s from the first attempt to the last delivery,
      median of a few runs (no target), with the CPU per delivered event of the worker, the
      receiver and Redis, and the PostgreSQL sessions the worker opened per event.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psycopg
import redis
import requests

from bench.options import (
    DB_NAME,
    ROOT,
    WRK_SECONDS,
    bench_env,
    cpu_seconds,
    free_port,
    process_tree,
    redis_pid,
    reset_database,
    run,
    wait_for_port,
    wrk,
)
from bench.support import UpstreamForBench, verdict

# The options and proxy benches use Redis DBs 10 (broker) and 11 (cache), the tests 14 and 15,
# the production install test 13, the bulk bench 9: this bench's broker is 12 (flushed before
# and after); its cache is bench_env's 11, like theirs (they run one after the other).
BROKER_DB = 12
ROUNDS = 7
THROUGHPUT_TARGET = 0.7
DELIVERIES = 1000  # events per delivery run
DELIVERY_RUNS = 3
DELIVERY_TIMEOUT = 60.0  # seconds a run may take to deliver them all
WORKER_CONCURRENCY = 2  # Celery's default on this machine (its CPU count)
RECORDING_THREADS = 8


def webhook_body() -> bytes:
    """A GitHub-like push notification of about 1 kB (1,116 bytes)."""
    body = {
        "ref": "refs/heads/main",
        "before": "6113728f27ae82c7b1a177c8d03f9e96e0adf246",
        "after": "76ae82c7b1a177c8d03f9e96e0adf2466113728f",
        "repository": {
            "id": 186853002,
            "name": "plugboard",
            "full_name": "acme/plugboard",
            "private": True,
            "default_branch": "main",
        },
        "pusher": {"name": "alice", "email": "alice@example.com"},
        "commits": [
            {
                "id": f"{n:040x}",
                "message": f"Change {n}: a commit message of ordinary length",
                "timestamp": "2026-11-23T01:57:48Z",
                "author": {"name": "Alice", "username": "alice"},
                "added": [],
                "removed": [],
                "modified": [f"apps/module_{n}.py"],
            }
            for n in range(3)
        ],
    }
    return json.dumps(body).encode()


def pg_backends() -> list[int]:
    """The PostgreSQL backends serving the bench database (their process title names it)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                title = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            except (OSError, UnicodeDecodeError):
                continue
            if title.startswith("postgres: ") and f" {DB_NAME} " in title:
                found.append(int(entry.name))
    return found


def pg_sessions() -> int:
    """Sessions opened on the bench database so far (PostgreSQL's cumulative statistics, read
    from another database so that reading opens none; they lag by up to a second)."""
    with psycopg.connect("postgresql://postgres@127.0.0.1:5432/postgres") as conn:
        row = conn.execute(
            "SELECT sessions FROM pg_stat_database WHERE datname = %s", [DB_NAME]
        ).fetchone()
    return int(row[0]) if row else 0


def pg_cpu() -> dict[int, float]:
    return {pid: cpu_seconds([pid]) for pid in pg_backends()}


def load(url: str, server: list[int], script: str) -> dict[str, float]:
    """One wrk round; besides wrk's figures and the gunicorn + Redis CPU per request
    (``cpu_ms``), that of the bench database's backends (``pg_ms``: a backend that appears
    during the round counts from its start, one that ends during it is lost; with persistent
    connections neither happens often)."""
    before = pg_cpu()
    figures = wrk(url, {}, server, script=script)
    after = pg_cpu()
    used = sum(seconds - before.get(pid, 0.0) for pid, seconds in after.items())
    figures["pg_ms"] = used * 1000 / figures["requests"]
    figures["all_ms"] = figures["cpu_ms"] + figures["pg_ms"]
    return figures


def main() -> None:
    reset_database()
    broker = redis.Redis.from_url(f"redis://127.0.0.1:6379/{BROKER_DB}")
    broker.flushdb()
    body = webhook_body()
    with UpstreamForBench() as upstream, tempfile.TemporaryDirectory() as tmp:
        env = {**bench_env(upstream),
               "CELERY_BROKER_URL": f"redis://127.0.0.1:6379/{BROKER_DB}"}  # fmt: skip
        run([sys.executable, "manage.py", "migrate", "--noinput"], env)
        seeded = json.loads(
            run([sys.executable, "-m", "bench.seed", "--events", upstream.base], env)
            .strip()
            .splitlines()[-1]
        )
        body_file = Path(tmp) / "body.json"
        body_file.write_bytes(body)
        script = Path(tmp) / "post.lua"
        script.write_text(
            f'local f = io.open("{body_file}", "rb")\nwrk.body = f:read("*a")\nf:close()\n'
            'wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\n'
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
            urls = {
                "off": f"{base}/api/v1/inbound/{seeded['recording']['token']}",
                "on": f"{base}/api/v1/inbound/{seeded['delivering']['token']}",
                "bare": f"{base}/bench/insert",
            }
            client = requests.Session()
            client.trust_env = False
            headers = {"Content-Type": "application/json"}
            for _ in range(20):  # warm every way: imports, connections, the broker's producer
                for url in urls.values():
                    answer = client.post(url, data=body, headers=headers, timeout=30)
                    assert answer.status_code == 202, answer.text
            # Only "on" asks for a dispatch, and at most one is on its way at a time.
            assert 1 <= broker.llen("celery") <= 20, broker.llen("celery")
            for url in urls.values():  # and with wrk's concurrency: every thread's connection
                subprocess.run(["wrk", "-t2", "-c16", "-d1s", "-s", str(script), url],
                               capture_output=True, check=True)  # fmt: skip

            server = [*process_tree(web.pid), *filter(None, [redis_pid()])]
            runs: dict[str, list[dict[str, float]]] = {name: [] for name in urls}
            names = list(urls)
            sessions = pg_sessions()
            for i in range(ROUNDS):  # each round runs all three, in a rotating order
                for name in names[i % 3 :] + names[: i % 3]:
                    runs[name].append(load(urls[name], server, str(script)))
            sessions = pg_sessions() - sessions
            queued = broker.llen("celery")
            broker.flushdb()  # the "on" rounds' tasks: no worker ever runs them
            # Nor their events: a dispatch sends every due delivery, and those are not part of
            # the delivery runs below.
            with psycopg.connect(f"postgresql://postgres@127.0.0.1:5432/{DB_NAME}",
                                 autocommit=True) as db:  # fmt: skip
                db.execute("DELETE FROM events_event WHERE datasource_id = %s",
                           [seeded["delivering"]["id"]])  # fmt: skip
            medians = {
                name: {m: statistics.median(r[m] for r in runs[name])
                       for m in ("rps", "p50", "p99", "errors", "cpu_ms", "pg_ms", "all_ms")}
                for name in runs
            }  # fmt: skip

            def paired(name: str, ratio) -> list[float]:
                return sorted(ratio(p, b) for p, b in zip(runs[name], runs["bare"], strict=True))

            ratios = {
                name: {
                    "rps": paired(name, lambda p, b: p["rps"] / b["rps"]),
                    "cpu": paired(name, lambda p, b: b["cpu_ms"] / p["cpu_ms"]),
                    "all": paired(name, lambda p, b: b["all_ms"] / p["all_ms"]),
                }
                for name in ("off", "on")
            }

            receiver = process_tree(upstream.server.proc.pid)
            deliveries = [
                deliver_run(env, broker, seeded["delivered"], base, body, Path(tmp), receiver)
                for _ in range(DELIVERY_RUNS)
            ]
        finally:
            web.terminate()
            web.wait(timeout=30)
            broker.flushdb()

    print(
        "Events, inbound (gunicorn: 2 workers x 8 threads, production settings, PostgreSQL,"
        f" Redis; wrk 2 threads x 16 connections POSTing a {len(body)}-byte JSON webhook;"
        f" medians of {ROUNDS} alternating rounds of {WRK_SECONDS} s)"
    )
    labels = {"off": "delivery off", "on": "delivery on ", "bare": "bare insert "}
    for name, label in labels.items():
        m = medians[name]
        print(f"  (a) {label} {m['rps']:7.0f} req/s  p50 {m['p50']:.2f} ms  p99 {m['p99']:.2f} ms"
              f"  server CPU {m['cpu_ms']:.3f} ms/request + PostgreSQL {m['pg_ms']:.3f} ms"
              f"  (non-2xx: {m['errors']:.0f})")  # fmt: skip
    for name in ("off", "on"):
        r = ratios[name]
        print(
            f"      {labels[name].strip()} / bare throughput, median of paired rounds: "
            f"{statistics.median(r['rps']):.2f} (rounds {r['rps'][0]:.2f}..{r['rps'][-1]:.2f})"
            f"   target >= {THROUGHPUT_TARGET}   "
            f"{verdict(statistics.median(r['rps']), THROUGHPUT_TARGET, lower_is_better=False)}"
        )
        print(
            f"        server CPU per request bare / {labels[name].strip()}: gunicorn + Redis "
            f"{statistics.median(r['cpu']):.2f} (rounds {r['cpu'][0]:.2f}..{r['cpu'][-1]:.2f});"
            f" with PostgreSQL's backends {statistics.median(r['all']):.2f}"
            f" (rounds {r['all'][0]:.2f}..{r['all'][-1]:.2f})   target >= {THROUGHPUT_TARGET}   "
            f"{verdict(statistics.median(r['all']), THROUGHPUT_TARGET, lower_is_better=False)}"
        )
    print(
        "      (PostgreSQL: the bench database's backends, from /proc; its WAL writer and other"
        f" shared processes are excluded. {sessions} sessions were opened during the rounds"
        " (CONN_MAX_AGE=60 renews the web's connections): a new backend counts from its start,"
        f" one that ends mid-round loses that round's share. {queued:,} dispatch tasks were left"
        " in the broker by the delivery-on rounds (at most one is on its way at a time), then"
        " purged.)"
    )
    rates = sorted(d["rate"] for d in deliveries)
    print(
        f"  (b) delivery by one Celery worker (prefork, --concurrency={WORKER_CONCURRENCY}) of"
        f" {DELIVERIES:,} recorded events to the upstream's HTTPS receiver (same machine):"
        f" {statistics.median(rates):.0f} events/s, median of {DELIVERY_RUNS} runs"
        f" ({', '.join(f'{r:.0f}' for r in rates)})"
    )
    print(
        "      per run, first attempt to last delivery: "
        + "; ".join(
            f"{d['seconds']:.1f} s for {d['delivered']:,} delivered ({d['attempts']:,} attempts)"
            for d in deliveries
        )
        + "; worker start to last delivery: "
        + ", ".join(f"{d['wall']:.1f} s" for d in deliveries)
    )
    cpu = {part: statistics.median(d["cpu_ms"][part] for d in deliveries)
           for part in ("worker", "receiver", "redis")}  # fmt: skip
    sessions_each = statistics.median(d["sessions"] / d["delivered"] for d in deliveries)
    print(
        f"      CPU per delivered event (median of runs): worker {cpu['worker']:.2f} ms,"
        f" receiver (gunicorn + TLS, 1 process) {cpu['receiver']:.2f} ms, Redis"
        f" {cpu['redis']:.2f} ms; PostgreSQL excluded: the worker opened {sessions_each:.2f}"
        " sessions per delivered event, and backends that live for one task escape /proc"
        f" sampling. The machine has {os.cpu_count()} cores."
    )


def deliver_run(env: dict[str, str], broker, source: dict, base: str, body: bytes,
                folder: Path, receiver: list[int]) -> dict[str, float]:  # fmt: skip
    """Record DELIVERIES events of ``source`` through the inbound endpoint while no worker
    runs, then start one and time it until every event is delivered (or DELIVERY_TIMEOUT).
    CPU per delivered event counts from the first attempt seen (the worker's start-up is not
    part of it): the worker's processes, the receiver's, and Redis; and the PostgreSQL sessions
    the run opened."""
    with psycopg.connect(f"postgresql://postgres@127.0.0.1:5432/{DB_NAME}",
                         autocommit=True) as db:  # fmt: skip
        db.execute(
            "DELETE FROM events_deliveryattempt WHERE event_id IN "
            "(SELECT id FROM events_event WHERE datasource_id = %s)",
            [source["id"]],
        )
        db.execute("DELETE FROM events_event WHERE datasource_id = %s", [source["id"]])
        broker.flushdb()
        _record(f"{base}/api/v1/inbound/{source['token']}", body)
        pending = db.execute(
            "SELECT count(*) FROM events_event WHERE datasource_id = %s AND status = 'pending'",
            [source["id"]],
        ).fetchone()[0]
        # One dispatch task (or a few: one on its way at a time) sends them all.
        assert pending == DELIVERIES and 1 <= broker.llen("celery") <= DELIVERIES, (
            pending,
            broker.llen("celery"),
        )
        sessions = pg_sessions()
        log = folder / "worker.log"
        with open(log, "wb") as out:
            started = time.perf_counter()
            worker = subprocess.Popen(
                [sys.executable, "-m", "celery", "-A", "config", "worker",
                 "--concurrency", str(WORKER_CONCURRENCY), "--without-gossip",
                 "--without-mingle", "--without-heartbeat"],
                cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
            )  # fmt: skip
            try:
                deadline = time.monotonic() + DELIVERY_TIMEOUT
                delivered, first_seen = 0, None
                while time.monotonic() < deadline and worker.poll() is None:
                    delivered, tried = db.execute(
                        "SELECT count(*) FILTER (WHERE status = 'delivered'),"
                        " count(*) FILTER (WHERE attempts > 0 OR lease_until IS NOT NULL)"
                        " FROM events_event WHERE datasource_id = %s",
                        [source["id"]],
                    ).fetchone()
                    if first_seen is None and tried:
                        first_seen = (delivered, _cpu_split(worker.pid, receiver))
                    if delivered >= DELIVERIES:
                        break
                    time.sleep(0.1)
                wall = time.perf_counter() - started
                cpu_ms = dict.fromkeys(("worker", "receiver", "redis"), float("nan"))
                if first_seen is not None and delivered > first_seen[0]:
                    now = _cpu_split(worker.pid, receiver)
                    cpu_ms = {part: (now[part] - first_seen[1][part]) * 1000
                              / (delivered - first_seen[0]) for part in now}  # fmt: skip
            finally:
                worker.terminate()
                try:
                    worker.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    worker.kill()
                    worker.wait(timeout=10)
        time.sleep(1)  # PostgreSQL's statistics are reported with a delay of up to 1 s
        sessions = pg_sessions() - sessions  # the worker's (the web's are idle; +-a few)
        if delivered < DELIVERIES:
            print(f"worker log:\n{log.read_text()[-3000:]}", file=sys.stderr)
        first, last, attempts = db.execute(
            "SELECT min(a.at), max(e.delivered_at), count(a.id) FROM events_deliveryattempt a"
            " JOIN events_event e ON e.id = a.event_id WHERE e.datasource_id = %s",
            [source["id"]],
        ).fetchone()
    seconds = (last - first).total_seconds() if first and last else float("nan")
    return {"rate": delivered / seconds, "seconds": seconds, "delivered": delivered,
            "attempts": attempts, "wall": wall, "cpu_ms": cpu_ms, "sessions": sessions}  # fmt: skip


def _cpu_split(worker: int, receiver: list[int]) -> dict[str, float]:
    """CPU seconds used so far by the worker's processes, the receiver's, and Redis."""
    return {
        "worker": cpu_seconds(process_tree(worker)),
        "receiver": cpu_seconds(receiver),
        "redis": cpu_seconds(list(filter(None, [redis_pid()]))),
    }


def _record(url: str, body: bytes) -> None:
    """POST the webhook DELIVERIES times from RECORDING_THREADS threads; every one must be
    recorded (202)."""
    failures: list[str] = []
    counter = iter(range(DELIVERIES))
    lock = threading.Lock()

    def post() -> None:
        session = requests.Session()
        session.trust_env = False
        while True:
            with lock:
                if next(counter, None) is None:
                    return
            answer = session.post(url, data=body, timeout=30,
                                  headers={"Content-Type": "application/json"})  # fmt: skip
            if answer.status_code != 202:
                failures.append(f"{answer.status_code} {answer.text[:200]}")

    threads = [threading.Thread(target=post) for _ in range(RECORDING_THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not failures, failures[:3]


if __name__ == "__main__":
    main()
