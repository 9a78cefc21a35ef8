"""The bulk pages through Django's test client: the "Bulk jobs" panel on a data source's page
(owners and admins get the forms, viewers only the jobs), starting an upload and a query through
the forms (the API's inputs and services: errors under their fields, what was typed kept), a
job's page (counters, the first 100 failures, downloads and why a result cannot be had), cancel
with a confirmation, the status JSON the page polls, and another tenant's objects as 404."""

from __future__ import annotations

import html
import io
import re
from datetime import timedelta

import pytest
from django.utils import timezone

from apps.bulk.files import save_part
from apps.bulk.models import BulkJob, JobKind, JobStatus, RowFailure
from apps.bulk.progress import duration_words, job_progress
from apps.datasources.models import AuditEntry
from tests.bulk.conftest import csv_bytes
from tests.factories import DataSourceFactory

pytestmark = pytest.mark.usefixtures("no_worker_queue")

ROWS = [["email", "name"], ["a@example.com", "Ann"], ["b@example.com", "Bob"]]


def page_of(response) -> str:
    return response.content.decode()


def said(client, response) -> list[str]:
    """The messages a redirect leaves, as the next page shows them."""
    assert response.status_code == 302, response.content[:3000]
    page = page_of(client.get(response.headers["Location"]))
    listed = re.search(r'<ul class="messagelist">(.*?)</ul>', page, re.S)
    return [html.unescape(m) for m in re.findall(r"<li[^>]*>(.*?)</li>", listed.group(1), re.S)
            ] if listed else []  # fmt: skip


def section(page: str, element_id: str) -> str:
    """The element with ``element_id`` and what follows it, up to the next module."""
    start = page.index(f'id="{element_id}"')
    end = page.find('<div class="module"', start + 1)
    return page[start : end if end > 0 else None]


def form_row(page: str, name: str) -> str:
    """The ``form-row`` of a field (its label, input, errors and help)."""
    match = re.search(rf'<div class="form-row[^"]*field-{name}"[^>]*>.*?(?=<div class="form-row|'
                      r"</fieldset>)", page, re.S)  # fmt: skip
    assert match, f"no row for {name}"
    return match.group(0)


def tag(page: str, element_id: str) -> str:
    return re.search(rf'<[a-z]+ [^>]*id="{element_id}"[^>]*>', page).group(0)


def named_file(content: bytes, name: str = "rows.csv") -> io.BytesIO:
    handle = io.BytesIO(content)
    handle.name = name
    return handle


def make_job(ds, **fields) -> BulkJob:
    values = {"tenant": ds.tenant, "datasource": ds, "kind": JobKind.UPLOAD, "method": "POST",
              "path": "/contacts", "total": 28, "created_by_label": "alice"}  # fmt: skip
    values.update(fields)
    return BulkJob.objects.create(**values)


@pytest.fixture
def owner(acme, session_client):
    return session_client(acme.owner)


@pytest.fixture
def source(acme):
    return DataSourceFactory(tenant=acme.tenant, name="Jira", slug="jira")


def detail_url(ds) -> str:
    return f"/t/{ds.tenant.slug}/datasources/{ds.pk}/"


def jobs_url(ds) -> str:
    return f"{detail_url(ds)}bulk/"


def job_url(job, tail: str = "") -> str:
    return f"{jobs_url(job.datasource)}{job.pk}/{tail}"


# --- the panel ---------------------------------------------------------------------------------


def test_the_panel_gives_owners_both_forms_and_the_latest_jobs(owner, source):
    jobs = [make_job(source, path=f"/contacts/{n}") for n in range(7)]
    page = page_of(owner.get(detail_url(source)))
    panel = section(page, "bulk-panel")

    upload = re.search(r'<form [^>]*id="bulk-upload-form"[^>]*>', panel).group(0)
    assert f'action="{jobs_url(source)}upload/"' in upload and 'method="post"' in upload
    assert 'enctype="multipart/form-data"' in upload
    for name in ("file", "path", "method"):
        assert f'name="{name}"' in form_row(panel, name)
    assert all(f'<option value="{m}"' in panel for m in ("POST", "PUT", "PATCH"))

    query = panel[panel.index('id="bulk-query-form"') :]
    assert f'action="{jobs_url(source)}query/"' in panel
    for name in ("path", "results_path", "style", "fields", "max_records"):
        assert f'name="{name}"' in form_row(query, name)
    styles = ("none", "offset", "page", "cursor", "link")
    assert all(f'<option value="{style}"' in query for style in styles)
    # The pagination settings of the chosen style (none) are hidden; each says its styles.
    for name, styles in (("param", "offset page cursor"), ("size", "offset page cursor link"),
                         ("start", "offset page"), ("cursor_path", "cursor")):  # fmt: skip
        row = form_row(query, name)
        assert " hidden>" in row.split("\n")[0] and f'data-styles="{styles}"' in row
    assert "csrfmiddlewaretoken" in panel

    # The latest 5 jobs, newest first, each linked to its page; the list has them all.
    linked = re.findall(rf'href="{jobs_url(source)}([0-9a-f-]{{36}})/"', panel)
    assert linked == [str(job.pk) for job in reversed(jobs)][:5]
    assert f'href="{jobs_url(source)}"' in panel and "All bulk jobs (7)" in panel
    # Ready for a strict Content-Security-Policy: no inline script or style.
    assert not re.search(r"\sstyle=|<style", panel)
    assert not re.search(r"<script(?![^>]*\ssrc=)", panel)
    assert "plugboard/bulk.js" in panel


def test_viewers_see_the_jobs_but_no_form_and_cannot_start_or_cancel(
    acme, victor, session_client, source
):
    job = make_job(source, status=JobStatus.RUNNING, processed=3)
    viewer = session_client(victor)
    page = page_of(viewer.get(detail_url(source)))
    panel = section(page, "bulk-panel")
    assert str(job.pk) in panel and "Owners and admins start and cancel" in panel
    assert "<form" not in panel and 'type="file"' not in panel

    job_page = page_of(viewer.get(job_url(job)))
    assert 'id="bulk-progress"' in job_page and "Cancel job" not in job_page
    assert viewer.get(f"{jobs_url(source)}upload/").status_code == 403
    response = viewer.post(f"{jobs_url(source)}upload/",
                           {"path": "/contacts", "file": named_file(csv_bytes(ROWS))})  # fmt: skip
    assert response.status_code == 403
    assert viewer.post(f"{jobs_url(source)}query/", {"path": "/x"}).status_code == 403
    assert viewer.post(job_url(job, "cancel/")).status_code == 403
    assert BulkJob.objects.count() == 1
    assert BulkJob.objects.get(pk=job.pk).status == JobStatus.RUNNING
    # Reading is for every member: the list, the status and the errors.
    assert viewer.get(jobs_url(source)).status_code == 200
    assert viewer.get(job_url(job, "status/")).json()["processed"] == 3
    assert viewer.get(job_url(job, "errors.csv")).status_code == 200


def test_the_jobs_list_is_paginated_newest_first(owner, source):
    jobs = [make_job(source, path=f"/p/{n}") for n in range(30)]
    first = page_of(owner.get(jobs_url(source)))
    ids = re.findall(rf'href="{jobs_url(source)}([0-9a-f-]{{36}})/"', first)
    assert ids == [str(job.pk) for job in reversed(jobs)][:25]
    assert "Page 1 of 2 (30 in all)" in first
    second = page_of(owner.get(jobs_url(source) + "?page=2"))
    assert re.findall(rf'href="{jobs_url(source)}([0-9a-f-]{{36}})/"', second) == [
        str(job.pk) for job in reversed(jobs[:5])
    ]
    empty = DataSourceFactory(tenant=source.tenant)
    assert "No bulk jobs yet." in page_of(owner.get(jobs_url(empty)))


# --- starting jobs through the forms -----------------------------------------------------------


def test_an_upload_through_the_page_makes_a_job_and_opens_its_page(owner, acme, source):
    response = owner.post(f"{jobs_url(source)}upload/", {
        "file": named_file(csv_bytes(ROWS, bom=True), "people.csv"), "path": "/contacts/{email}",
        "method": "PATCH",
    })  # fmt: skip
    job = BulkJob.objects.get()
    assert response.status_code == 302 and response.headers["Location"] == job_url(job)
    assert (job.kind, job.method, job.path) == ("upload", "PATCH", "/contacts/{email}")
    assert job.total == 2
    assert job.status == JobStatus.CREATED and job.original_name == "people.csv"
    assert job.created_by == acme.owner
    assert AuditEntry.objects.filter(datasource=source, action="bulk_started").exists()
    messages = said(owner, response)
    assert messages == ["Upload started: 2 rows to send as PATCH /contacts/{email}. This page "
                        "follows its progress."]  # fmt: skip


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"", "The file is empty"),
        ("email,name\r\nä,b\r\n".encode("latin-1"), "not UTF-8"),
        (b"email,name\r\n", "no rows after it"),
        (b"email,email\r\na,b\r\n", "twice"),
    ],
)
def test_a_bad_file_is_refused_with_the_reason_under_the_file_field(owner, source, content,
                                                                    reason):  # fmt: skip
    response = owner.post(f"{jobs_url(source)}upload/", {
        "file": named_file(content), "path": "/contacts?tag=new", "method": "PUT"})  # fmt: skip
    assert response.status_code == 400
    page = page_of(response)
    row = form_row(page, "file")
    errors = re.search(r'<ul class="errorlist" id="upload_file_error">(.*?)</ul>', row, re.S)
    assert errors and reason in html.unescape(errors.group(1))
    file_input = tag(row, "upload_file")
    assert 'aria-invalid="true"' in file_input and "upload_file_error" in file_input
    assert row.index('id="upload_file"') < row.index('id="upload_file_error"')  # under the field
    # What was typed is kept (a browser cannot be given the file back).
    assert 'value="/contacts?tag=new"' in tag(page, "upload_path")
    assert re.search(r'<option value="PUT" selected>', page)
    assert not BulkJob.objects.exists()


def test_a_bad_upload_path_says_why_and_the_file_is_checked_as_well(owner, source):
    response = owner.post(f"{jobs_url(source)}upload/", {
        "file": named_file(csv_bytes(ROWS)), "path": "https://elsewhere.example.com/x",
        "method": "POST"})  # fmt: skip
    assert response.status_code == 400
    page = page_of(response)
    row = form_row(page, "path")
    assert 'aria-invalid="true"' in tag(row, "upload_path")
    assert re.search(r'id="upload_path_error"><li>[^<]+</li>', row)
    assert "upload_file_error" not in page  # the file itself is fine
    assert "Choose the file again" in page
    assert 'value="https://elsewhere.example.com/x"' in row

    # A placeholder that names no column of the file is the service's error, on the path.
    response = owner.post(f"{jobs_url(source)}upload/", {
        "file": named_file(csv_bytes(ROWS)), "path": "/contacts/{id}", "method": "PATCH"})  # fmt: skip
    row = form_row(page_of(response), "path")
    assert response.status_code == 400 and "{id}" in html.unescape(row)
    assert "which is not a column of the file" in html.unescape(row)

    # Nothing chosen at all: both fields say so.
    response = owner.post(f"{jobs_url(source)}upload/", {"path": "", "method": "POST"})
    page = page_of(response)
    assert "Choose the CSV file to upload." in form_row(page, "file")
    assert "Give the path to send to, like /contacts." in form_row(page, "path")
    assert not BulkJob.objects.exists()


def test_a_query_through_the_page_makes_a_job_with_the_chosen_settings(owner, source):
    response = owner.post(f"{jobs_url(source)}query/", {
        "path": "/search?jql=project=PB", "results_path": "issues", "style": "offset",
        "param": "startAt", "size_param": "maxResults", "size": "50", "start": "",
        "cursor_path": "left.over.from.cursor", "fields": "key\r\nfields.summary, id\r\n\r\n",
        "max_records": "500",
    })  # fmt: skip
    job = BulkJob.objects.get()
    assert response.status_code == 302 and response.headers["Location"] == job_url(job)
    assert (job.kind, job.method, job.path) == ("query", "GET", "/search?jql=project=PB")
    assert job.spec == {
        "results_path": "issues",
        "pagination": {
            "style": "offset",
            "param": "startAt",
            "size_param": "maxResults",
            "size": 50,
        },
        "fields": ["key", "fields.summary", "id"],
        "max_records": 500,
    }
    assert said(owner, response)[0].startswith("Query started")


def test_a_bad_query_shows_each_error_under_its_field_and_keeps_what_was_typed(owner, source):
    response = owner.post(f"{jobs_url(source)}query/", {
        "path": "/search/{project}", "results_path": "data.items", "style": "cursor",
        "param": "after", "size": "10", "cursor_path": "", "fields": "a\nb\na",
        "max_records": "0",
    })  # fmt: skip
    assert response.status_code == 400
    page = page_of(response)
    expected = {
        "path": "A query's path has no placeholders.",
        "cursor_path": "Say where each answer holds the next cursor",
        "fields": "A field is named twice.",
        "max_records": "greater than or equal to 1",
    }
    for name, message in expected.items():
        row = form_row(page, name)
        assert message in html.unescape(row), name
        assert 'aria-invalid="true"' in tag(row, f"query_{name}"), name
        assert f'id="query_{name}_error"' in row, name
        assert " hidden>" not in row.split("\n")[0], name  # the cursor style's rows are shown
    assert 'value="data.items"' in page and 'value="after"' in page
    assert re.search(r'<option value="cursor" selected>', page)
    assert ">\na\nb\na</textarea>" in page
    assert " hidden>" in form_row(page, "start").split("\n")[0]  # not a cursor setting

    response = owner.post(f"{jobs_url(source)}query/", {
        "path": "/search", "style": "page", "size": "many", "start": "-1"})  # fmt: skip
    page = page_of(response)
    assert "A valid integer is required." in form_row(page, "size")
    assert "greater than or equal to 0" in form_row(page, "start")
    assert 'value="many"' in form_row(page, "size")
    assert not BulkJob.objects.exists()


# --- a job's page ------------------------------------------------------------------------------


def test_the_job_page_shows_the_counters_and_the_first_100_failures(owner, source):
    started = timezone.now() - timedelta(seconds=20)
    job = make_job(source, total=400, status=JobStatus.RUNNING, processed=200, succeeded=80,
                   failed=120, started_at=started, created_by_label="alice")  # fmt: skip
    RowFailure.objects.bulk_create(
        RowFailure(job=job, row=n, status_code=422, message=f"row {n}: email is <invalid>")
        for n in range(1, 121)
    )
    page = page_of(owner.get(job_url(job)))

    assert "<h1>Upload job " in page and "POST /contacts" in page and "alice" in page
    assert re.search(r'<progress id="bulk-progress"[^>]*max="400" value="200"', page)
    assert ">50%<" in page and "200 of 400 rows" in page
    assert re.search(r'id="bulk-succeeded">80<', page) and re.search(r'id="bulk-failed">120<', page)
    assert re.search(r'id="bulk-rate">10\.0 rows/s<', page)
    assert re.search(r'id="bulk-eta">about 2[01] s<', page)
    assert 'data-status-url="' + job_url(job, "status/") + '"' in page
    assert "Cancel job" in page

    errors = section(page, "bulk-errors")
    assert "The first 100 of 120 failed rows." in errors
    assert errors.count("<tr><td>") == 100
    assert "row 1: email is &lt;invalid&gt;" in errors and "row 101:" not in errors
    assert f'href="{job_url(job, "errors.csv")}"' in errors
    assert not re.search(r"\sstyle=|<style|<script(?![^>]*\ssrc=)", page)

    download = owner.get(job_url(job, "errors.csv"))
    assert download["Content-Type"].startswith("text/csv")
    assert 'filename="jira-' in download["Content-Disposition"]
    lines = b"".join(download.streaming_content).decode().split("\r\n")
    assert lines[0] == "row,status_code,message" and lines[1] == "1,422,row 1: email is <invalid>"
    assert len([line for line in lines if line]) == 121


def test_a_finished_job_page_has_no_cancel_and_says_how_it_ended(owner, source):
    done = make_job(source, status=JobStatus.COMPLETE, processed=28, succeeded=28,
                    started_at=timezone.now(), finished_at=timezone.now())  # fmt: skip
    page = page_of(owner.get(job_url(done)))
    assert "Cancel job" not in page and 'max="28" value="28"' in page and ">100%<" in page
    assert "No row failed." in page and 'data-active="false"' in page

    failed = make_job(source, status=JobStatus.FAILED, processed=3, message="The upstream "
                      "refused the credentials (401).", finished_at=timezone.now())  # fmt: skip
    page = page_of(owner.get(job_url(failed)))
    assert "The upstream refused the credentials (401)." in page and "Failed" in page
    note = re.search(r'<span id="bulk-note"([^>]*)>([^<]*)<', page)
    assert note.group(2) == "The upstream refused the credentials (401)."
    assert 'class="pb-last-error"' in note.group(1)


def test_a_query_result_is_downloaded_or_the_page_says_why_not(owner, source):
    parts = [save_part(f"results/test-{n}.csv", text) for n, text in
             enumerate(["id,name\r\n1,Ann\r\n", "2,Bob\r\n"])]  # fmt: skip
    job = make_job(source, kind=JobKind.QUERY, method="GET", path="/people", total=2,
                   processed=2, status=JobStatus.COMPLETE, result_parts=parts,
                   columns=["id", "name"], finished_at=timezone.now(),
                   spec={"pagination": {"style": "page", "size": 100}, "results_path": "items"})  # fmt: skip
    page = page_of(owner.get(job_url(job)))
    result = section(page, "bulk-result")
    assert f'href="{job_url(job, "result.csv")}"' in result and "Download result" in result
    assert "Page number" in page and "Page size: <code" in page
    response = owner.get(job_url(job, "result.csv"))
    assert b"".join(response.streaming_content) == b"id,name\r\n1,Ann\r\n2,Bob\r\n"

    running = make_job(source, kind=JobKind.QUERY, method="GET", path="/people", total=None,
                       status=JobStatus.RUNNING, processed=40)  # fmt: skip
    page = page_of(owner.get(job_url(running)))
    assert "once it is complete" in section(page, "bulk-result")
    assert "the total is known after the last page" in page
    assert re.search(r'<progress id="bulk-progress"[^>]*aria-describedby="bulk-done">', page)
    response = owner.get(job_url(running, "result.csv"))
    assert response.status_code == 409 and "once it is complete" in page_of(response)

    BulkJob.objects.filter(pk=job.pk).update(files_deleted_at=timezone.now())
    page = page_of(owner.get(job_url(job)))
    assert "results are kept 7 days" in section(page, "bulk-result")
    assert "Download result" not in page
    response = owner.get(job_url(job, "result.csv"))
    assert response.status_code == 410 and "Run the query again" in page_of(response)

    upload = make_job(source)
    assert owner.get(job_url(upload, "result.csv")).status_code == 404


def test_cancel_asks_first_then_cancels_and_says_so(owner, acme, source):
    job = make_job(source, status=JobStatus.RUNNING, processed=12)
    page = page_of(owner.get(job_url(job)))
    assert f'href="{job_url(job, "cancel/")}"' in page

    confirm = owner.get(job_url(job, "cancel/"))
    assert confirm.status_code == 200
    text = page_of(confirm)
    assert "Rows not yet sent will never be sent" in text and "12 of 28 rows" in text
    form = re.search(r'<form method="post" id="bulk-cancel-form">.*?</form>', text, re.S).group(0)
    assert "csrfmiddlewaretoken" in form and "Yes, cancel the job" in form
    assert BulkJob.objects.get(pk=job.pk).status == JobStatus.RUNNING  # asking changes nothing

    response = owner.post(job_url(job, "cancel/"))
    assert response.headers["Location"] == job_url(job)
    assert said(owner, response) == ["Job cancelled after 12 rows: nothing more is sent. "
                                     "Requests already on their way finish and are counted."]  # fmt: skip
    job.refresh_from_db()
    assert job.status == JobStatus.CANCELLED and job.message == "Cancelled by alice."
    assert AuditEntry.objects.filter(datasource=source, action="bulk_cancelled").exists()

    again = owner.post(job_url(job, "cancel/"))
    assert said(owner, again) == ["This job had ended already (Cancelled); there was nothing "
                                  "to cancel."]  # fmt: skip
    assert owner.get(job_url(job, "cancel/")).status_code == 302


def test_cancel_needs_the_csrf_token(acme, client, source):
    job = make_job(source, status=JobStatus.RUNNING)
    client.handler.enforce_csrf_checks = True
    client.force_login(acme.owner)
    assert client.post(job_url(job, "cancel/")).status_code == 403
    assert BulkJob.objects.get(pk=job.pk).status == JobStatus.RUNNING


# --- the status JSON ---------------------------------------------------------------------------


def test_the_status_json_is_the_api_status_with_the_progress(owner, source):
    job = make_job(source, status=JobStatus.RUNNING, processed=7, succeeded=6, failed=1,
                   started_at=timezone.now() - timedelta(seconds=2))  # fmt: skip
    response = owner.get(job_url(job, "status/"))
    assert response.status_code == 200 and "no-cache" in response["Cache-Control"]
    body = response.json()
    assert {k: body[k] for k in ("id", "kind", "status", "total", "processed", "failed")} == {
        "id": str(job.pk), "kind": "upload", "status": "RUNNING", "total": 28, "processed": 7,
        "failed": 1,
    }  # fmt: skip
    progress = body["progress"]
    assert progress["active"] is True and progress["percent"] == 25
    assert progress["bar"] == {"max": 28, "value": 7}
    assert progress["display"]["done"] == "7 of 28 rows"
    assert progress["display"]["status"] == "Running"
    details = owner.get(job_url(job, "details/"))
    assert details.status_code == 200 and 'id="bulk-job-summary"' in page_of(details)


# --- tenants -----------------------------------------------------------------------------------


def test_another_tenants_data_sources_and_jobs_are_404(acme, globex, session_client, source):
    job = make_job(source, status=JobStatus.RUNNING)
    theirs = DataSourceFactory(tenant=globex.tenant)
    their_job = make_job(theirs, status=JobStatus.RUNNING)
    bob = session_client(globex.owner)
    for tail in ("", "status/", "details/", "cancel/", "errors.csv", "result.csv"):
        # Under acme (bob is not a member) and under his own tenant's slug alike.
        assert bob.get(job_url(job, tail)).status_code == 404, tail
        own_slug = f"/t/globex/datasources/{source.pk}/bulk/{job.pk}/{tail}"
        assert bob.get(own_slug).status_code == 404, tail
    assert bob.post(f"/t/globex/datasources/{source.pk}/bulk/{job.pk}/cancel/").status_code == 404
    assert bob.get(f"/t/globex/datasources/{source.pk}/bulk/").status_code == 404
    response = bob.post(f"/t/globex/datasources/{source.pk}/bulk/upload/",
                        {"path": "/x", "file": named_file(csv_bytes(ROWS))})  # fmt: skip
    assert response.status_code == 404
    assert BulkJob.objects.get(pk=job.pk).status == JobStatus.RUNNING

    alice = session_client(acme.owner)
    # Their job under my tenant, or my job under another of my data sources: not found either.
    assert alice.get(f"/t/acme/datasources/{theirs.pk}/bulk/{their_job.pk}/").status_code == 404
    status_url = f"/t/acme/datasources/{source.pk}/bulk/{their_job.pk}/status/"
    assert alice.get(status_url).status_code == 404
    other = DataSourceFactory(tenant=acme.tenant)
    assert alice.get(f"/t/acme/datasources/{other.pk}/bulk/{job.pk}/").status_code == 404
    panel = section(page_of(alice.get(detail_url(source))), "bulk-panel")
    assert str(their_job.pk) not in panel


# --- progress in words -------------------------------------------------------------------------


def test_progress_words():
    now = timezone.now()
    job = BulkJob(kind=JobKind.UPLOAD, status=JobStatus.CREATED, total=10, processed=0,
                  created_at=now - timedelta(minutes=3), queued_at=now - timedelta(minutes=3))  # fmt: skip
    assert "No worker has taken this job in 3 min" in job_progress(job, now)["display"]["note"]
    job.queued_at = now - timedelta(seconds=5)
    assert job_progress(job, now)["display"]["note"] == "Waiting for a worker to take it."
    assert job_progress(job, now)["display"]["eta"] == "not known yet"

    query = BulkJob(kind=JobKind.QUERY, status=JobStatus.COMPLETE, total=0, processed=0,
                    started_at=now - timedelta(seconds=3), finished_at=now)  # fmt: skip
    progress = job_progress(query, now)
    assert progress["percent"] == 100 and progress["bar"] == {"max": 1, "value": 1}
    assert progress["display"]["rate"] == "—" and progress["display"]["done"] == "0 of 0 records"
    assert [duration_words(s) for s in (0.2, 59, 60, 125, 3600, 7260)] == [
        "1 s", "59 s", "1 min", "2 min 5 s", "1 h", "2 h 1 min",
    ]  # fmt: skip
