"""The bulk pages under ``/t/<tenant>/`` (the API's routes are in config.api_urls)."""

from django.urls import path

from apps.bulk import pages

JOB = "datasources/<uuid:pk>/bulk/<uuid:job_id>/"

urlpatterns = [
    path("datasources/<uuid:pk>/bulk/", pages.BulkJobsView.as_view(), name="datasource-bulk-jobs"),
    path(
        "datasources/<uuid:pk>/bulk/upload/",
        pages.BulkUploadPageView.as_view(),
        name="datasource-bulk-upload-page",
    ),
    path(
        "datasources/<uuid:pk>/bulk/query/",
        pages.BulkQueryPageView.as_view(),
        name="datasource-bulk-query-page",
    ),
    path(JOB, pages.BulkJobView.as_view(), name="datasource-bulk-job"),
    path(f"{JOB}status/", pages.BulkJobStatusView.as_view(), name="datasource-bulk-job-status"),
    path(f"{JOB}details/", pages.BulkJobDetailsView.as_view(), name="datasource-bulk-job-details"),
    path(f"{JOB}cancel/", pages.BulkJobCancelView.as_view(), name="datasource-bulk-job-cancel"),
    path(f"{JOB}errors.csv", pages.BulkJobErrorsView.as_view(), name="datasource-bulk-job-errors"),
    path(f"{JOB}result.csv", pages.BulkJobResultView.as_view(), name="datasource-bulk-job-result"),
]
