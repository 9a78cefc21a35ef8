"""Soak: mixed traffic for SOAK_SECONDS (600 by default) under gunicorn (2 workers x 8 threads)
and one Celery worker with beat, production settings, PostgreSQL, Redis cache and broker, the
HTTPS test upstream on 127.0.0.2 (options, proxy) and its webhook receiver (deliveries).

wrk drives it with MIX_LUA: CONNECTIONS threads of one connection each, every connection
pausing PAUSE_MS after each answer (a steady moderate rate, far from what the machine can do:
the point is stability over time, not throughput), cycling through SLOTS so that the kinds come
in exact proportions: 60 % options cache hits (three items, six URLs), 10 % options misses (a
dependency no request used before), 20 % proxied GETs, 10 % inbound events (1 kB JSON, delivery
on: the worker delivers each to the receiver). A WARMUP_SECONDS run first, then one wrk run a
minute (the last one shorter when SOAK_SECONDS is not a multiple of 60).

Prints: a line a minute (requests, rate, p50/p99, errors, the RSS of web and worker, cache keys,
events recorded/delivered, the machine's CPU); requests and errors by kind; the server's own
counts from /metrics; the p99 drift; deliveries completed vs recorded (the database's and the
receiver's view), once the worker caught up; the RSS (VmRSS, sum and largest process) of web
and worker after the warm-up and at the end, with the growth;      target <= 10 %
and the error count (non-2xx/3xx answers and socket errors);       target 0.

The soak tenant's rate limits are off (Tenant.limits 0 for options, proxy and inbound: see
bench.seed.SOAK_LIMITS): the soak measures the product, not the limiter, and a 429 counts as an
error. Its database (plugboard_soak) and Redis DBs are its own, so that it cannot disturb (or be
disturbed by) another bench run on the same machine.
"""

from __future__ import annotations

import json
import os
import re
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psycopg
import redis
import requests

from bench.events import webhook_body
from bench.options import (
    ROOT,
    bench_env,
    cpu_seconds,
    free_port,
    parse_wrk,
    process_tree,
    reset_database,
    run,
    wait_for_port,
)
from bench.support import UpstreamForBench, verdict

DB_NAME = "plugboard_soak"
# Redis DBs: 0 and 1 are the local install's, 9-12 the other benches' (9 bulk's broker, 10 the
# options and proxy benches' broker, 11 their cache, 12 events' broker), 13 the production
# install test's, 14 and 15 the tests': the soak's cache is 8 and its broker 7 (flushed before
# and after).
CACHE_DB = 8
BROKER_DB = 7
DURATION = int(os.environ.get("SOAK_SECONDS", "600"))
WARMUP_SECONDS = 30
ROUND_SECONDS = 60
CONNECTIONS = 6  # wrk threads, one connection each (so that response() follows its request())
PAUSE_MS = 35  # after each answer, per connection: about 150 requests/s in all
WRK_TIMEOUT = "5s"  # an answer slower than this counts as a socket error (timeout)
WORKER_CONCURRENCY = 2  # Celery's default on this machine (its CPU count)
READY_SECONDS = 60.0  # for the worker to deliver a first event
DRAIN_SECONDS = 120.0  # for the worker to deliver what was recorded, once the traffic stops
GROWTH_TARGET = 10.0  # %
ERROR_TARGET = 0
KINDS = ("hit", "miss", "proxy", "inbound")
LABELS = {"hit": "options hits", "miss": "options misses", "proxy": "proxy GETs",
          "inbound": "inbound events"}  # fmt: skip

MIX_LUA = r"""
-- The soak's mix. Arguments: API key, proxy slug, inbound token, body file, round, pause (ms).
-- One connection per thread: the response() that follows a request() answers it.
local SLOTS = {"hit", "proxy", "hit", "miss", "hit", "inbound", "hit", "proxy", "hit", "hit"}
local KINDS = {"hit", "miss", "proxy", "inbound"}
local threads = {}

function setup(thread)
  thread:set("id", #threads)
  table.insert(threads, thread)
end

function init(args)
  local file = assert(io.open(args[4], "rb"))
  body = file:read("*a")
  file:close()
  round, pause = args[5], tonumber(args[6])
  auth = {["Authorization"] = "Bearer " .. args[1]}
  post = {["Content-Type"] = "application/json"}
  local options = "/api/v1/items/"
  hits = {options .. "projects/options/", options .. "many/options/",
          options .. "projects/options/", options .. "varying/options/?v=a",
          options .. "projects/options/", options .. "varying/options/?v=b"}
  misses = options .. "varying/options/?v=" .. round .. "-" .. id .. "-"
  proxied = {"/api/v1/proxy/" .. args[2] .. "/_test/data/projects",
             "/api/v1/proxy/" .. args[2] .. "/_test/data/many?n=20"}
  inbound = "/api/v1/inbound/" .. args[3]
  n, seen = id, {hit = 0, miss = 0, proxy = 0, inbound = 0}
  for _, k in ipairs(KINDS) do
    _G["sent_" .. k], _G["good_" .. k], _G["bad_" .. k] = 0, 0, 0
  end
  codes, bad_codes = {}, ""
end

function request()
  n = n + 1
  kind = SLOTS[n % #SLOTS + 1]
  seen[kind] = seen[kind] + 1
  _G["sent_" .. kind] = _G["sent_" .. kind] + 1
  local i = seen[kind]
  if kind == "hit" then
    return wrk.format("GET", hits[i % #hits + 1], auth)
  elseif kind == "miss" then
    return wrk.format("GET", misses .. i, auth)
  elseif kind == "proxy" then
    return wrk.format("GET", proxied[i % #proxied + 1], auth)
  end
  return wrk.format("POST", inbound, post, body)
end

function response(status, headers, response_body)
  if status >= 200 and status < 400 then
    _G["good_" .. kind] = _G["good_" .. kind] + 1
  else
    _G["bad_" .. kind] = _G["bad_" .. kind] + 1
    local code = kind .. ":" .. status
    codes[code] = (codes[code] or 0) + 1
    bad_codes = ""
    for name, count in pairs(codes) do
      bad_codes = bad_codes .. name .. "=" .. count .. " "
    end
  end
end

function delay()
  return pause
end

function done(summary, latency, requests)
  for _, k in ipairs(KINDS) do
    local sent, good, bad = 0, 0, 0
    for _, thread in ipairs(threads) do
      sent = sent + thread:get("sent_" .. k)
      good = good + thread:get("good_" .. k)
      bad = bad + thread:get("bad_" .. k)
    end
    io.write(string.format("SOAK %s %d %d %d\n", k, sent, good, bad))
  end
  for _, thread in ipairs(threads) do
    io.write("SOAKCODES " .. thread:get("bad_codes") .. "\n")
  end
end
"""


def rss_mb(root: int) -> tuple[float, float]:
    """(sum, largest process) of the VmRSS of the processes under ``root``, in MB."""
    found = []
    for pid in process_tree(root):
        try:
            status = Path(f"/proc/{pid}/status").read_text()
        except OSError:
            continue
        match = re.search(r"VmRSS:\s+(\d+) kB", status)
        if match:
            found.append(int(match.group(1)) / 1024)
    return sum(found), max(found or [0.0])


def machine_cpu() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine so far (/proc/stat), all cores."""
    fields = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:9]]
    ticks = os.sysconf("SC_CLK_TCK")
    idle = fields[3] + fields[4]  # idle, iowait
    return (sum(fields) - idle) / ticks, sum(fields) / ticks


def _cmdlines(match) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                line = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            except (OSError, UnicodeDecodeError):
                continue
            if match(line):
                found.append(int(entry.name))
    return found


class Cpu:
    """Where the machine's CPU goes: the soak's web and worker, the rest of the soak (the
    upstream and its receiver, wrk, the Redis on 6379, the soak database's PostgreSQL
    backends), and the rest: other work on the machine."""

    def __init__(self, web: int, worker: int, upstream: int) -> None:
        self.roots = {"web": web, "worker": worker, "upstream": upstream}
        self.redis = _cmdlines(lambda line: line.startswith("redis-server ") and ":6379" in line)

    def read(self) -> dict:
        busy, total = machine_cpu()
        children = resource.getrusage(resource.RUSAGE_CHILDREN)  # wrk, once it ended
        backends = _cmdlines(lambda line: line.startswith("postgres: ") and f" {DB_NAME} " in line)
        return {
            "busy": busy,
            "total": total,
            **{name: cpu_seconds(process_tree(root)) for name, root in self.roots.items()},
            "own": cpu_seconds(self.redis) + children.ru_utime + children.ru_stime,
            "pg": {pid: cpu_seconds([pid]) for pid in backends},
            "at": time.monotonic(),
        }

    @staticmethod
    def used(before: dict, after: dict) -> dict[str, float]:
        """Percent of one core, between two reads: machine, web, worker, rest of the soak,
        other work (a PostgreSQL backend that ended in between is missed: the rest of the soak
        is a little low, other work a little high)."""
        cores = os.cpu_count() or 1
        seconds = after["at"] - before["at"]
        machine = (after["busy"] - before["busy"]) / (after["total"] - before["total"]) * cores
        pg = sum(v - before["pg"].get(pid, 0.0) for pid, v in after["pg"].items())
        rest = after["upstream"] - before["upstream"] + after["own"] - before["own"] + pg
        shares = {
            "web": (after["web"] - before["web"]) / seconds,
            "worker": (after["worker"] - before["worker"]) / seconds,
            "rest": rest / seconds,
        }
        shares = {"machine": machine, **shares, "other": machine - sum(shares.values())}
        return {name: 100 * value for name, value in shares.items()}


def parse_socket_errors(output: str) -> dict[str, int]:
    match = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output
    )
    names = ("connect", "read", "write", "timeout")
    return (
        dict(zip(names, (int(v) for v in match.groups()), strict=True))
        if match
        else dict.fromkeys(names, 0)
    )


def wrk_mix(base: str, script: Path, args: list[str], seconds: int) -> dict:
    """One wrk run of the mix; wrk's figures, its socket errors and the counts by kind."""
    command = ["wrk", f"-t{CONNECTIONS}", f"-c{CONNECTIONS}", f"-d{seconds}s", "--latency",
               "--timeout", WRK_TIMEOUT, "-s", str(script), base, "--", *args]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 60)
    if result.returncode != 0:
        raise RuntimeError(f"wrk failed ({result.returncode}):\n{result.stderr[-2000:]}")
    return parse_mix(result.stdout)


def parse_mix(output: str) -> dict:
    """wrk's figures for a run of the mix, its socket errors, and the mix script's counts by
    kind (sent, answered 2xx-3xx, answered otherwise) and of the other answers by kind:status."""
    figures: dict = parse_wrk(output)
    figures["requests"] = int(re.search(r"(\d+) requests in", output).group(1))
    figures["socket"] = parse_socket_errors(output)
    figures["kinds"] = {}
    for kind, sent, good, bad in re.findall(r"^SOAK (\w+) (\d+) (\d+) (\d+)$", output, re.M):
        figures["kinds"][kind] = {"sent": int(sent), "good": int(good), "bad": int(bad)}
    codes: dict[str, int] = {}
    for line in re.findall(r"^SOAKCODES (.*)$", output, re.M):
        for name, count in re.findall(r"(\S+)=(\d+)", line):
            codes[name] = codes.get(name, 0) + int(count)
    figures["codes"] = codes
    if set(figures["kinds"]) != set(KINDS):
        raise RuntimeError(f"the mix script's counts are missing:\n{output}")
    return figures


def errors_of(figures: dict) -> int:
    return int(figures["errors"]) + sum(figures["socket"].values())


def stop(proc: subprocess.Popen | None, seconds: float) -> None:
    """Stop a process this bench started in its own session: SIGTERM, then SIGKILL to its
    process group (a Celery pool's children with it) when it does not end in ``seconds``."""
    if proc is None or proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout=seconds)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)


def metrics(text: str) -> dict[tuple[str, tuple], float]:
    from prometheus_client.parser import text_string_to_metric_families

    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def summed(found: dict, name: str, **labels: str) -> float:
    return sum(value for (sample, have), value in found.items()
               if sample == name and set(labels.items()) <= set(have))  # fmt: skip


def read_log(path: Path) -> dict:
    """A JSON log's lines counted by level (with the first few at ERROR or above), and the lines
    that are not JSON (Python's warnings, a traceback a process wrote itself)."""
    levels: dict[str, int] = {}
    serious: list[str] = []
    other: list[str] = []
    for line in path.read_text(errors="replace").splitlines():
        try:
            level = json.loads(line)["level"]
        except (ValueError, KeyError, TypeError):
            if line.strip():
                other.append(line.strip())
            continue
        levels[level] = levels.get(level, 0) + 1
        if level in ("ERROR", "CRITICAL") and len(serious) < 3:
            serious.append(line)
    return {"levels": levels, "serious": serious, "other": other}


class Events:
    """The soak's events, read from its database."""

    def __init__(self, source_id: str) -> None:
        self.source_id = source_id
        self.db = psycopg.connect(
            f"postgresql://postgres@127.0.0.1:5432/{DB_NAME}", autocommit=True
        )

    def counts(self) -> dict[str, int]:
        row = self.db.execute(
            "SELECT count(*), count(*) FILTER (WHERE status = 'delivered'),"
            " count(*) FILTER (WHERE status = 'pending'), count(*) FILTER (WHERE status = 'failed'),"
            " coalesce(sum(attempts), 0) FROM events_event WHERE datasource_id = %s",
            [self.source_id],
        ).fetchone()
        return dict(zip(("recorded", "delivered", "pending", "failed", "attempts"),
                        (int(v) for v in row), strict=True))  # fmt: skip

    def close(self) -> None:
        self.db.close()


def main() -> None:
    if not shutil.which("wrk"):
        raise SystemExit("wrk is missing: apt-get install -y wrk (make bench installs it as root)")
    if DURATION < 1:
        raise SystemExit("SOAK_SECONDS must be a whole number of seconds, 1 or more")
    reset_database(DB_NAME)
    stores = [redis.Redis.from_url(f"redis://127.0.0.1:6379/{n}") for n in (CACHE_DB, BROKER_DB)]
    for store in stores:
        store.flushdb()
    web = worker = None
    events = None
    try:
        with UpstreamForBench() as upstream, tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp)
            env = {
                **bench_env(upstream),
                "DATABASE_URL": f"postgres://postgres@127.0.0.1:5432/{DB_NAME}",
                "REDIS_URL": f"redis://127.0.0.1:6379/{CACHE_DB}",
                "CELERY_BROKER_URL": f"redis://127.0.0.1:6379/{BROKER_DB}",
                "METRICS_TOKEN": "soak-" + os.urandom(16).hex(),
                "PROMETHEUS_MULTIPROC_DIR": str(folder / "metrics"),
            }
            run([sys.executable, "manage.py", "migrate", "--noinput"], env)
            seeded = json.loads(
                run([sys.executable, "-m", "bench.seed", "--soak", upstream.base], env)
                .strip()
                .splitlines()[-1]
            )
            body = webhook_body()
            (folder / "body.json").write_bytes(body)
            script = folder / "mix.lua"
            script.write_text(MIX_LUA)
            port = free_port()
            web_log, worker_log = folder / "web.log", folder / "worker.log"
            with open(web_log, "wb") as out:
                web = subprocess.Popen(
                    [sys.executable, "-m", "gunicorn", "config.wsgi", "--bind", f"127.0.0.1:{port}",
                     "--workers", "2", "--worker-class", "gthread", "--threads", "8",
                     "--log-level", "warning", "--no-control-socket"],
                    cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
                )  # fmt: skip
            with open(worker_log, "wb") as out:
                worker = subprocess.Popen(
                    [sys.executable, "-m", "celery", "-A", "config", "worker", "--beat",
                     "--schedule-filename", str(folder / "celerybeat-schedule"),
                     "--concurrency", str(WORKER_CONCURRENCY), "--without-gossip",
                     "--without-mingle", "--loglevel", "WARNING"],
                    cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
                )  # fmt: skip
            wait_for_port(port, web)
            base = f"http://127.0.0.1:{port}"
            events = Events(seeded["events"]["id"])
            ready = check_every_kind(base, seeded, body, events, worker, worker_log)
            args = [seeded["key"], seeded["slug"], seeded["events"]["token"],
                    str(folder / "body.json")]  # fmt: skip

            warmup = wrk_mix(base, script, [*args, "w", str(PAUSE_MS)], WARMUP_SECONDS)
            start = {"web": rss_mb(web.pid), "worker": rss_mb(worker.pid)}
            minutes = []
            rounds = [ROUND_SECONDS] * (DURATION // ROUND_SECONDS)
            if DURATION % ROUND_SECONDS:
                rounds.append(DURATION % ROUND_SECONDS)
            print(header(len(rounds)), flush=True)
            print(f"  warm-up {WARMUP_SECONDS} s: {warmup['requests']:,} requests, "
                  f"{warmup['rps']:.0f} req/s, p50 {warmup['p50']:.2f} ms, p99 {warmup['p99']:.2f} ms,"
                  f" errors {errors_of(warmup)}; a first event was delivered {ready:.1f} s after"
                  " it was sent", flush=True)  # fmt: skip
            print(f"  {'min':>3} {'requests':>9} {'req/s':>6} {'p50 ms':>7} {'p99 ms':>7}"
                  f" {'errors':>6} | {'web RSS MB (largest)':>20} {'worker RSS MB (largest)':>23}"
                  f" | {'cache keys':>10} {'events delivered/recorded':>25} |"
                  f" CPU % of a core: machine web worker rest-of-soak other", flush=True)  # fmt: skip
            cpu = Cpu(web.pid, worker.pid, upstream.server.proc.pid)
            for number, seconds in enumerate(rounds, 1):
                before = cpu.read()
                figures = wrk_mix(base, script, [*args, str(number), str(PAUSE_MS)], seconds)
                figures["cpu"] = Cpu.used(before, cpu.read())
                figures["web"], figures["worker"] = rss_mb(web.pid), rss_mb(worker.pid)
                figures["keys"] = stores[0].dbsize()
                figures["events"] = events.counts()
                minutes.append(figures)
                print(minute_line(number, figures), flush=True)
                for proc, name in ((web, "web"), (worker, "worker")):
                    if proc.poll() is not None:
                        raise RuntimeError(f"the {name} exited during the soak")
            end = {"web": rss_mb(web.pid), "worker": rss_mb(worker.pid)}

            drained_in = drain(events)
            delivered = events.counts()
            client = requests.Session()
            client.trust_env = False
            client.verify = str(upstream.pki.ca_pem)
            receiver = client.get(f"{upstream.base}/_test/hooks/soak/count", timeout=30).json()
            scraped = client.get(f"{base}/metrics", timeout=30,
                                 headers={"Authorization": f"Bearer {env['METRICS_TOKEN']}"})  # fmt: skip
            scraped.raise_for_status()
            server = metrics(scraped.text)
            logs = {"web": read_log(web_log), "worker": read_log(worker_log)}
    finally:
        stop(web, 30)
        stop(worker, 60)
        if events is not None:
            events.close()
        for store in stores:
            store.flushdb()

    report(warmup, minutes, start, end, delivered, drained_in, receiver, server, logs)


def header(rounds: int) -> str:
    return (
        f"Soak ({DURATION} s in {rounds} wrk run(s) after a {WARMUP_SECONDS} s warm-up; gunicorn 2"
        " workers x 8 threads, production settings, PostgreSQL, Redis cache and broker; one Celery"
        f" worker, prefork x {WORKER_CONCURRENCY}, with beat; the HTTPS upstream and its webhook"
        f" receiver on 127.0.0.2)\n  wrk {CONNECTIONS} threads x 1 connection, each pausing"
        f" {PAUSE_MS} ms after every answer, timeout {WRK_TIMEOUT}; mix by weight: 60 % options"
        " hits (3 items, 6 URLs), 10 % options misses (a new dependency value each), 20 % proxy"
        " GETs, 10 % inbound events (1 kB JSON, delivery on)\n  the soak tenant's rate limits on"
        " options, proxy and inbound are off (Tenant.limits 0): this measures the product, not"
        " the limiter; a 429 would count as an error"
    )


def minute_line(number: int, m: dict) -> str:
    e = m["events"]
    return (
        f"  {number:>3} {m['requests']:>9,} {m['rps']:>6.0f} {m['p50']:>7.2f} {m['p99']:>7.2f}"
        f" {errors_of(m):>6} | {m['web'][0]:>11.1f} ({m['web'][1]:>5.1f})"
        f" {m['worker'][0]:>14.1f} ({m['worker'][1]:>5.1f}) | {m['keys']:>10,}"
        f" {e['delivered']:>12,} / {e['recorded']:>10,} |"
        + "".join(
            f" {m['cpu'][name]:>4.0f}" for name in ("machine", "web", "worker", "rest", "other")
        )
    )


def check_every_kind(base: str, seeded: dict, body: bytes, events: Events,
                     worker: subprocess.Popen, worker_log: Path) -> float:  # fmt: skip
    """One request of each kind answers as it should (a hit is a hit); the worker delivers an
    event. Returns how long that first delivery took."""
    client = requests.Session()
    client.trust_env = False
    client.headers["Authorization"] = f"Bearer {seeded['key']}"
    for _ in range(2):
        answer = client.get(f"{base}/api/v1/items/projects/options/", timeout=30)
        assert answer.status_code == 200, answer.text
    assert answer.json()["cache"] == "hit", answer.text
    answer = client.get(f"{base}/api/v1/items/varying/options/?v=check", timeout=30)
    assert answer.status_code == 200 and answer.json()["cache"] == "miss", answer.text
    answer = client.get(f"{base}/api/v1/proxy/{seeded['slug']}/_test/data/projects", timeout=30)
    assert answer.status_code == 200, answer.text
    sent = time.monotonic()
    answer = client.post(f"{base}/api/v1/inbound/{seeded['events']['token']}", data=body,
                         headers={"Content-Type": "application/json"}, timeout=30)  # fmt: skip
    assert answer.status_code == 202, answer.text
    while events.counts()["delivered"] < 1:
        if time.monotonic() - sent > READY_SECONDS or worker.poll() is not None:
            raise RuntimeError(f"no event was delivered:\n{worker_log.read_text()[-3000:]}")
        time.sleep(0.2)
    return time.monotonic() - sent


def drain(events: Events) -> float:
    """Wait (at most DRAIN_SECONDS) until no event is pending; how long it took."""
    started = time.monotonic()
    while events.counts()["pending"] and time.monotonic() - started < DRAIN_SECONDS:
        time.sleep(0.5)
    return time.monotonic() - started


def growth(before: float, after: float) -> float:
    return 100 * (after - before) / before


def report(warmup: dict, minutes: list[dict], start: dict, end: dict, delivered: dict,
           drained_in: float, receiver: dict, server: dict, logs: dict) -> None:  # fmt: skip
    runs = [warmup, *minutes]
    total = sum(m["requests"] for m in minutes)
    seconds = sum(m["requests"] / m["rps"] for m in minutes if m["rps"])
    print(f"  requests after the warm-up: {total:,} ({total / seconds:.0f} req/s);"
          " by kind (sent / answered 2xx-3xx / answered otherwise; wrk stops each run with up to one"
          " request a connection in flight, sent but not answered):")  # fmt: skip
    for kind in KINDS:
        counts = [m["kinds"][kind] for m in minutes]
        sent = sum(c["sent"] for c in counts)
        print(f"      {LABELS[kind]:<15} {sent:>9,} ({100 * sent / max(total, 1):4.1f} %)"
              f" / {sum(c['good'] for c in counts):>9,} / {sum(c['bad'] for c in counts):,}")  # fmt: skip
    non2xx = sum(int(m["errors"]) for m in runs)
    socket = {name: sum(m["socket"][name] for m in runs) for name in warmup["socket"]}
    codes: dict[str, int] = {}
    for m in runs:
        for name, count in m["codes"].items():
            codes[name] = codes.get(name, 0) + count
    errors = non2xx + sum(socket.values())
    print(
        f"  errors, warm-up included: {errors} (non-2xx/3xx answers {non2xx}"
        f"{' ' + str(codes) if codes else ''}; socket errors: "
        + ", ".join(f"{name} {count}" for name, count in socket.items())
        + f")   target {ERROR_TARGET}   {verdict(errors, ERROR_TARGET)}"
    )
    cache = {o: summed(server, "plugboard_options_cache_total", outcome=o)
             for o in ("hit", "miss", "stale")}  # fmt: skip
    statuses: dict[str, float] = {}
    for (name, labels), value in server.items():
        if name == "plugboard_http_requests_total":
            route, status = dict(labels)["route"], dict(labels)["status"]
            statuses[f"{route} {status}"] = statuses.get(f"{route} {status}", 0) + value
    print("  the server's own counts (/metrics, whole run): options cache "
          + ", ".join(f"{o} {v:,.0f}" for o, v in cache.items())
          + "; requests by route and status: "
          + ", ".join(f"{k} {v:,.0f}" for k, v in sorted(statuses.items())))  # fmt: skip
    p99 = [m["p99"] for m in minutes]
    p50 = [m["p50"] for m in minutes]
    worst = max(range(len(p99)), key=p99.__getitem__)
    print(
        f"  p99 per minute: first {p99[0]:.2f} ms, last {p99[-1]:.2f} ms (last / first"
        f" {p99[-1] / p99[0]:.2f}), median {statistics.median(p99):.2f} ms, highest {p99[worst]:.2f}"
        f" ms (minute {worst + 1}); p50: first {p50[0]:.2f} ms, last {p50[-1]:.2f} ms"
    )
    inbound_ok = sum(m["kinds"]["inbound"]["good"] for m in runs) + 1  # + the check's
    print(
        f"  deliveries: {delivered['recorded']:,} events recorded ({inbound_ok:,} inbound requests"
        f" answered 2xx, the start's check included), {delivered['delivered']:,} delivered,"
        f" {delivered['pending']:,} pending, {delivered['failed']:,} failed"
        f" ({delivered['attempts']:,} attempts); the receiver got {receiver['received']:,}"
        f" requests for {receiver['distinct']:,} distinct events; "
        + (f"none was pending {drained_in:.1f} s after the traffic stopped"
           if not delivered["pending"] else f"some still pending {drained_in:.0f} s after it")
        + f"   target: all delivered   {verdict(delivered['recorded'] - delivered['delivered'], 0)}"
    )  # fmt: skip
    for name in ("web", "worker"):
        (s_sum, s_big), (e_sum, e_big) = start[name], end[name]
        g_sum, g_big = growth(s_sum, e_sum), growth(s_big, e_big)
        print(
            f"  RSS {name:<6} after the warm-up {s_sum:6.1f} MB (largest process {s_big:5.1f} MB),"
            f" at the end {e_sum:6.1f} MB ({e_big:5.1f} MB): {g_sum:+.1f} % ({g_big:+.1f} %)"
            f"   target <= +{GROWTH_TARGET:.0f} %   {verdict(max(g_sum, g_big), GROWTH_TARGET)}"
        )
    for name, log in logs.items():
        levels = ", ".join(f"{level} {count}" for level, count in sorted(log["levels"].items()))
        print(f"  {name} log (JSON lines, LOG_LEVEL=WARNING): {levels or 'none'}"
              + "".join(f"\n      {line[:400]}" for line in log["serious"])
              + (f"; and {len(log['other'])} other line(s), e.g. {log['other'][0][:160]!r}"
                 if log["other"] else ""))  # fmt: skip
    cpu = {name: [m["cpu"][name] for m in minutes] for name in minutes[0]["cpu"]}
    print(
        f"  CPU, % of one core ({os.cpu_count()} cores), median of the minutes: machine"
        f" {statistics.median(cpu['machine']):.0f} (minutes {min(cpu['machine']):.0f}.."
        f"{max(cpu['machine']):.0f}): web {statistics.median(cpu['web']):.0f}, worker"
        f" {statistics.median(cpu['worker']):.0f}, rest of the soak (upstream, wrk, Redis,"
        f" PostgreSQL) {statistics.median(cpu['rest']):.0f}, other work on the machine"
        f" {statistics.median(cpu['other']):.0f} (minutes {min(cpu['other']):.0f}.."
        f"{max(cpu['other']):.0f})"
    )


if __name__ == "__main__":
    main()
