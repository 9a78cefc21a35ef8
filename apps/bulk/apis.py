"""``/api/v1/datasources/{id}/bulk/`` (upload, list), ``…/bulk/query/``, and
``/api/v1/bulk/{id}/status``, ``errors.csv``, ``result.csv``, ``cancel``."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.http import StreamingHttpResponse
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response

from apps.bulk.downloads import errors_download, result_download
from apps.bulk.files import BadFile
from apps.bulk.inputs import (
    STYLES,
    UPLOAD_METHODS,
    QuerySerializer,
    query_input,
    upload_input,
)
from apps.bulk.models import JobKind, JobStatus
from apps.bulk.representation import job_status
from apps.bulk.selectors import job_get, jobs_of_datasource
from apps.bulk.services import FileTooLarge, bulk_cancel, bulk_query_create, bulk_upload_create
from apps.core.codes import ErrorCode
from apps.core.errors import ApplicationError, NotFound
from apps.core.pagination import PAGE_PARAMETERS, PageNumberPagination, paginated
from apps.core.schema import error_responses
from apps.datasources.models import DataSource
from apps.tenants.api_scoping import TenantScopedAPIView


class JobStatusSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    kind = serializers.ChoiceField(choices=JobKind.choices)
    status = serializers.ChoiceField(choices=JobStatus.choices)
    total = serializers.IntegerField(allow_null=True, help_text="Null for a query until its "
                                     "last page.")  # fmt: skip
    processed = serializers.IntegerField()
    succeeded = serializers.IntegerField()
    failed = serializers.IntegerField()
    created_at = serializers.DateTimeField()
    started_at = serializers.DateTimeField(allow_null=True)
    finished_at = serializers.DateTimeField(allow_null=True)
    datasource = serializers.UUIDField()
    method = serializers.CharField()
    path = serializers.CharField()
    message = serializers.CharField(allow_null=True, help_text="Why it failed, or who "
                                    "cancelled it.")  # fmt: skip


class UploadRequestSerializer(serializers.Serializer):
    file = serializers.FileField(help_text="UTF-8 CSV (a BOM is fine), header row first.")


class NoFile(BadFile):
    message = "Send one CSV file as the multipart form field “file”."


class LengthRequired(ApplicationError):
    code = ErrorCode.LENGTH_REQUIRED
    status = 411
    message = "Send the file with a Content-Length (a multipart body), not chunked."


class CsvDownload(TenantScopedAPIView):
    """A CSV answer: whatever the client accepts, errors are the contract's JSON."""

    def perform_content_negotiation(self, request: Request, force: bool = False) -> Any:
        return JSONRenderer(), JSONRenderer.media_type


def _datasource(request: Request, pk: str) -> DataSource:
    datasource = DataSource.objects.filter(tenant=request.tenant, pk=pk).first()
    if datasource is None:
        raise NotFound("No such data source.")
    return datasource


def _job(request: Request, pk: str) -> Any:
    job = job_get(tenant=request.tenant, job_id=pk)
    if job is None:
        raise NotFound("No such bulk job.")
    return job


UPLOAD_DESCRIPTION = (
    "Send each row of a CSV file (multipart field `file`; UTF-8, optional BOM, header row first, "
    "at most 100 MB) as a JSON object (header names as keys) to `base_url + path`, with "
    "`Idempotency-Key: <job id>-<row number>`. A 429 waits for its Retry-After; a timeout, "
    "connection failure or 5xx is retried with backoff (at most 3 attempts); any other non-2xx "
    "fails the row. An empty file, one that is not UTF-8, or one without a header row is "
    "refused with 400 and a sentence saying why."
)


class DataSourceBulkView(TenantScopedAPIView):
    """A data source's bulk jobs, newest first; POST starts an upload."""

    parser_classes = [MultiPartParser, FormParser]

    @extend_schema(summary="Bulk jobs of a data source, newest first", parameters=PAGE_PARAMETERS,
                   responses={200: paginated(JobStatusSerializer, "PaginatedBulkJobList")})  # fmt: skip
    def get(self, request: Request, pk: str) -> Response:
        datasource = _datasource(request, pk)
        paginator = PageNumberPagination()
        page = paginator.paginate_queryset(
            jobs_of_datasource(tenant=request.tenant, datasource_id=datasource.pk), request, self
        )
        return paginator.get_paginated_response([job_status(job) for job in page])

    @extend_schema(
        summary="Start a bulk upload (CSV rows in)",
        description=UPLOAD_DESCRIPTION,
        parameters=[
            OpenApiParameter(
                "path",
                str,
                required=True,
                description="Relative to the base URL, e.g. /contacts; "
                "{column} takes each row's value.",
            ),
            OpenApiParameter("method", str, enum=list(UPLOAD_METHODS), default="POST"),
        ],
        request={"multipart/form-data": UploadRequestSerializer},
        responses={201: JobStatusSerializer, **error_responses(411, 413)},
    )
    def post(self, request: Request, pk: str) -> Response:
        datasource = _datasource(request, pk)
        options = upload_input({key: request.query_params.get(key) for key in ("path", "method")
                                if request.query_params.get(key) is not None})  # fmt: skip
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        if length > settings.BULK_MAX_UPLOAD_BYTES + 64 * 1024:
            raise FileTooLarge()
        if not length and "chunked" in request.META.get("HTTP_TRANSFER_ENCODING", "").lower():
            raise LengthRequired()
        files = request.FILES.getlist("file")
        if any(getattr(h, "exceeded", False) for h in request._request.upload_handlers):
            raise FileTooLarge()
        if len(files) != 1:
            raise NoFile()
        upload = files[0]
        job = bulk_upload_create(datasource=datasource, actor=request.user, upload=upload,
                                 **options)  # fmt: skip
        return Response(job_status(job), status=status.HTTP_201_CREATED)


QUERY_EXAMPLE = {
    "path": "/search?jql=project=PB",
    "results_path": "issues",
    "pagination": {
        "style": "offset",
        "param": "startAt",
        "size_param": "maxResults",
        "size": 100,
    },
    "fields": ["key", "fields.summary"],
    "max_records": 1000000,
}


class BulkQueryView(TenantScopedAPIView):
    parser_classes = [JSONParser]

    @extend_schema(
        summary="Start a bulk query (records out, as CSV)",
        description="Walk every page of `path` (pagination styles: " + ", ".join(STYLES) + "), "
        "one CSV row per record, one column per dotted field; the result is streamed by "
        "`GET /bulk/{id}/result.csv` once the job is COMPLETE and kept 7 days.",
        request=QuerySerializer,
        responses={201: JobStatusSerializer},
        examples=[OpenApiExample("Jira issues", value=QUERY_EXAMPLE, request_only=True)],
    )
    def post(self, request: Request, pk: str) -> Response:
        datasource = _datasource(request, pk)
        job = bulk_query_create(datasource=datasource, actor=request.user,
                                spec=query_input(request.data))  # fmt: skip
        return Response(job_status(job), status=status.HTTP_201_CREATED)


class BulkStatusView(TenantScopedAPIView):
    @extend_schema(summary="A bulk job's status and counters", responses={200: JobStatusSerializer})
    def get(self, request: Request, pk: str) -> Response:
        return Response(job_status(_job(request, pk)))


class BulkCancelView(TenantScopedAPIView):
    @extend_schema(
        summary="Cancel a bulk job",
        description="Rows not yet sent are never sent; those in flight end and are recorded. "
        "409 `job_finished` when the job has ended.",
        request=None,
        responses={200: JobStatusSerializer, **error_responses(409)},
    )
    def post(self, request: Request, pk: str) -> Response:
        return Response(job_status(bulk_cancel(job=_job(request, pk), actor=request.user)))


class BulkErrorsView(CsvDownload):
    @extend_schema(summary="A bulk job's failed rows as CSV (row, status_code, message)",
                   responses={(200, "text/csv"): str})  # fmt: skip
    def get(self, request: Request, pk: str) -> StreamingHttpResponse:
        return errors_download(_job(request, pk))


class BulkResultView(CsvDownload):
    @extend_schema(
        summary="A query job's result as CSV",
        description="Streamed once the job is COMPLETE (409 `result_not_ready` before); results "
        "are kept 7 days (410 `result_expired` after).",
        responses={(200, "text/csv"): str, **error_responses(409, 410)},
    )
    def get(self, request: Request, pk: str) -> StreamingHttpResponse:
        return result_download(_job(request, pk))
