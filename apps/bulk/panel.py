"""The "Bulk jobs" part of a data source's page: the latest jobs with their progress, and for
owners and admins the upload and query forms (which post to the bulk pages)."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from django.template.loader import render_to_string

from apps.bulk.forms import QueryForm, UploadForm
from apps.bulk.models import BulkJob
from apps.bulk.progress import job_progress
from apps.bulk.selectors import jobs_of_datasource
from apps.datasources.models import DataSource

PANEL_JOBS = 5


def with_progress(jobs: Any) -> list[tuple[BulkJob, dict[str, Any]]]:
    return [(job, job_progress(job)) for job in jobs]


def bulk_panel(request: HttpRequest, datasource: DataSource) -> str:
    membership = getattr(request, "membership", None)
    can_write = bool(membership and membership.can_write)
    jobs = jobs_of_datasource(tenant=datasource.tenant_id, datasource_id=datasource.pk)
    latest = list(jobs.defer("answered", "state")[:PANEL_JOBS])
    return render_to_string(
        "bulk/_panel.html",
        {
            "object": datasource,
            "can_write": can_write,
            "jobs": with_progress(latest),
            "jobs_count": len(latest) if len(latest) < PANEL_JOBS else jobs.count(),
            "upload_form": UploadForm() if can_write else None,
            "query_form": QueryForm() if can_write else None,
        },
        request=request,
    )
