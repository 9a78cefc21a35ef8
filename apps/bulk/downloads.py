"""A bulk job's CSV downloads (``errors.csv``, ``result.csv``), streamed alike by the API and
the pages."""

from __future__ import annotations

from collections.abc import Iterable

from django.http import StreamingHttpResponse

from apps.bulk.files import stream_parts
from apps.bulk.models import BulkJob
from apps.bulk.selectors import failures_csv, result_parts


def csv_response(lines: Iterable[str | bytes], filename: str) -> StreamingHttpResponse:
    response = StreamingHttpResponse(lines, content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    response["X-Content-Type-Options"] = "nosniff"
    return response


def _stem(job: BulkJob) -> str:
    return f"{job.datasource.slug}-{str(job.pk)[:8]}"


def errors_download(job: BulkJob) -> StreamingHttpResponse:
    """``errors.csv``: every failed row (a query's: page) with its status code and message."""
    return csv_response(failures_csv(job), f"{_stem(job)}-errors.csv")


def result_download(job: BulkJob) -> StreamingHttpResponse:
    """A query's result; raises (409, 410, 404) when there is none to give (see
    ``selectors.result_parts``)."""
    return csv_response(stream_parts(result_parts(job)), f"{_stem(job)}.csv")
