"""The bulk pages under ``/t/<tenant>/datasources/<id>/bulk/``: a data source's jobs, the upload
and query forms (the same inputs and services as the API), a job's page with its live progress,
failures and downloads, and cancelling with a confirmation. Owners and admins start and cancel;
viewers read. Every query goes through the tenant-scoped base."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import UploadedFile
from django.core.paginator import Paginator
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.utils.decorators import method_decorator
from django.views import View
from django.views.decorators.cache import never_cache
from rest_framework.exceptions import ValidationError as DRFValidationError

from apps.bulk.downloads import errors_download, result_download
from apps.bulk.files import BadFile, check_csv
from apps.bulk.forms import STYLE_CHOICES, QueryForm, UploadForm
from apps.bulk.inputs import query_input, upload_input
from apps.bulk.models import BulkJob, JobKind, JobStatus
from apps.bulk.panel import with_progress
from apps.bulk.progress import job_progress
from apps.bulk.representation import job_status
from apps.bulk.selectors import failures_first, jobs_of_datasource
from apps.bulk.services import (
    FileTooLarge,
    JobFinished,
    bulk_cancel,
    bulk_query_create,
    bulk_upload_create,
)
from apps.core.errors import ApplicationError
from apps.datasources.models import DataSource
from apps.tenants.scoping import TenantRequiredMixin, TenantScopedQuerysetMixin

PAGE_SIZE = 25
FAILURES_SHOWN = 100


def jobs_url(datasource: DataSource) -> str:
    return reverse("datasource-bulk-jobs", args=[datasource.tenant.slug, datasource.pk])


def job_url(job: BulkJob, name: str = "datasource-bulk-job") -> str:
    return reverse(name, args=[job.datasource.tenant.slug, job.datasource_id, job.pk])


def _plural(n: int, word: str) -> str:
    return f"{n:,} {word}" if n == 1 else f"{n:,} {word}s"


class DataSourcePage(TenantRequiredMixin, TenantScopedQuerysetMixin, View):
    model = DataSource

    def datasource(self, pk: str) -> DataSource:
        return get_object_or_404(self.get_queryset().select_related("tenant"), pk=pk)


class JobPage(TenantRequiredMixin, TenantScopedQuerysetMixin, View):
    model = BulkJob

    def scope_queryset(self, queryset: QuerySet) -> QuerySet:
        return queryset.select_related("datasource", "datasource__tenant")

    def job(self, pk: str, job_id: str) -> BulkJob:
        return get_object_or_404(self.get_queryset(), pk=job_id, datasource_id=pk)


# --- a data source's jobs --------------------------------------------------------------------


class BulkJobsView(DataSourcePage):
    """A data source's bulk jobs, newest first, 25 a page."""

    def get(self, request: HttpRequest, tenant: str, pk: str) -> HttpResponse:
        ds = self.datasource(pk)
        jobs = jobs_of_datasource(tenant=request.tenant, datasource_id=ds.pk)
        page = Paginator(jobs.defer("answered", "state"), PAGE_SIZE).get_page(
            request.GET.get("page")
        )
        return render(
            request,
            "bulk/jobs.html",
            {
                "title": f"Bulk jobs of {ds.name}",
                "object": ds,
                "page_obj": page,
                "paginator": page.paginator,
                "is_paginated": page.has_other_pages(),
                "jobs": with_progress(page.object_list),
            },
        )


# --- starting a job ----------------------------------------------------------------------------


def _render_start(
    request: HttpRequest, ds: DataSource, kind: str, form: Any, status: int = 200
) -> HttpResponse:
    title = "Upload rows" if kind == JobKind.UPLOAD else "Export records (query)"
    return render(
        request,
        "bulk/start.html",
        {"title": f"{title}: {ds.name}", "heading": title, "object": ds, "kind": kind,
         "form": form, "file_again": kind == JobKind.UPLOAD and bool(form.errors)
         and "file" not in form.errors and bool(request.FILES)},
        status=status,
    )  # fmt: skip


def _upload_too_large(request: HttpRequest) -> bool:
    """The upload handler stopped reading (no length, or a wrong one), or the announced length
    is over the limit."""
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    if length > settings.BULK_MAX_UPLOAD_BYTES + 64 * 1024:
        return True
    return any(getattr(handler, "exceeded", False) for handler in request.upload_handlers)


def _file_problem(upload: UploadedFile) -> str | None:
    """What is wrong with an uploaded file, checked as the service checks it."""
    if upload.size is not None and upload.size > settings.BULK_MAX_UPLOAD_BYTES:
        return FileTooLarge().message
    try:
        check_csv(upload)
    except BadFile as exc:
        return exc.message
    finally:
        upload.seek(0)
    return None


class BulkUploadPageView(DataSourcePage):
    """The upload form: each row of a CSV file sent to the data source. GET shows the form
    alone (the data source's page shows it too); POST starts the job and opens its page, or
    shows the form again with each error under its field."""

    write_required = True

    def get(self, request: HttpRequest, tenant: str, pk: str) -> HttpResponse:
        return _render_start(request, self.datasource(pk), JobKind.UPLOAD, UploadForm())

    def post(self, request: HttpRequest, tenant: str, pk: str) -> HttpResponse:
        ds = self.datasource(pk)
        form = UploadForm(request.POST, request.FILES)
        form.is_valid()
        if _upload_too_large(request):
            form.errors.pop("file", None)
            form.add_error("file", FileTooLarge().message)
        options = None
        try:
            options = upload_input(form.options())
        except DRFValidationError as exc:
            form.add_input_errors(exc)
        upload = form.cleaned_data.get("file") if "file" not in form.errors else None
        if upload is not None and (form.errors or options is None):
            # Something else is wrong: say what is wrong with the file too, at once.
            problem = _file_problem(upload)
            if problem:
                form.add_error("file", problem)
        elif upload is not None and options is not None:
            try:
                job = bulk_upload_create(datasource=ds, actor=request.user, upload=upload,
                                         **options)  # fmt: skip
            except (ValidationError, DRFValidationError) as exc:
                form.add_input_errors(exc)
            except (BadFile, FileTooLarge) as exc:
                form.add_error("file", exc.message)
            except ApplicationError as exc:
                form.add_error(None, exc.message)
            else:
                messages.success(
                    request,
                    f"Upload started: {_plural(job.total or 0, 'row')} to send as "
                    f"{job.method} {job.path}. This page follows its progress.",
                )
                return HttpResponseRedirect(job_url(job))
        return _render_start(request, ds, JobKind.UPLOAD, form, status=400)


class BulkQueryPageView(DataSourcePage):
    """The query form: every page of a list read into a CSV file."""

    write_required = True

    def get(self, request: HttpRequest, tenant: str, pk: str) -> HttpResponse:
        return _render_start(request, self.datasource(pk), JobKind.QUERY, QueryForm())

    def post(self, request: HttpRequest, tenant: str, pk: str) -> HttpResponse:
        ds = self.datasource(pk)
        form = QueryForm(request.POST)
        form.is_valid()
        spec = None
        try:
            spec = query_input(form.to_data())
        except DRFValidationError as exc:
            form.add_input_errors(exc)
        if spec is not None and not form.errors:
            try:
                job = bulk_query_create(datasource=ds, actor=request.user, spec=spec)
            except (ValidationError, DRFValidationError) as exc:
                form.add_input_errors(exc)
            except ApplicationError as exc:
                form.add_error(None, exc.message)
            else:
                messages.success(
                    request,
                    f"Query started: every page of GET {job.path} is read into a CSV file. "
                    "This page follows its progress.",
                )
                return HttpResponseRedirect(job_url(job))
        return _render_start(request, ds, JobKind.QUERY, form, status=400)


# --- a job -------------------------------------------------------------------------------------


def result_state(job: BulkJob) -> str | None:
    """For a query: ``ready``, ``expired`` (deleted after BULK_RESULT_DAYS), ``pending`` (still
    running) or ``none`` (it did not complete)."""
    if job.kind != JobKind.QUERY:
        return None
    if job.status == JobStatus.COMPLETE:
        return "expired" if job.files_deleted_at else "ready"
    return "pending" if not job.finished else "none"


def result_words(job: BulkJob) -> str:
    """Why a query's result cannot be downloaded (empty when it can, or for an upload)."""
    state = result_state(job)
    if state == "pending":
        return "The query is still running: its result can be downloaded once it is complete."
    if state == "none":
        return (f"The query did not complete ({job.get_status_display().lower()}), so there is "
                "no result to download. Run it again.")  # fmt: skip
    if state == "expired":
        return (f"The result was deleted: results are kept {settings.BULK_RESULT_DAYS} days "
                "after the job ends. Run the query again for a fresh copy.")  # fmt: skip
    return ""


def _pagination_words(pagination: dict[str, Any]) -> list[tuple[str, str]]:
    labels = dict(STYLE_CHOICES)
    style = pagination.get("style") or "none"
    shown = [("Pagination", labels.get(style, style))]
    for name, label in (("param", "Page parameter"), ("size_param", "Page size parameter"),
                        ("size", "Page size"), ("start", "First page or offset"),
                        ("cursor_path", "Cursor path")):  # fmt: skip
        value = pagination.get(name)
        if value not in (None, ""):
            shown.append((label, str(value)))
    return shown


def job_context(request: HttpRequest, job: BulkJob) -> dict[str, Any]:
    # Not only when ``failed`` counts some: a query's failed page ends the job uncounted.
    failures = failures_first(job, FAILURES_SHOWN)
    spec = job.spec or {}
    expires = (job.finished_at + timedelta(days=settings.BULK_RESULT_DAYS)
               if job.finished_at else None)  # fmt: skip
    membership = getattr(request, "membership", None)
    return {
        "object": job.datasource,
        "job": job,
        "progress": job_progress(job),
        "failures": failures,
        "failures_count": max(job.failed, len(failures)),
        "failures_more": job.failed > len(failures) and len(failures) >= FAILURES_SHOWN,
        "unit": "row" if job.kind == JobKind.UPLOAD else "page",
        "result": result_state(job),
        "result_words": result_words(job),
        "result_expires": expires,
        "result_days": settings.BULK_RESULT_DAYS,
        "pagination": _pagination_words(spec.get("pagination") or {}),
        "spec": spec,
        "can_cancel": bool(membership and membership.can_write) and not job.finished,
    }


def _job_title(job: BulkJob) -> str:
    return f"{job.get_kind_display()} job {str(job.pk)[:8]}"


class BulkJobView(JobPage):
    """A job: what it does, who started it, its live progress, failures and downloads."""

    def get(self, request: HttpRequest, tenant: str, pk: str, job_id: str) -> HttpResponse:
        job = self.job(pk, job_id)
        return render(request, "bulk/job.html", {"title": _job_title(job),
                                                  **job_context(request, job)})  # fmt: skip


@method_decorator(never_cache, name="dispatch")
class BulkJobDetailsView(JobPage):
    """The job page's details, failures and result (HTML), fetched again by its script when
    the job starts, ends or fails rows."""

    def get(self, request: HttpRequest, tenant: str, pk: str, job_id: str) -> HttpResponse:
        job = self.job(pk, job_id)
        return render(request, "bulk/_job_details.html", job_context(request, job))


@method_decorator(never_cache, name="dispatch")
class BulkJobStatusView(JobPage):
    """The job's status as the API has it (``job_status``), and its progress in figures and
    words: what the job page's script polls."""

    def get(self, request: HttpRequest, tenant: str, pk: str, job_id: str) -> JsonResponse:
        job = self.job(pk, job_id)
        return JsonResponse({**job_status(job), "progress": job_progress(job)})


class BulkJobCancelView(JobPage):
    """GET asks for confirmation; POST cancels (rows not yet sent are never sent)."""

    write_required = True

    def get(self, request: HttpRequest, tenant: str, pk: str, job_id: str) -> HttpResponse:
        job = self.job(pk, job_id)
        if job.finished:
            messages.info(request, f"This job has ended already ({job.get_status_display()}); "
                                   "there is nothing to cancel.")  # fmt: skip
            return HttpResponseRedirect(job_url(job))
        return render(request, "bulk/cancel.html", {
            "title": f"Cancel {_job_title(job).lower()}?", "object": job.datasource, "job": job,
            "progress": job_progress(job),
        })  # fmt: skip

    def post(self, request: HttpRequest, tenant: str, pk: str, job_id: str) -> HttpResponse:
        job = self.job(pk, job_id)
        try:
            job = bulk_cancel(job=job, actor=request.user)
        except JobFinished:
            job.refresh_from_db()
            messages.info(request, f"This job had ended already ({job.get_status_display()}); "
                                   "there was nothing to cancel.")  # fmt: skip
        else:
            unit = "row" if job.kind == JobKind.UPLOAD else "record"
            messages.success(
                request,
                f"Job cancelled after {_plural(job.processed, unit)}: nothing more is sent. "
                "Requests already on their way finish and are counted.",
            )
        return HttpResponseRedirect(job_url(job))


class BulkJobErrorsView(JobPage):
    """``errors.csv``: every failure of the job, as the API streams it."""

    def get(self, request: HttpRequest, tenant: str, pk: str, job_id: str) -> HttpResponse:
        return errors_download(self.job(pk, job_id))


class BulkJobResultView(JobPage):
    """A complete query's result. Before it is complete (409) or once it was deleted (410) the
    page says why in words, as the job page does."""

    def get(self, request: HttpRequest, tenant: str, pk: str, job_id: str) -> HttpResponse:
        job = self.job(pk, job_id)
        try:
            return result_download(job)
        except ApplicationError as exc:
            return render(request, "bulk/unavailable.html", {
                "title": "No result to download", "object": job.datasource, "job": job,
                "message": result_words(job) or exc.message,
            }, status=exc.status)  # fmt: skip
