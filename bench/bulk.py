"""Bulk jobs under gunicorn and one Celery worker with production settings on PostgreSQL and
Redis, against the HTTPS test upstream on the same machine, in one run.

Prints, each with its target:
  (a) uploads of 10,000 and 100,000 rows through the API (a CSV of 8 columns with quotes, commas,
      line breaks inside fields and non-ASCII text) to a records endpoint of the upstream that
      answers 201 and counts: rows/s (the job's started_at -> finished_at, and the wall clock
      from the upload request to COMPLETE seen), the job's counters, what the upstream received,
      CPU per row; and the peak RSS of the web processes and of the worker's during each run,
      the largest process of each                                    target < 200 MB
      and flat in the row count: its growth from 10,000 to 100,000 rows   target <= 10 MB
      (with the most any one process grew during each run beside it);
  (b) a 100,000-record query export (offset pagination, 500 records a page): records/s, peak
      RSS of web and worker (target < 200 MB); then result.csv streamed back through the API:
      lines, bytes, seconds, and the web's peak RSS meanwhile.

The peaks are VmHWM, reset (``/proc/<pid>/clear_refs``) as each run starts and read from
/proc every SAMPLE_SECONDS while it runs (so a process that ends mid-run still counts). The
upstream's records endpoint for the uploads (/_test/accept) keeps only the keys it saw, not each
request like the tests' sink; its list for the query is held whole in its memory (its peak RSS
is printed too, but is not Plugboard's).
"""

from __future__ import annotations

import csv
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime
from pathlib import Path

import redis
import requests

from bench.events import pg_cpu
from bench.options import (
    ROOT,
    bench_env,
    cpu_seconds,
    free_port,
    process_tree,
    reset_database,
    run,
    wait_for_port,
)
from bench.support import UpstreamForBench, verdict

# Redis DBs: 10 is the options and proxy benches' broker, 11 every bench's cache (bench_env's;
# the benches run one after the other), 12 the events bench's broker, 13 the production install
# test's, 14 and 15 the tests': this bench's broker is 9 (flushed before and after).
BROKER_DB = 9
UPLOAD_ROWS = (10_000, 100_000)
QUERY_RECORDS = 100_000
PAGE_SIZE = 500
WARM_ROWS = 300
RSS_TARGET_MB = 200.0
FLAT_TARGET_MB = 10.0
WORKER_CONCURRENCY = 2  # Celery's default on this machine (its CPU count)
SAMPLE_SECONDS = 0.2
POLL_SECONDS = 0.5
MB = 1024 * 1024


def job_timeout(count: int) -> float:
    """How long a job of ``count`` rows or records may take before the bench gives up: far more
    than it needs (50 rows/s would be a broken job, not a slow one)."""
    return 60 + count / 50


FIRST = ["Zoë", "José", "Ana", "Łukasz", "Søren", "Chloé", "Mei", "Ólafur", "Renée", "Dmitri"]
LAST = ["Müller", "O'Brien", "García", "Nowak", "Ødegaard", "Dubois", "田中", "Sigurðsson",
        "Smith, Jr.", "Иванова"]  # fmt: skip
CITIES = ["Kraków", "São Paulo", "Zürich", "Reykjavík", "東京", "Montréal", "Köln", "Oslo"]
COMPANIES = ["Acme", "Globex, Inc.", 'The "Best" Co.', "Müller & Söhne GmbH", "Initech"]
NOTES = ['Said "call me, maybe"', "line one\nline two", "", "Paid € 12,50 – thanks", "ok"]
HEADER = ["external_id", "first_name", "last_name", "email", "city", "company", "amount", "note"]


def write_rows(path: Path, count: int) -> int:
    """A CSV of ``count`` contacts (header first); its size in bytes."""
    with open(path, "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(HEADER)
        for n in range(1, count + 1):
            first, last = FIRST[n % 10], LAST[n // 10 % 10]
            writer.writerow([
                f"C-{n:07d}", first, last, f"contact.{n}@example.com", CITIES[n % 8],
                COMPANIES[n % 5], f"{n % 1000}.{n % 100:02d}", NOTES[n // 5 % 5],
            ])  # fmt: skip
    return path.stat().st_size


def reset_peaks(pids: list[int]) -> None:
    for pid in pids:
        try:
            Path(f"/proc/{pid}/clear_refs").write_text("5")  # VmHWM := VmRSS
        except OSError:
            continue


def _status_kb(pid: int, field: str) -> int | None:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    match = re.search(rf"{field}:\s+(\d+) kB", status)
    return int(match.group(1)) if match else None


class Peaks:
    """The peak RSS of the processes under each root pid while a run lasts: their VmHWM, reset
    at the start, read every SAMPLE_SECONDS and at the end."""

    def __init__(self, roots: dict[str, int]) -> None:
        self.roots = roots
        self.peaks: dict[str, dict[int, int]] = {name: {} for name in roots}
        self.starts: dict[str, dict[int, int]] = {}  # each process's RSS as the run starts
        # The CPU time of the bench database's PostgreSQL backends: first and last seen (a
        # worker's backend may live for one task only, and loses at most a sample's worth).
        self.pg_first: dict[int, float] = {}
        self.pg_last: dict[int, float] = {}
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def __enter__(self) -> Peaks:
        for root in self.roots.values():
            reset_peaks(process_tree(root))
        self.pg_first = pg_cpu()
        self._read()
        self.starts = {name: dict(found) for name, found in self.peaks.items()}
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._done.set()
        self._thread.join()
        self._read()

    def _read(self) -> None:
        for name, root in self.roots.items():
            for pid in process_tree(root):
                kb = _status_kb(pid, "VmHWM")
                if kb is not None:
                    self.peaks[name][pid] = max(kb, self.peaks[name].get(pid, 0))
        self.pg_last.update(pg_cpu())

    def _sample(self) -> None:
        while not self._done.wait(SAMPLE_SECONDS):
            self._read()

    def pg_seconds(self) -> float:
        return sum(last - self.pg_first.get(pid, 0.0) for pid, last in self.pg_last.items())

    def of(self, name: str) -> tuple[float, float]:
        """(sum over the processes, largest process), in MB."""
        found = list(self.peaks[name].values()) or [0]
        return sum(found) / 1024, max(found) / 1024

    def rise(self, name: str) -> float:
        """The most any of these processes grew during the run, in MB."""
        starts = self.starts.get(name, {})
        return max([peak - starts[pid] for pid, peak in self.peaks[name].items()
                    if pid in starts] or [0]) / 1024  # fmt: skip

    def line(self) -> str:
        return "; ".join(
            f"{name} {total:.0f} MB in all (largest process {largest:.0f} MB, the most one grew"
            f" during the run {self.rise(name):+.1f} MB)"
            for name, (total, largest) in ((n, self.of(n)) for n in self.roots)
        )


def _seconds(status: dict) -> float:
    started = datetime.fromisoformat(status["started_at"])
    return (datetime.fromisoformat(status["finished_at"]) - started).total_seconds()


class Bench:
    """The running servers and what the runs share."""

    def __init__(self, base: str, key: str, datasource: str, upstream: UpstreamForBench,
                 web: subprocess.Popen, worker: subprocess.Popen, worker_log: Path) -> None:  # fmt: skip
        self.base = base
        self.datasource = datasource
        self.upstream = upstream
        self.web = web
        self.worker = worker
        self.worker_log = worker_log
        self.client = requests.Session()
        self.client.trust_env = False
        self.client.headers["Authorization"] = f"Bearer {key}"
        self.direct = requests.Session()  # to the upstream's own counters
        self.direct.trust_env = False
        self.direct.verify = str(upstream.pki.ca_pem)

    def peaks(self) -> Peaks:
        return Peaks({"web": self.web.pid, "worker": self.worker.pid,
                      "upstream": self.upstream.server.proc.pid})  # fmt: skip

    def cpu(self) -> dict[str, float]:
        return {
            "worker": cpu_seconds(process_tree(self.worker.pid)),
            "web": cpu_seconds(process_tree(self.web.pid)),
            "upstream": cpu_seconds(process_tree(self.upstream.server.proc.pid)),
        }

    @staticmethod
    def cpu_ms_each(before: dict, after: dict, peaks: Peaks, count: int) -> dict[str, float]:
        used = {part: after[part] - before[part] for part in before}
        used["pg"] = peaks.pg_seconds()
        return {part: seconds * 1000 / count for part, seconds in used.items()}

    def wait(self, job_id: str, count: int) -> dict:
        """Poll the job's status through the API until it ends; its last status."""
        deadline = time.monotonic() + job_timeout(count)
        while True:
            answer = self.client.get(f"{self.base}/api/v1/bulk/{job_id}/status", timeout=30)
            answer.raise_for_status()
            status = answer.json()
            if status["status"] not in ("CREATED", "RUNNING"):
                break
            if time.monotonic() > deadline or self.worker.poll() is not None:
                raise RuntimeError(f"job {job_id} is still {status['status']} "
                                   f"({status['processed']:,} of {count:,}): {self.log_tail()}")  # fmt: skip
            time.sleep(POLL_SECONDS)
        if status["status"] != "COMPLETE":
            raise RuntimeError(f"job {job_id} ended {status['status']}: {status['message']}\n"
                               f"{self.log_tail()}")  # fmt: skip
        return status

    def log_tail(self) -> str:
        return f"worker log:\n{self.worker_log.read_text(errors='replace')[-3000:]}"

    def upload(self, path: Path, count: int, sink: str) -> dict:
        """Start an upload of ``path`` (``count`` rows) to the upstream's ``sink``."""
        with open(path, "rb") as handle:
            answer = self.client.post(
                f"{self.base}/api/v1/datasources/{self.datasource}/bulk/",
                params={"path": f"/_test/accept/{sink}", "method": "POST"},
                files={"file": ("rows.csv", handle, "text/csv")},
                timeout=300,
            )
        if answer.status_code != 201:
            raise RuntimeError(f"the upload was refused: {answer.status_code} {answer.text[:500]}")
        return answer.json()

    def query(self, count: int) -> dict:
        pagination = {"style": "offset", "param": "offset", "size_param": "limit",
                      "size": PAGE_SIZE}  # fmt: skip
        answer = self.client.post(
            f"{self.base}/api/v1/datasources/{self.datasource}/bulk/query/",
            json={
                "path": f"/_test/pages/offset?n={count}",
                "results_path": "records",
                "pagination": pagination,
            },
            timeout=30,
        )
        if answer.status_code != 201:
            raise RuntimeError(f"the query was refused: {answer.status_code} {answer.text[:500]}")
        return answer.json()

    def sink_count(self, sink: str) -> dict:
        answer = self.direct.get(f"{self.upstream.base}/_test/accept/{sink}/count", timeout=30)
        answer.raise_for_status()
        return answer.json()

    def upload_run(self, folder: Path, count: int) -> dict:
        path = folder / f"rows-{count}.csv"
        size = write_rows(path, count)
        sink = f"bench-{count}"
        before = self.cpu()
        with self.peaks() as peaks:
            started = time.perf_counter()
            job = self.upload(path, count, sink)
            posted = time.perf_counter() - started
            status = self.wait(job["id"], count)
            wall = time.perf_counter() - started
        cpu = self.cpu_ms_each(before, self.cpu(), peaks, count)
        path.unlink()
        return {"count": count, "size": size, "status": status, "posted": posted, "wall": wall,
                "seconds": _seconds(status), "peaks": peaks, "cpu": cpu,
                "sink": self.sink_count(sink)}  # fmt: skip

    def query_run(self, count: int) -> dict:
        # The upstream builds its list of records once, on the first call: not in the run.
        self.direct.get(f"{self.upstream.base}/_test/pages/offset?n={count}&limit=1",
                        timeout=120).raise_for_status()  # fmt: skip
        counts = self.direct.get(f"{self.upstream.base}/_test/counts", timeout=30).json()
        pages_before = counts.get("/_test/pages/offset", 0)
        before = self.cpu()
        with self.peaks() as peaks:
            started = time.perf_counter()
            job = self.query(count)
            status = self.wait(job["id"], count)
            wall = time.perf_counter() - started
        cpu = self.cpu_ms_each(before, self.cpu(), peaks, count)
        counts = self.direct.get(f"{self.upstream.base}/_test/counts", timeout=30).json()
        return {"count": count, "status": status, "wall": wall, "seconds": _seconds(status),
                "peaks": peaks, "cpu": cpu,
                "pages": counts.get("/_test/pages/offset", 0) - pages_before}  # fmt: skip

    def download(self, job_id: str) -> dict:
        """Stream result.csv back through the API, counting its lines (no record of the test
        upstream has a line break, so lines are records plus the header)."""
        with Peaks({"web": self.web.pid}) as peaks:
            started = time.perf_counter()
            lines = size = 0
            first = last = b""
            with self.client.get(f"{self.base}/api/v1/bulk/{job_id}/result.csv", stream=True,
                                 timeout=300) as answer:  # fmt: skip
                answer.raise_for_status()
                for block in answer.iter_content(64 * 1024):
                    if not first:
                        first = block.split(b"\r\n", 1)[0]
                    lines += block.count(b"\n")  # (a CRLF may straddle two blocks)
                    size += len(block)
                    last = (last + block)[-200:]
            seconds = time.perf_counter() - started
        return {"lines": lines, "bytes": size, "seconds": seconds, "peaks": peaks,
                "header": first.decode(), "last": last.rstrip(b"\r\n").rsplit(b"\r\n", 1)[-1]
                .decode()}  # fmt: skip


def start_worker(env: dict[str, str], log: Path) -> subprocess.Popen:
    with open(log, "wb") as out:
        worker = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "config", "worker",
             "--concurrency", str(WORKER_CONCURRENCY), "--loglevel", "INFO",
             "--without-gossip", "--without-mingle", "--without-heartbeat"],
            # INFO: the app's logging decides what is written, and "ready." is an INFO line.
            cwd=ROOT, env={**env, "LOG_LEVEL": "INFO"}, stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    deadline = time.monotonic() + 60
    while " ready." not in log.read_text(errors="replace"):
        if worker.poll() is not None or time.monotonic() > deadline:
            stop(worker)
            raise RuntimeError(f"the worker did not start:\n{log.read_text()[-3000:]}")
        time.sleep(0.2)
    return worker


def stop(proc: subprocess.Popen | None) -> None:
    if proc is None or proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=10)


def folder_size(folder: Path) -> tuple[int, int]:
    files = [p for p in folder.rglob("*") if p.is_file()]
    return len(files), sum(p.stat().st_size for p in files)


def main() -> None:
    reset_database()
    broker = redis.Redis.from_url(f"redis://127.0.0.1:6379/{BROKER_DB}")
    broker.flushdb()
    with UpstreamForBench() as upstream, tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        storage = folder / "storage"
        env = {
            **bench_env(upstream),
            "CELERY_BROKER_URL": f"redis://127.0.0.1:6379/{BROKER_DB}",
            "BULK_STORAGE_BACKEND": "django.core.files.storage.FileSystemStorage",
            "BULK_STORAGE_OPTIONS": json.dumps({"location": str(storage)}),
        }
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
        worker = None
        try:
            wait_for_port(port, web)
            worker = start_worker(env, folder / "worker.log")
            bench = Bench(f"http://127.0.0.1:{port}", seeded["key"], seeded["datasource"],
                          upstream, web, worker, folder / "worker.log")  # fmt: skip

            # Warm both processes of each (imports, connections) before anything is measured.
            rows = folder / "warm.csv"
            write_rows(rows, WARM_ROWS)
            warm = [bench.upload(rows, WARM_ROWS, "warm")["id"] for _ in range(2)]
            warm.append(bench.query(1000)["id"])
            for job_id in warm:
                bench.wait(job_id, WARM_ROWS)
            bench.download(warm[-1])

            uploads = [bench.upload_run(folder, count) for count in UPLOAD_ROWS]
            query = bench.query_run(QUERY_RECORDS)
            download = bench.download(query["status"]["id"])
            stored = folder_size(storage)
        finally:  # before the folder goes: no job may write into it afterwards
            stop(worker)
            stop(web)
            broker.flushdb()
    report(uploads, query, download, stored)


def report(uploads: list[dict], query: dict, download: dict, stored: tuple[int, int]) -> None:
    print(
        "Bulk jobs (gunicorn: 2 workers x 8 threads; one Celery worker, prefork"
        f" --concurrency={WORKER_CONCURRENCY}; production settings, PostgreSQL, Redis; the HTTPS"
        f" upstream on the same {os.cpu_count()}-core machine: gunicorn, 1 process x 16 threads;"
        " jobs started and polled through the API with an admin key)"
    )

    def cpu_line(cpu: dict[str, float], unit: str, digits: int) -> str:
        return (f"      CPU per {unit}: worker {cpu['worker']:.{digits}f} ms,"
                f" web {cpu['web']:.{digits}f} ms, upstream {cpu['upstream']:.{digits}f} ms,"
                f" PostgreSQL backends {cpu['pg']:.{digits}f} ms")  # fmt: skip

    def check(found: int, expected: int) -> str:
        return "" if found == expected else f" (MISSING: {expected:,} expected)"

    for u in uploads:
        s, sink = u["status"], u["sink"]
        print(
            f"  (a) upload of {u['count']:,} rows ({u['size'] / MB:.1f} MB CSV, 8 columns):"
            f" {u['count'] / u['seconds']:,.0f} rows/s (job started -> finished {u['seconds']:.1f}"
            f" s); upload request -> COMPLETE seen {u['wall']:.1f} s"
            f" ({u['count'] / u['wall']:,.0f} rows/s), of which the upload request"
            f" {u['posted']:.2f} s"
        )
        print(
            f"      counters: total {s['total']:,}, processed {s['processed']:,}, succeeded"
            f" {s['succeeded']:,}, failed {s['failed']:,}; the upstream received"
            f" {sink['requests']:,} requests with {sink['keys']:,} distinct Idempotency-Keys"
            f"{check(sink['keys'], u['count'])} ({sink['refused']:,} refused)"
        )
        print(cpu_line(u["cpu"], "row", 2))
        print(f"      peak RSS: {u['peaks'].line()}")
    small, large = uploads[0], uploads[-1]
    for name in ("web", "worker"):
        low, high = small["peaks"].of(name)[1], large["peaks"].of(name)[1]
        growth = high - low
        print(
            f"      {name}, largest process: {low:.0f} MB at {small['count']:,} rows,"
            f" {high:.0f} MB at {large['count']:,} rows   target < {RSS_TARGET_MB:.0f} MB   "
            f"{verdict(max(low, high), RSS_TARGET_MB)};  growth {growth:+.1f} MB   target <="
            f" {FLAT_TARGET_MB:.0f} MB   {verdict(growth, FLAT_TARGET_MB)}"
            f"  (the most one grew during the run: {small['peaks'].rise(name):+.1f} MB,"
            f" {large['peaks'].rise(name):+.1f} MB)"
        )
    s = query["status"]
    print(
        f"  (b) query export of {query['count']:,} records (offset pagination, {PAGE_SIZE} a page,"
        f" {query['pages']} pages read): {s['processed'] / query['seconds']:,.0f} records/s"
        f" (job started -> finished {query['seconds']:.1f} s); query request -> COMPLETE seen"
        f" {query['wall']:.1f} s; counters: total {s['total']:,}, processed {s['processed']:,}"
        f"{check(s['processed'], query['count'])}"
    )
    print(cpu_line(query["cpu"], "record", 3))
    print(f"      peak RSS: {query['peaks'].line()}")
    for name in ("web", "worker"):
        largest = query["peaks"].of(name)[1]
        print(f"      {name}, largest process: {largest:.0f} MB   target < {RSS_TARGET_MB:.0f} MB"
              f"   {verdict(largest, RSS_TARGET_MB)}")  # fmt: skip
    print(
        f"      result.csv streamed back through the API: {download['lines']:,} lines"
        f"{check(download['lines'], query['count'] + 1)} ({download['bytes'] / MB:.1f} MB) in"
        f" {download['seconds']:.2f} s ({download['bytes'] / MB / download['seconds']:.0f} MB/s);"
        f" web peak RSS meanwhile: {download['peaks'].line().removeprefix('web ')}"
    )
    print(
        f"      (columns: {download['header']}; last line: {download['last'][:40]}...)"
        f"  storage folder at the end: {stored[0]} files, {stored[1] / MB:.1f} MB (removed)"
    )
    print(
        "      (the upstream's records endpoint for the uploads, /_test/accept, counts and keeps"
        f" only the Idempotency-Keys; its list for the query holds its {QUERY_RECORDS:,} records in"
        " memory:"
        " hence the upstream's peak RSS, which is not Plugboard's)"
    )


if __name__ == "__main__":
    main()
