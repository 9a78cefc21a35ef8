"""A bulk job's files in the ``bulk`` storage: the uploaded CSV (checked as it is read, never
held whole in memory), and a query's result, written in parts as its pages arrive."""

from __future__ import annotations

import contextlib
import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO, Any

from django.conf import settings
from django.core.files.base import ContentFile, File
from django.core.files.storage import storages
from django.core.files.uploadhandler import FileUploadHandler, StopUpload

from apps.core.codes import ErrorCode
from apps.core.errors import ApplicationError

# A field longer than this is refused (the csv module's own limit is 128 kB).
FIELD_LIMIT = 1024 * 1024
csv.field_size_limit(FIELD_LIMIT)
_READ = 64 * 1024


class BadFile(ApplicationError):
    code = ErrorCode.INVALID_FILE
    status = 400
    message = "The file cannot be used."


class SizeLimitUploadHandler(FileUploadHandler):
    """Stops reading an upload, even one sent without a length, once it passes
    BULK_MAX_UPLOAD_BYTES (the first of FILE_UPLOAD_HANDLERS; bulk files are the only uploads)."""

    def __init__(self, request: Any = None) -> None:
        super().__init__(request)
        self.received = 0
        self.exceeded = False

    def receive_data_chunk(self, raw_data: bytes, start: int) -> bytes | None:
        self.received += len(raw_data)
        if self.received > settings.BULK_MAX_UPLOAD_BYTES:
            self.exceeded = True
            raise StopUpload(connection_reset=True)
        return raw_data

    def file_complete(self, file_size: int) -> None:
        return None


def storage() -> Any:
    return storages["bulk"]


@dataclass(frozen=True)
class CsvSummary:
    header: list[str]
    rows: int  # records after the header (blank lines are not rows)


def csv_rows(raw: IO[bytes]) -> Iterator[list[str]]:
    """The records of a CSV file, header first, blank lines skipped. Raises BadFile naming the
    problem (not UTF-8, malformed quoting, a field too long)."""
    text = io.TextIOWrapper(raw, encoding="utf-8-sig", errors="strict", newline="")
    reader = csv.reader(text, strict=True)
    try:
        for record in reader:
            if record and any(record):
                yield record
    except UnicodeDecodeError as exc:
        raise BadFile(
            "The file is not UTF-8 text: save it as “CSV UTF-8” and upload it again (the "
            f"first byte that is not UTF-8 is after line {reader.line_num:,}: {exc.reason}).",
            details={"line": reader.line_num + 1},
        ) from None
    except csv.Error as exc:
        raise BadFile(
            f"The file is not valid CSV at line {reader.line_num}: {exc}.",
            details={"line": reader.line_num},
        ) from None
    finally:
        with contextlib.suppress(ValueError):  # (the caller may have closed it already)
            text.detach()  # the file stays open: it belongs to the caller


def check_header(header: list[str]) -> list[str]:
    # (A second byte order mark, from a file saved twice, is not part of the first name.)
    names = [name.strip().lstrip("\ufeff").strip() for name in header]
    seen: set[str] = set()
    for position, name in enumerate(names, start=1):
        if not name:
            raise BadFile(
                f"Column {position} of the header row has no name: the first row must name "
                "every column (the names become the JSON keys of each row)."
            )
        if name in seen:
            raise BadFile(f"The header row names the column “{name[:100]}” twice.")
        seen.add(name)
    return names


def check_csv(raw: IO[bytes]) -> CsvSummary:
    """Read a whole uploaded file once: UTF-8, a header row, at least one row after it."""
    rows = csv_rows(raw)
    first = next(rows, None)
    if first is None:
        raise BadFile(
            "The file is empty: upload a CSV file whose first row names the columns and whose "
            "following rows are the records to send."
        )
    header = check_header(first)
    count = sum(1 for _ in rows)
    if not count:
        raise BadFile("The file has a header row but no rows after it: there is nothing to send.")
    return CsvSummary(header=header, rows=count)


def save_upload(name: str, upload: File) -> str:
    """Store the uploaded file under ``name``; the name it was stored under."""
    upload.seek(0)
    return storage().save(name, upload)


def open_file(name: str) -> IO[bytes]:
    return storage().open(name, "rb")


def delete_file(name: str) -> None:
    if name and storage().exists(name):
        storage().delete(name)


def save_part(name: str, text: str) -> str:
    """Write one part of a result (replacing what a dead worker may have left under its name)."""
    delete_file(name)
    return storage().save(name, ContentFile(text.encode("utf-8")))


def stream_parts(names: list[str], chunk: int = _READ) -> Iterator[bytes]:
    for name in names:
        with open_file(name) as handle:
            while block := handle.read(chunk):
                yield block


class CsvText:
    """CSV rows written to a string, to be stored as a part."""

    def __init__(self) -> None:
        self.buffer = io.StringIO()
        self.writer = csv.writer(self.buffer, lineterminator="\r\n")

    def write(self, row: list[str]) -> None:
        self.writer.writerow(row)

    def size(self) -> int:
        return self.buffer.tell()

    def take(self) -> str:
        text = self.buffer.getvalue()
        self.buffer.seek(0)
        self.buffer.truncate()
        return text


def csv_line(values: list[Any]) -> str:
    text = CsvText()
    text.write([str(v) for v in values])
    return text.take()
