"""The bulk API without running jobs: what an upload or a query must be, what a job reads like,
who may do what, and tenant isolation."""

import pytest
from rest_framework.test import APIClient

from apps.bulk.models import BulkJob, JobStatus
from apps.datasources.models import AuditEntry
from apps.tenants.services import api_key_create
from tests.bulk.conftest import csv_bytes, upload
from tests.factories import DataSourceFactory

pytestmark = pytest.mark.usefixtures("no_worker_queue")

ROWS = [["email", "name"], ["a@example.com", "Ann"], ["b@example.com", "Bob"]]


@pytest.fixture
def source(acme):
    return DataSourceFactory(tenant=acme.tenant)


def test_an_upload_makes_a_job_with_its_rows_counted(acme, source):
    response = upload(acme.api(), source, csv_bytes(ROWS, bom=True), "/contacts")
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["kind"] == "upload" and body["status"] == "CREATED"
    job = BulkJob.objects.get(pk=body["id"])
    assert (job.total, job.method, job.path, job.concurrency) == (2, "POST", "/contacts", 4)
    status = acme.api().get(f"/api/v1/bulk/{job.pk}/status").json()
    assert set(status) >= {"id", "kind", "status", "total", "processed", "succeeded", "failed",
                           "created_at", "started_at", "finished_at"}  # fmt: skip
    assert status["total"] == 2 and status["processed"] == 0 and status["started_at"] is None
    assert AuditEntry.objects.filter(datasource=source, action="bulk_started").exists()


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"", "empty"),
        (b"\xef\xbb\xbf\r\n\r\n", "empty"),
        ("email,name\r\nä,b\r\n".encode("latin-1"), "not UTF-8"),
        (b"email,name\r\n", "no rows after it"),
        (b"email,,name\r\na,b,c\r\n", "has no name"),
        (b"email,email\r\na,b\r\n", "twice"),
        (b'email,name\r\n"unclosed,b\r\n', "not valid CSV"),
    ],
)
def test_a_file_that_cannot_be_used_is_400_with_a_reason(acme, source, content, reason):
    response = upload(acme.api(), source, content, "/contacts")
    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert error["code"] == "invalid_file" and reason in error["message"]
    assert not BulkJob.objects.exists()


def test_no_file_or_a_bad_path_or_method_is_400(acme, source):
    client = acme.api()
    response = client.post(f"/api/v1/datasources/{source.pk}/bulk/?path=/x", {}, format="multipart")
    assert response.status_code == 400 and "file" in response.json()["error"]["message"]
    for path in ("https://evil.example/x", "//evil.example/x", "/a/../b", ""):
        response = upload(client, source, csv_bytes(ROWS), path)
        assert response.status_code == 400, (path, response.content)
    assert upload(client, source, csv_bytes(ROWS), "/x", method="DELETE").status_code == 400
    response = upload(client, source, csv_bytes(ROWS), "/contacts/{id}", method="PATCH")
    assert response.status_code == 400
    assert "{id}" in response.json()["error"]["details"]["fields"]["path"][0]["message"]
    assert not BulkJob.objects.exists()


def test_a_file_over_the_limit_is_413_and_nothing_is_stored(acme, source, settings):
    settings.BULK_MAX_UPLOAD_BYTES = 1000
    content = csv_bytes([["n"], *[[str(n)] for n in range(500)]])
    response = upload(acme.api(), source, content, "/contacts")
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "file_too_large"
    assert not BulkJob.objects.exists()


def test_a_query_job_is_validated(acme, source):
    client = acme.api()
    url = f"/api/v1/datasources/{source.pk}/bulk/query/"
    good = {"path": "/search?jql=project=PB", "results_path": "issues",
            "pagination": {"style": "offset", "param": "startAt", "size_param": "maxResults",
                           "size": 100}, "fields": ["key", "fields.summary"],
            "max_records": 1000000}  # fmt: skip
    response = client.post(url, good, format="json")
    assert response.status_code == 201, response.content
    assert response.json()["kind"] == "query" and response.json()["total"] is None
    for bad in (
        {**good, "pagination": {"style": "cursor"}},  # no cursor_path
        {**good, "pagination": {"style": "sideways"}},
        {**good, "path": "https://other.example/x"},
        {**good, "fields": ["a", "a"]},
        {**good, "max_records": 0},
        {**good, "unknown": 1},
    ):
        assert client.post(url, bad, format="json").status_code == 400, bad


def test_another_tenants_jobs_do_not_exist(acme, globex, source):
    job_id = upload(acme.api(), source, csv_bytes(ROWS), "/contacts").json()["id"]
    other = globex.api()
    for path in ("status", "errors.csv", "result.csv"):
        assert other.get(f"/api/v1/bulk/{job_id}/{path}").status_code == 404
    assert other.post(f"/api/v1/bulk/{job_id}/cancel").status_code == 404
    assert other.get(f"/api/v1/datasources/{source.pk}/bulk/").status_code == 404
    assert upload(other, source, csv_bytes(ROWS), "/contacts").status_code == 404
    assert BulkJob.objects.get(pk=job_id).status == JobStatus.CREATED


def test_viewers_read_and_widget_keys_do_nothing(acme, victor, source, client):
    job_id = upload(acme.api(), source, csv_bytes(ROWS), "/contacts").json()["id"]
    _, raw = api_key_create(tenant=acme.tenant, scope="widget", name="w",
                            origins=["https://shop.example"])  # fmt: skip
    widget = APIClient()
    widget.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert widget.get(f"/api/v1/bulk/{job_id}/status").status_code == 403
    assert upload(widget, source, csv_bytes(ROWS), "/contacts").status_code == 403
    viewer = APIClient()
    viewer.force_login(victor)
    viewer.credentials(HTTP_X_PLUGBOARD_TENANT=acme.tenant.slug)
    assert viewer.get(f"/api/v1/bulk/{job_id}/status").status_code == 200
    assert viewer.get(f"/api/v1/datasources/{source.pk}/bulk/").json()["count"] == 1
    assert viewer.post(f"/api/v1/bulk/{job_id}/cancel").status_code == 403


def test_cancel_once_then_409(acme, source):
    client = acme.api()
    job_id = upload(client, source, csv_bytes(ROWS), "/contacts").json()["id"]
    response = client.post(f"/api/v1/bulk/{job_id}/cancel")
    assert response.status_code == 200 and response.json()["status"] == "CANCELLED"
    assert response.json()["finished_at"] and "Cancelled by" in response.json()["message"]
    again = client.post(f"/api/v1/bulk/{job_id}/cancel/")
    assert again.status_code == 409 and again.json()["error"]["code"] == "job_finished"
    assert AuditEntry.objects.filter(datasource=source, action="bulk_cancelled").count() == 1


def test_results_are_only_for_complete_query_jobs(acme, source):
    client = acme.api()
    upload_id = upload(client, source, csv_bytes(ROWS), "/contacts").json()["id"]
    assert client.get(f"/api/v1/bulk/{upload_id}/result.csv").status_code == 404
    query_id = client.post(f"/api/v1/datasources/{source.pk}/bulk/query/", {"path": "/x"},
                           format="json").json()["id"]  # fmt: skip
    response = client.get(f"/api/v1/bulk/{query_id}/result.csv")
    assert response.status_code == 409 and response.json()["error"]["code"] == "result_not_ready"


def test_the_list_is_newest_first_and_paginated(acme, source):
    client = acme.api()
    ids = [upload(client, source, csv_bytes(ROWS), "/contacts").json()["id"] for _ in range(3)]
    page = client.get(f"/api/v1/datasources/{source.pk}/bulk/?page_size=2").json()
    assert page["count"] == 3 and page["next"]
    assert [job["id"] for job in page["results"]] == ids[::-1][:2]


def test_the_concurrency_is_the_data_sources_within_the_cap(acme, source, settings):
    settings.BULK_MAX_CONCURRENCY = 2
    source.bulk_concurrency = 8
    source.save()
    job_id = upload(acme.api(), source, csv_bytes(ROWS), "/contacts").json()["id"]
    assert BulkJob.objects.get(pk=job_id).concurrency == 2
    response = acme.api().patch(f"/api/v1/datasources/{source.pk}/", {"bulk_concurrency": 3},
                                format="json")  # fmt: skip
    assert response.status_code == 400
    response = acme.api().patch(f"/api/v1/datasources/{source.pk}/", {"bulk_concurrency": 2},
                                format="json")  # fmt: skip
    assert response.status_code == 200 and response.json()["bulk_concurrency"] == 2


def test_one_file_only_and_a_length_is_needed(acme, source):
    import io

    client = acme.api()
    two = {"file": [io.BytesIO(csv_bytes(ROWS)), io.BytesIO(csv_bytes(ROWS))]}
    response = client.post(f"/api/v1/datasources/{source.pk}/bulk/?path=/x", two,
                           format="multipart")  # fmt: skip
    assert response.status_code == 400 and "one CSV file" in response.json()["error"]["message"]
    response = client.generic("POST", f"/api/v1/datasources/{source.pk}/bulk/?path=/x",
                              b"", HTTP_TRANSFER_ENCODING="chunked",
                              content_type="multipart/form-data; boundary=x")  # fmt: skip
    assert response.status_code == 411
    assert not BulkJob.objects.exists()


def test_a_second_byte_order_mark_is_not_part_of_the_first_name(acme, source):
    content = b"\xef\xbb\xbf\xef\xbb\xbfemail,name\r\na,b\r\n"
    job_id = upload(acme.api(), source, content, "/contacts").json()["id"]
    response = upload(acme.api(), source, content, "/contacts/{email}", method="PATCH")
    assert response.status_code == 201, response.content
    assert BulkJob.objects.filter(pk=job_id).exists()


def test_control_characters_in_a_path_are_refused(acme, source):
    for path in ("/x%01y", "/x%7F", "/a%0Ab"):
        response = upload(acme.api(), source, csv_bytes(ROWS), path)
        assert response.status_code == 400, path


def test_the_status_routes_take_uuids_and_the_csvs_any_accept_header(acme, source):
    client = acme.api()
    job_id = upload(client, source, csv_bytes(ROWS), "/contacts").json()["id"]
    assert client.get(f"/api/v1/bulk/{'-' * 36}/status").status_code == 404
    response = client.get(f"/api/v1/bulk/{job_id}/errors.csv", HTTP_ACCEPT="text/csv")
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    schema = client.get("/api/schema/?format=json").json()["paths"]
    assert "/api/v1/bulk/{id}/status" in schema and "/api/v1/bulk/{id}/status/" not in schema
    assert "/api/v1/bulk/{id}/cancel" in schema and "/api/v1/bulk/{id}/cancel/" not in schema
