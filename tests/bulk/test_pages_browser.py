"""The bulk pages in headless Chromium: an upload started from the data source's page runs while
its job page is open, and the progress bar moves (its value rises at least twice) and ends at
100% with the status "Complete" without a reload, under a strict Content-Security-Policy and
with no error in the console."""

from __future__ import annotations

import itertools
import threading
import time

import pytest
from django.db import connection

from apps.bulk.models import BulkJob, JobStatus
from apps.bulk.runner import job_run
from tests.bulk.conftest import csv_bytes
from tests.factories import DataSourceFactory
from tests.support.browser import log_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True),
              pytest.mark.usefixtures("no_worker_queue")]  # fmt: skip

ROWS = 80
STRICT_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
SAMPLE = """() => {
  const bar = document.getElementById('bulk-progress');
  return {value: bar.hasAttribute('value') ? bar.value : null, max: bar.max,
          status: document.getElementById('bulk-status').textContent.trim(),
          percent: document.getElementById('bulk-percent').textContent.trim()};
}"""


@pytest.fixture
def console_errors(page):
    """Errors in the console and uncaught exceptions (the missing favicon excepted)."""
    errors: list[str] = []

    def on_console(message):
        if message.type == "error" and not message.location.get("url", "").endswith("favicon.ico"):
            errors.append(f"{message.text} ({message.location.get('url')})")

    page.on("console", on_console)
    page.on("pageerror", lambda error: errors.append(f"uncaught: {error}"))
    return errors


def run_in_background(job_id) -> tuple[threading.Thread, list]:
    """The job runs here, in a thread, as a worker would run it."""
    outcome: list = []

    def run():
        try:
            outcome.append(job_run(job_id))
        except BaseException as exc:  # reported by the test
            outcome.append(exc)
        finally:
            connection.close()

    thread = threading.Thread(target=run, name="bulk-job", daemon=True)
    thread.start()
    return thread, outcome


def test_the_progress_bar_follows_a_running_upload_to_complete(
    live_server, page, console_errors, acme, upstream, sinks
):
    ds = DataSourceFactory(tenant=acme.tenant, name="Records", base_url=upstream.url(),
                           timeout_seconds=10, bulk_concurrency=1)  # fmt: skip
    sink = sinks.new()
    rows = [["n", "word"], *[[str(n), f"wörd {n}"] for n in range(1, ROWS + 1)]]
    log_in(page, live_server, acme.owner)

    # Started from the data source's page, as a person would.
    page.goto(f"{live_server.url}/t/acme/datasources/{ds.pk}/")
    panel = page.locator("#bulk-panel")
    panel.get_by_label("CSV file").set_input_files(
        {"name": "rows.csv", "mimeType": "text/csv", "buffer": csv_bytes(rows)}
    )
    panel.locator("#bulk-upload-form").get_by_label("Path").fill(
        f"/_test/records/{sink}?delay=0.05"
    )
    panel.get_by_role("button", name="Start upload").click()
    page.wait_for_url("**/bulk/*/")
    job = BulkJob.objects.get()
    assert job.status == JobStatus.CREATED and job.total == ROWS
    job_url = f"{live_server.url}/t/acme/datasources/{ds.pk}/bulk/{job.pk}/"
    assert page.url == job_url
    assert "Upload started: 80 rows" in page.locator(".messagelist").inner_text()

    # The job page again, now under a strict Content-Security-Policy that reports violations.
    def with_csp(route):
        response = route.fetch()
        route.fulfill(response=response,
                      headers={**response.headers, "content-security-policy": STRICT_CSP})  # fmt: skip

    page.route(job_url, with_csp)
    page.add_init_script("document.addEventListener('securitypolicyviolation', event => "
                         "(window.violations ||= []).push(event.violatedDirective + ' ' + "
                         "event.blockedURI));")  # fmt: skip
    page.goto(job_url)
    assert page.evaluate(SAMPLE) == {"value": 0, "max": ROWS, "status": "Created",
                                     "percent": "0%"}  # fmt: skip
    page.evaluate("window.stillTheSamePage = true")
    navigations = []
    page.on("framenavigated", lambda frame: frame == page.main_frame and navigations.append(1))

    thread, outcome = run_in_background(job.pk)
    samples = []
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        sample = page.evaluate(SAMPLE)
        if not samples or sample != samples[-1]:
            samples.append(sample)
        if sample["status"] == "Complete":
            break
        page.wait_for_timeout(100)
    thread.join(timeout=30)

    assert outcome == ["complete"], outcome
    values = [s["value"] for s in samples]
    assert values == sorted(values), samples  # it never goes back
    rises = sum(1 for before, after in itertools.pairwise(values) if after > before)
    assert rises >= 2, samples
    assert any(0 < v < ROWS for v in values), samples  # seen in between, not only at the ends
    assert any(s["status"] == "Running" for s in samples), samples
    assert samples[-1] == {"value": ROWS, "max": ROWS, "status": "Complete", "percent": "100%"}
    assert page.evaluate("window.stillTheSamePage") is True and navigations == []

    # The rest of the page followed too: the counters, the end time, no failures, no cancel.
    assert page.locator("#bulk-done").inner_text() == f"{ROWS} of {ROWS} rows"
    assert page.locator("#bulk-succeeded").inner_text() == str(ROWS)
    # (A function, not an expression: the page's CSP forbids the eval an expression needs.)
    page.wait_for_function("() => document.getElementById('bulk-finished').textContent.trim() "
                           "!== 'Not yet'")  # fmt: skip
    assert page.locator("#bulk-no-errors").inner_text() == "No row failed."
    assert not page.locator("#bulk-cancel").is_visible()
    assert "rows/s" in page.locator("#bulk-rate").inner_text()
    assert page.get_by_role("status").filter(has_text="The job is complete").count() == 1
    assert len(sinks.log(sink)["applied"]) == ROWS

    # The latest jobs on the data source's page, and the list, show it complete.
    page.goto(f"{live_server.url}/t/acme/datasources/{ds.pk}/bulk/")
    assert page.locator(".pb-job .pb-status").inner_text() == "Complete"
    assert page.evaluate("window.violations || []") == []
    assert console_errors == []


def test_the_forms_show_the_chosen_style_and_refuse_a_file_too_large_before_sending_it(
    live_server, page, console_errors, acme, settings
):
    settings.BULK_MAX_UPLOAD_BYTES = 1000
    ds = DataSourceFactory(tenant=acme.tenant, name="Records")
    log_in(page, live_server, acme.owner)
    page.goto(f"{live_server.url}/t/acme/datasources/{ds.pk}/")
    query = page.locator("#bulk-query-form")

    # Only the chosen pagination style's settings are shown.
    def shown():
        return [name for name in ("param", "size_param", "size", "start", "cursor_path")
                if query.locator(f"#query_{name}").is_visible()]  # fmt: skip

    assert shown() == []
    query.get_by_label("Pagination").select_option("cursor")
    assert shown() == ["param", "size_param", "size", "cursor_path"]
    assert query.locator("#query_param").get_attribute("placeholder") == "after"
    query.get_by_label("Pagination").select_option("offset")
    assert shown() == ["param", "size_param", "size", "start"]
    query.get_by_label("Pagination").select_option("link")
    assert shown() == ["size_param", "size"]

    # A file over the limit is refused here, under its field, and nothing is sent.
    upload = page.locator("#bulk-upload-form")
    upload.get_by_label("CSV file").set_input_files(
        {"name": "big.csv", "mimeType": "text/csv", "buffer": b"n\r\n" + b"1\r\n" * 600}
    )
    upload.get_by_label("Path").fill("/contacts")
    sent = []
    page.on("request", lambda request: "/bulk/upload/" in request.url and sent.append(request))
    upload.get_by_role("button", name="Start upload").click()
    file_input = upload.get_by_label("CSV file")
    assert file_input.get_attribute("aria-invalid") == "true"
    error = upload.locator("#upload_file_client_error")
    assert error.inner_text() == "The file is larger than 1000\xa0bytes: split it."
    assert "upload_file_client_error" in file_input.get_attribute("aria-describedby")
    assert page.evaluate("document.activeElement.id") == "upload_file"
    assert sent == [] and not BulkJob.objects.exists()

    # The server's errors land under their fields, and the first one has the focus.
    query.get_by_label("Pagination").select_option("cursor")
    query.get_by_label("Path:", exact=True).fill("/search/{project}")
    query.get_by_role("button", name="Start query").click()
    page.wait_for_url("**/bulk/query/")
    path = page.get_by_label("Path:", exact=True)
    assert path.get_attribute("aria-invalid") == "true"
    assert page.evaluate("document.activeElement.id") == "query_path"
    assert "A query's path has no placeholders." in page.locator("#query_path_error").inner_text()
    assert (
        "Say where each answer holds the next cursor"
        in page.locator("#query_cursor_path_error").inner_text()
    )
    assert page.get_by_label("Cursor path:").is_visible()
    assert path.input_value() == "/search/{project}"
    # (The 400 answer of the refused form is the only console message: Chromium logs it.)
    assert [e for e in console_errors if "status of 400" not in e] == []
