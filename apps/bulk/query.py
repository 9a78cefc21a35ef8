"""A query job's run: every page of a list read in turn, its records written as CSV rows into
the job's result, part by part, each part recorded with the page to read next so that a resumed
job reads on from there."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit, urlunsplit

from django.conf import settings
from django.db.models import F
from requests.utils import parse_header_links

from apps.bulk.files import CsvText, delete_file, save_part
from apps.bulk.models import BulkJob, RowFailure
from apps.bulk.runner import JobFailure, Lease, Stop, clean_text
from apps.bulk.upload import (
    ATTEMPTS,
    JOB_FAILURES,
    RATE_LIMIT_WAITS,
    Pacer,
    answer_message,
    rate_limit_wait,
)
from apps.core import metrics
from apps.datasources.connections import TokenStateStore, connection_of
from apps.items.rendering import text_of
from apps.outbound.client import OutboundResponse
from apps.outbound.connection import Connection
from apps.outbound.errors import (
    OutboundError,
    ResponseTooLarge,
    UpstreamBusy,
    UpstreamTimeout,
    UpstreamUnreachable,
)
from apps.outbound.paths import get_path
from apps.outbound.redaction import Masker
from apps.outbound.service import connection_request

# A page is parsed whole: 8 MB of JSON is about 80 MB of Python objects at worst.
PAGE_MAX_BYTES = 8 * 1024 * 1024
# However the API paginates, a job reads no more pages than this.
MAX_PAGES = 100_000
PART_BYTES = 1024 * 1024  # a part is stored once this much is written (and at the end)
DEFAULT_PARAMS = {"offset": "offset", "page": "page", "cursor": "cursor"}


def flattened(value: Any, prefix: str = "") -> dict[str, Any]:
    """``{"a": {"b": 1}, "c": [1]}`` → ``{"a.b": 1, "c": [1]}`` (lists stay whole)."""
    if not isinstance(value, dict) or (prefix and not value):
        return {prefix: value}
    found: dict[str, Any] = {}
    for key, item in value.items():
        found.update(flattened(item, f"{prefix}.{key}" if prefix else str(key)))
    return found


def columns_of(record: Any, fields: list[str]) -> list[str]:
    if fields:
        return list(fields)
    if isinstance(record, dict):
        return list(flattened(record)) or ["value"]
    return ["value"]


def row_of(record: Any, columns: list[str]) -> list[str]:
    if not isinstance(record, dict):
        return [text_of(record) if column == "value" else "" for column in columns]
    return [text_of(get_path(record, column)) for column in columns]


def inside(base_url: str, url: str) -> bool:
    """Whether ``url`` is under ``base_url`` (same scheme, host and port, path below it)."""
    base, target = urlsplit(base_url.rstrip("/")), urlsplit(url)
    if (target.scheme, target.hostname, target.port) != (base.scheme, base.hostname, base.port):
        return False
    return target.path == base.path or target.path.startswith(base.path + "/")


def without_credentials(url: str, sensitive: set[str]) -> str:
    """``url`` without the query parameters that carry a credential (an API that repeats the
    query it was sent in its links repeats an api_key too): the job keeps the URL, and the
    credentials are added again when it is sent."""
    parts = urlsplit(url)
    pairs = parse_qsl(parts.query, keep_blank_values=True)
    kept = [(name, value) for name, value in pairs if not value or value not in sensitive]
    if len(kept) == len(pairs):
        return url
    return urlunsplit(parts._replace(query=urlencode(kept)))


class PageReader:
    """Reads the pages of one query job, as its pagination style says."""

    def __init__(self, job: BulkJob, connection: Connection, pacer: Pacer) -> None:
        self.job = job
        self.connection = connection
        self.store = TokenStateStore(job.datasource_id)
        self.pacer = pacer
        spec = job.spec or {}
        self.pagination: Mapping[str, Any] = spec.get("pagination") or {"style": "none"}
        self.style = self.pagination.get("style") or "none"
        self.results_path = spec.get("results_path") or ""
        backoff = list(_backoff())
        self.backoff = backoff + [backoff[-1]] * ATTEMPTS

    def first_state(self) -> dict[str, Any]:
        start = self.pagination.get("start")
        if self.style == "page":
            return {"page": 1 if start is None else int(start), "pages": 0}
        if self.style == "offset":
            return {"offset": 0 if start is None else int(start), "pages": 0}
        return {"pages": 0}

    def _size_params(self) -> list[tuple[str, str]]:
        size_param, size = self.pagination.get("size_param"), self.pagination.get("size")
        return [(size_param, str(size))] if size_param and size else []

    def request_of(self, state: Mapping[str, Any]) -> dict[str, Any]:
        param = self.pagination.get("param") or DEFAULT_PARAMS.get(self.style, "")
        if self.style == "link" and state.get("url"):
            return {"url": state["url"]}
        params = self._size_params()
        if self.style == "offset":
            params = [(param, str(state["offset"])), *params]
        elif self.style == "page":
            params = [(param, str(state["page"])), *params]
        elif self.style == "cursor" and state.get("cursor") is not None:
            params = [(param, str(state["cursor"])), *params]
        return {"path": self.job.path, "params": params}

    def fetch(self, state: Mapping[str, Any]) -> OutboundResponse:
        """One page, with the job's retries; JobFailure when it cannot be read."""
        page = state.get("pages", 0) + 1
        attempts = waits = 0
        while True:
            if not self.pacer.ready():
                raise Stop()
            attempts += 1
            try:
                response = connection_request(self.connection, self.store, method="GET",
                                              max_bytes=PAGE_MAX_BYTES, **self.request_of(state))  # fmt: skip
            except JOB_FAILURES as exc:
                raise JobFailure(f"Page {page}: {exc.message}") from None
            except UpstreamBusy:
                attempts -= 1
                waits += 1
                if waits > RATE_LIMIT_WAITS:
                    raise JobFailure(f"Page {page}: {UpstreamBusy.message}") from None
                self.pacer.pause(1.0)
                continue
            except (UpstreamTimeout, UpstreamUnreachable) as exc:
                if attempts < ATTEMPTS:
                    if not self.pacer.sleep(self.backoff[attempts - 1]):
                        raise Stop() from None
                    continue
                raise JobFailure(f"Page {page}: {exc.message} ({attempts} attempts)") from None
            except ResponseTooLarge:
                raise JobFailure(
                    f"Page {page} is larger than {PAGE_MAX_BYTES // (1024 * 1024)} MB: ask for "
                    "smaller pages (pagination size)."
                ) from None
            except OutboundError as exc:
                raise JobFailure(f"Page {page}: {exc.message}") from None
            status = response.status_code
            if 200 <= status < 300:
                return response
            if status == 429 and waits < RATE_LIMIT_WAITS:
                waits += 1
                attempts -= 1
                self.pacer.pause(rate_limit_wait(response.headers.get("Retry-After")))
                continue
            if status >= 500 and attempts < ATTEMPTS:
                if not self.pacer.sleep(self.backoff[attempts - 1]):
                    raise Stop()
                continue
            raise PageRefused(page, status, f"Page {page}: {answer_message(response)}")

    def records_of(self, response: OutboundResponse, page: int) -> tuple[Any, list[Any]]:
        try:
            document = response.json()
        except Exception:
            raise JobFailure(f"Page {page} is not JSON.") from None
        records = get_path(document, self.results_path)
        if not isinstance(records, list):
            where = f"at “{self.results_path}”" if self.results_path else "at the top"
            raise JobFailure(f"Page {page} has no list {where}: check the results path.")
        return document, records

    def next_state(self, state: Mapping[str, Any], response: OutboundResponse, document: Any,
                   records: list[Any]) -> dict[str, Any] | None:  # fmt: skip
        """Where the next page is, or None after the last one."""
        pages = state.get("pages", 0) + 1
        size = self.pagination.get("size")
        if self.style == "none":
            return None
        if pages >= MAX_PAGES:
            raise JobFailure(f"The job read {MAX_PAGES:,} pages, the most one job reads.")
        masker = Masker(response.sensitive)
        if self.style in ("offset", "page"):
            if not records or (size and len(records) < int(size)):
                return None
            if self.style == "offset":
                return {"offset": state["offset"] + len(records), "pages": pages}
            return {"page": state["page"] + 1, "pages": pages}
        if self.style == "cursor":
            cursor = get_path(document, self.pagination.get("cursor_path") or "")
            if cursor in (None, "", False) or not records:
                return None
            cursor = text_of(cursor)
            if cursor == str(state.get("cursor")):
                raise JobFailure(
                    f"Page {pages} gave the same cursor as the page before: stopping rather than "
                    "reading one page forever."
                )
            if "\x00" in cursor or masker.found_in(cursor):
                raise JobFailure(f"Page {pages}'s cursor cannot be kept (it holds a NUL "
                                 "character or the data source's credentials).")  # fmt: skip
            return {"cursor": cursor, "pages": pages}
        # link
        if not records:
            return None
        for link in parse_header_links(response.headers.get("Link", "")):
            if "next" in (link.get("rel") or "").split():
                url = urljoin(response.url, link.get("url", ""))
                if not inside(self.connection.base_url, url):
                    raise JobFailure(
                        f"Page {pages}'s next link leaves the data source's base URL; its "
                        "credentials are only sent there."
                    )
                url = without_credentials(url, response.sensitive)
                if url == state.get("url") or url == response.url:
                    raise JobFailure(f"Page {pages}'s next link points at the page itself.")
                if masker.found_in(url):
                    raise JobFailure(f"Page {pages}'s next link carries the data source's "
                                     "credentials; Plugboard does not keep them.")  # fmt: skip
                return {"url": url, "pages": pages}
        return None


class PageRefused(JobFailure):
    def __init__(self, page: int, status_code: int, message: str) -> None:
        super().__init__(message)
        self.page = page
        self.status_code = status_code


def _backoff() -> list[float]:
    return [float(s) for s in settings.BULK_RETRY_BACKOFF] or [1.0]


class Result:
    """The job's CSV result: rows buffered, stored as a part with where the next page is."""

    def __init__(self, job: BulkJob, lease: Lease) -> None:
        self.job = job
        self.lease = lease
        self.columns: list[str] = list(job.columns or [])
        self.parts: list[str] = list(job.result_parts or [])
        self.written = job.processed
        self.buffered = 0
        self.text = CsvText()

    def add(self, records: list[Any], room: int, fields: list[str]) -> None:
        if not self.columns and records:
            self.columns = [clean_text(name) for name in columns_of(records[0], fields)]
            self.text.write(self.columns)
        elif not self.columns and fields:
            self.columns = list(fields)
            self.text.write(self.columns)
        for record in records[:room]:
            self.text.write(row_of(record, self.columns))
            self.buffered += 1

    def count(self) -> int:
        return self.written + self.buffered

    def store(self, state: dict[str, Any]) -> None:
        """Store what is buffered and record where the next page is (only this runner)."""
        text = self.text.take()
        parts = list(self.parts)
        if text:
            parts.append(save_part(f"results/{self.job.pk}/part-{len(parts) + 1:05d}.csv", text))
        written = self.lease.mine().update(
            processed=self.count(), succeeded=self.count(), state=state,
            result_parts=parts, columns=self.columns,
        )  # fmt: skip
        if not written:  # deleted or taken over meanwhile: the part is nobody's
            if text:
                delete_file(parts[-1])
            raise Stop()
        metrics.BULK_ROWS.labels("query", "written").inc(self.buffered)
        self.parts, self.written, self.buffered = parts, self.count(), 0


def run_query(job: BulkJob, lease: Lease) -> bool:
    """Read the pages not read yet; True after the last one."""
    spec = job.spec or {}
    reader = PageReader(job, connection_of(job.datasource), Pacer(lease.stopping))
    result = Result(job, lease)
    state = dict(job.state) if job.state else reader.first_state()
    if state.get("done"):
        return True
    max_records = int(spec.get("max_records") or 1_000_000)
    fields = list(spec.get("fields") or [])
    try:
        while True:
            if lease.stopping.is_set():
                raise Stop()
            response = reader.fetch(state)
            page = state.get("pages", 0) + 1
            document, records = reader.records_of(response, page)
            masker = Masker(response.sensitive)
            if masker:  # an upstream may echo the credentials: never into the result
                records = masker.document(records)
            result.add(records, max_records - result.count(), fields)
            following = reader.next_state(state, response, document, records)
            if following is None or result.count() >= max_records:
                result.store({"done": True, "pages": page})
                return True
            state = following
            if result.text.size() >= PART_BYTES or lease.slice_over():
                result.store(state)
            if lease.slice_over():
                return False
    except PageRefused as exc:
        _, created = RowFailure.objects.get_or_create(
            job_id=job.pk, row=exc.page,
            defaults={"status_code": exc.status_code, "message": clean_text(exc.message)[:500]},
        )  # fmt: skip
        if created:
            lease.mine().update(failed=F("failed") + 1)
        raise
