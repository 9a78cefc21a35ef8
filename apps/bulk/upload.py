"""An upload job's run: each CSV row sent as a JSON object, a bounded number in flight, every
answer recorded on the job row as it comes (see ``models``).

Rows are read from the stored file as they are sent, never all at once. Sender threads only
talk HTTP; the job's thread reads rows, hands them out and records answers, so a row is in
flight (sent, its answer not yet recorded) in at most ``concurrency`` places, and those are the
only rows a resumed job sends twice, with the same ``Idempotency-Key``.
"""

from __future__ import annotations

import contextlib
import json
import queue
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

from django.conf import settings
from django.db import connections, transaction
from django.db.models import F

from apps.bulk.files import check_header, csv_rows, open_file
from apps.bulk.models import BulkJob, JobStatus, RowFailure
from apps.bulk.runner import JobFailure, Lease, Stop, clean_text
from apps.core import metrics
from apps.datasources.connections import TokenStateStore, connection_of
from apps.items.rendering import PLACEHOLDER, InvalidDependency, render_path
from apps.outbound.client import OPTIONS_MAX_BYTES, OutboundResponse, parse_retry_after
from apps.outbound.connection import Connection
from apps.outbound.errors import (
    DestinationBlocked,
    InvalidRequestSettings,
    OutboundError,
    ResponseTooLarge,
    SecretsUnreadable,
    TokenRefreshFailed,
    UpstreamBusy,
    UpstreamTimeout,
    UpstreamUnreachable,
)
from apps.outbound.redaction import mask_secrets
from apps.outbound.service import NotConnected, connection_request

ATTEMPTS = 3  # per row, for timeouts, connection failures and 5xx
RATE_LIMIT_WAITS = 10  # 429s a row may wait out before it fails
MESSAGE_CHARS = 300
# How far past the first unanswered row a job may send: the rows answered beyond it are written
# with every answer, so a row that stays slow (retries, timeouts) holds the others back rather
# than let that list grow.
WINDOW = 256
# These cannot get better row by row: the job stops and says why.
JOB_FAILURES = (SecretsUnreadable, NotConnected, DestinationBlocked, InvalidRequestSettings,
                TokenRefreshFailed)  # fmt: skip


@dataclass(frozen=True)
class Answer:
    row: int
    ok: bool
    status_code: int | None = None
    message: str = ""


@dataclass(frozen=True)
class Unanswered:
    """A row given up because the job stops: sent again (same key) if the job resumes."""

    row: int


class Pacer:
    """A pause all of a job's senders keep (a 429's Retry-After), and waits a stop cuts short."""

    def __init__(self, stopping: threading.Event) -> None:
        self.stopping = stopping
        self.until = 0.0
        self.lock = threading.Lock()

    def pause(self, seconds: float) -> None:
        with self.lock:
            self.until = max(self.until, time.monotonic() + seconds)

    def sleep(self, seconds: float) -> bool:
        """Wait ``seconds``; False when the job stops meanwhile."""
        return not self.stopping.wait(seconds) if seconds > 0 else not self.stopping.is_set()

    def ready(self) -> bool:
        """Wait out the pause; False when the job stops meanwhile."""
        while True:
            left = self.until - time.monotonic()
            if left <= 0:
                return not self.stopping.is_set()
            if not self.sleep(min(left, 0.5)):
                return False


def answer_message(response: OutboundResponse) -> str:
    """The status and the start of the answer, credentials masked (before it is cut, so no
    part of one is left)."""
    text = " ".join(mask_secrets(response.text, response.sensitive).split())[:MESSAGE_CHARS]
    return f"HTTP {response.status_code}: {text}" if text else f"HTTP {response.status_code}"


def rate_limit_wait(value: str | None) -> float:
    """Seconds a 429 asks to wait, within [1, BULK_MAX_RETRY_AFTER]; an unreadable value waits
    1 s, a number too large to read the longest."""
    longest = float(settings.BULK_MAX_RETRY_AFTER)
    seconds = parse_retry_after(value)
    if seconds is None:
        digits = (value or "").strip()
        return longest if digits.isascii() and digits.isdigit() else 1.0
    return min(max(float(seconds), 1.0), longest)


class RowSender:
    """Sends one row as the job says: its JSON body, its Idempotency-Key, its retries."""

    def __init__(self, job: BulkJob, connection: Connection, header: list[str],
                 pacer: Pacer) -> None:  # fmt: skip
        self.job = job
        self.connection = connection
        self.store = TokenStateStore(job.datasource_id)
        self.header = header
        self.pacer = pacer
        self.templated = bool(PLACEHOLDER.search(job.path))
        before_query = job.path.split("?", 1)[0]
        # Placeholders that are a whole path segment (/contacts/{id}): never empty.
        self.segments = [name for name in PLACEHOLDER.findall(before_query)
                         if f"/{{{name}}}/" in before_query + "/"]  # fmt: skip
        backoff = [float(s) for s in settings.BULK_RETRY_BACKOFF] or [1.0]
        self.backoff = backoff + [backoff[-1]] * ATTEMPTS

    def path_for(self, values: Mapping[str, str]) -> str:
        if not self.templated:
            return self.job.path
        for name in self.segments:
            if not values[name].strip():
                raise InvalidDependency(
                    f"The row's {name} is empty, and it makes a whole path segment "
                    "(it would call the collection instead of one record)."
                )
        return render_path(self.job.path, values)

    def __call__(self, row: int, record: list[str]) -> Answer | Unanswered:
        if len(record) != len(self.header):
            return Answer(row, False, None, f"This row has {len(record)} fields; the header row "
                          f"has {len(self.header)}. It was not sent.")  # fmt: skip
        values = dict(zip(self.header, record, strict=True))
        try:
            path = self.path_for(values)
        except InvalidDependency as exc:
            return Answer(row, False, None, f"{exc.message} It was not sent.")
        body = json.dumps(values, ensure_ascii=False).encode()
        headers = {"Content-Type": "application/json", "Idempotency-Key": f"{self.job.pk}-{row}"}
        attempts = waits = 0
        while True:
            if not self.pacer.ready():
                return Unanswered(row)
            attempts += 1
            try:
                response = connection_request(
                    self.connection, self.store, method=self.job.method, path=path,
                    headers=headers, body=body, max_bytes=OPTIONS_MAX_BYTES,
                )  # fmt: skip
            except JOB_FAILURES as exc:
                raise JobFailure(exc.message) from None
            except UpstreamBusy:
                # The tenant's other calls hold every slot: wait like for a 429.
                attempts -= 1
                waits += 1
                if waits > RATE_LIMIT_WAITS:
                    return Answer(row, False, None, UpstreamBusy.message)
                self.pacer.pause(1.0)
                continue
            except (UpstreamTimeout, UpstreamUnreachable) as exc:
                if attempts < ATTEMPTS:
                    if not self.pacer.sleep(self.backoff[attempts - 1]):
                        return Unanswered(row)
                    continue
                return Answer(row, False, None, f"{exc.message} ({attempts} attempts)")
            except ResponseTooLarge:
                return Answer(row, False, None, "The answer was larger than 10 MB.")
            except OutboundError as exc:
                return Answer(row, False, None, exc.message)
            status = response.status_code
            if 200 <= status < 300:
                return Answer(row, True, status)
            if status == 429 and waits < RATE_LIMIT_WAITS:
                waits += 1
                attempts -= 1  # waiting for the upstream's leave is not an attempt
                self.pacer.pause(rate_limit_wait(response.headers.get("Retry-After")))
                continue
            if status >= 500 and attempts < ATTEMPTS:
                if not self.pacer.sleep(self.backoff[attempts - 1]):
                    return Unanswered(row)
                continue
            return Answer(row, False, status, answer_message(response))


class Senders:
    """``count`` threads sending rows; answers come back through ``answers``."""

    def __init__(self, count: int, send: RowSender) -> None:
        self.send = send
        self.inbox: queue.Queue[tuple[int, list[str]] | None] = queue.Queue()
        self.answers: queue.Queue[Answer | Unanswered | BaseException] = queue.Queue()
        self.threads = [threading.Thread(target=self._work, daemon=True, name=f"bulk-send-{n}")
                        for n in range(count)]  # fmt: skip
        for thread in self.threads:
            thread.start()

    def _work(self) -> None:
        try:
            while (item := self.inbox.get()) is not None:
                try:
                    self.answers.put(self.send(*item))
                except BaseException as exc:  # handed to the job's thread, which decides
                    self.answers.put(exc)
        finally:
            connections.close_all()  # a token refresh may have used this thread's connection

    def close(self) -> None:
        for _ in self.threads:
            self.inbox.put(None)
        for thread in self.threads:
            thread.join()


class Progress:
    """What of an upload is answered, recorded on the job row by its lease holder."""

    def __init__(self, job: BulkJob, lease: Lease) -> None:
        self.lease = lease
        self.watermark = job.watermark
        self.answered = set(job.answered or [])

    def done(self, row: int) -> bool:
        return row < self.watermark or row in self.answered

    def record(self, answer: Answer) -> None:
        self.answered.add(answer.row)
        while self.watermark in self.answered:
            self.answered.discard(self.watermark)
            self.watermark += 1
        updates = {
            "processed": F("processed") + 1,
            "succeeded" if answer.ok else "failed": F("succeeded" if answer.ok else "failed") + 1,
            "watermark": self.watermark,
            "answered": sorted(self.answered),
        }
        with transaction.atomic() if not answer.ok else contextlib.nullcontext():
            # While it runs: a cancel is seen here, before the next row is handed out.
            written = self.lease.mine().filter(status=JobStatus.RUNNING).update(**updates)
            if not written:
                # Cancelled: what was in flight is still counted, and no row is sent after.
                written = self.lease.mine().update(**updates)
                self.lease.stop("cancelled")
            if written and not answer.ok:
                RowFailure.objects.create(
                    job_id=self.lease.job_id, row=answer.row, status_code=answer.status_code,
                    message=clean_text(answer.message)[:500],
                )  # fmt: skip
        if not written:
            raise Stop()  # another runner holds the job now
        metrics.BULK_ROWS.labels("upload", "succeeded" if answer.ok else "failed").inc()


def run_upload(job: BulkJob, lease: Lease) -> bool:
    """Send the rows not answered yet; True when every row is answered."""
    connection = connection_of(job.datasource)
    progress = Progress(job, lease)
    with open_file(job.file_name) as raw:
        records = csv_rows(raw)
        header = check_header(next(records))
        senders = Senders(
            job.concurrency, RowSender(job, connection, header, Pacer(lease.stopping))
        )
        try:
            return _send_all(job, lease, progress, senders, records)
        finally:
            lease.stop("done")  # wakes senders waiting out a pause or a backoff
            senders.close()


def _send_all(job: BulkJob, lease: Lease, progress: Progress, senders: Senders,
              records: Iterator[list[str]]) -> bool:  # fmt: skip
    numbered = enumerate(records, start=1)
    upcoming = next(numbered, None)
    in_flight = sent = 0
    failure: JobFailure | None = None
    while True:
        while upcoming is not None and in_flight < job.concurrency and failure is None:
            if lease.stopping.is_set() or (sent and lease.slice_over()):
                break
            if upcoming[0] >= progress.watermark + WINDOW:
                break  # a row ahead is slow: the others wait for it (see WINDOW)
            if not progress.done(upcoming[0]):
                senders.inbox.put(upcoming)
                in_flight += 1
                sent += 1
            upcoming = next(numbered, None)
        if not in_flight:
            break
        answer = senders.answers.get()
        in_flight -= 1
        if isinstance(answer, JobFailure):
            failure = failure or answer
            lease.stop("failed")  # no more rows; those in flight are recorded as they end
        elif isinstance(answer, BaseException):
            raise answer
        elif isinstance(answer, Answer):
            progress.record(answer)
    if failure is not None:
        raise failure
    if lease.stopping.is_set():
        raise Stop()
    return upcoming is None
