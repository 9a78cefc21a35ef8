"""Issue 13 on the data source pages, in headless Chromium: errors under their fields after
"Test connection", the running test, skipped steps, the status and history after a test without
a reload, the delete page naming the items, and the wizard's Cancel."""

from __future__ import annotations

import re

import pytest

from apps.datasources.models import DataSource
from apps.items.models import ConnectedItem
from tests.factories import DataSourceFactory
from tests.support.browser import log_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

ERROR_RED = "rgb(186, 33, 33)"  # the admin's --error-fg (light theme)


@pytest.fixture
def signed_in(browser, live_server, acme):
    context = browser.new_context(ignore_https_errors=True, viewport={"width": 1280, "height": 900})
    context.set_default_timeout(20_000)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    log_in(page, live_server, acme.owner)
    yield page
    context.close()
    assert errors == []


def url(live_server, path: str) -> str:
    return f"{live_server.url}/t/acme/datasources/{path}"


def box(page, selector):
    return page.locator(selector).bounding_box()


def assert_error_under(page, field_id: str, text: str) -> None:
    field = page.locator(f"#{field_id}")
    error = page.locator(f"#{field_id}_error")
    assert field.get_attribute("aria-invalid") == "true"
    assert f"{field_id}_error" in (field.get_attribute("aria-describedby") or "").split()
    assert text in error.inner_text()
    # Under its field: below it, starting within its width, in the field's row.
    f, e = box(page, f"#{field_id}"), box(page, f"#{field_id}_error li")
    assert e["y"] >= f["y"] + f["height"] - 1
    assert f["x"] - 2 <= e["x"] <= f["x"] + f["width"]
    assert page.evaluate(
        "id => document.getElementById(id + '_error').closest('.form-row') === "
        "document.getElementById(id).closest('.form-row')",
        field_id,
    )
    # The red border of the admin look (kept while the field has the focus).
    border = "id => getComputedStyle(document.getElementById(id)).borderTopColor"
    assert page.evaluate(border, field_id) == ERROR_RED


def test_test_connection_puts_errors_under_their_fields_and_focuses_the_first(
    signed_in, live_server, acme
):
    page = signed_in
    ds = DataSourceFactory(tenant=acme.tenant)
    page.goto(url(live_server, f"{ds.pk}/configure/"))
    page.fill("#id_base_url", "http://insecure.example")
    page.fill("#id_ping__path", "https://elsewhere.example/x")
    page.fill("#id_timeout_seconds", "500")

    page.get_by_role("button", name="Test connection").click()
    page.wait_for_selector("#id_base_url_error")

    assert_error_under(page, "id_base_url", "Only https:// URLs are allowed.")
    assert_error_under(page, "id_timeout_seconds", "The timeout is 1 to 60 seconds.")
    assert page.locator("#id_ping__path").get_attribute("aria-invalid") == "true"
    # The first in the page's order has the focus; the other fields are not marked.
    assert page.evaluate("document.activeElement.id") == "id_base_url"
    assert page.locator("#id_name").get_attribute("aria-invalid") is None
    assert page.evaluate(
        "getComputedStyle(document.getElementById('id_timeout_seconds')).borderTopColor"
    ) == ERROR_RED  # fmt: skip
    # In words: labels, never keys.
    message = page.locator("#test-message").inner_text()
    assert "Base URL" in message and "Timeout (seconds)" in message
    assert not re.search(
        r"base_url|timeout_seconds|ping__path", page.locator("#test-results").inner_text()
    )

    # Fixed and tested again: the marks go.
    page.fill("#id_base_url", "https://api.example.com")
    page.fill("#id_timeout_seconds", "30")
    page.fill("#id_ping__path", "/x")
    page.get_by_role("button", name="Test connection").click()
    page.wait_for_function(
        "() => !document.querySelector('#test-results').hasAttribute('aria-busy')"
    )
    page.wait_for_function("() => document.querySelector('#test-message')?.textContent.length > 0")
    assert page.locator("[aria-invalid='true']").count() == 0
    assert page.locator(".form-row.errors, .form-row > ul.errorlist").count() == 0


def test_the_new_host_error_goes_on_the_secret_field(signed_in, live_server, acme, upstream):
    page = signed_in
    ds = DataSourceFactory(tenant=acme.tenant, base_url=upstream.url(), auth_mode="basic",
                           auth_config={"username": "elements"}, secrets={"password": "pw"})  # fmt: skip
    page.goto(url(live_server, f"{ds.pk}/configure/"))
    page.fill("#id_base_url", "https://elsewhere.example")

    page.get_by_role("button", name="Test connection").click()
    page.wait_for_selector("#id_basic__password_error")

    assert_error_under(page, "id_basic__password", "Type the password again")
    assert page.evaluate("document.activeElement.id") == "id_basic__password"
    assert page.locator("#id_base_url").get_attribute("aria-invalid") is None


def test_a_failed_save_focuses_the_first_error_under_its_field(signed_in, live_server, acme):
    page = signed_in
    ds = DataSourceFactory(tenant=acme.tenant)
    page.goto(url(live_server, f"{ds.pk}/configure/"))
    page.fill("#id_timeout_seconds", "0")
    page.get_by_role("button", name="Save", exact=True).click()
    page.wait_for_selector(".errornote")

    assert_error_under(page, "id_timeout_seconds", "The timeout is 1 to 60 seconds.")
    assert page.evaluate("document.activeElement.id") == "id_timeout_seconds"


def test_a_running_test_shows_it_is_running(signed_in, live_server, acme, upstream):
    page = signed_in
    ds = DataSourceFactory(tenant=acme.tenant, base_url=upstream.url(),
                           ping={"path": "/_test/data/projects"})  # fmt: skip
    page.goto(url(live_server, f"{ds.pk}/configure/"))
    page.get_by_role("button", name="Test connection").click()
    page.wait_for_function(
        "() => document.querySelector('#test-message').textContent.includes('OK')"
    )
    assert page.locator("#test-steps tbody tr").count() == 6

    page.fill("#id_ping__path", "/_test/data/projects?delay=2")
    page.locator("#test-connection").click()

    # At once: the previous result is gone, a spinner and the seconds show, Save and Test wait.
    assert page.locator("#test-message").inner_text() == ""
    assert page.locator("#test-steps").is_hidden()
    assert page.locator("#test-steps tbody tr").count() == 0
    assert page.locator("#test-running").is_visible()
    assert page.locator(".pb-spinner").is_visible()
    assert re.fullmatch(r"\d+ s", page.locator("#test-elapsed").inner_text())
    assert page.locator("#save-button").is_disabled()
    assert page.locator("#test-connection").is_disabled()
    page.wait_for_function("() => document.querySelector('#test-elapsed')?.textContent === '1 s'")
    assert page.locator("#save-button").is_disabled()
    # Enter in a field does not save meanwhile.
    page.locator("#id_name").press("Enter")
    assert page.url.endswith("/configure/")

    page.wait_for_function(
        "() => document.querySelector('#test-message').textContent.includes('OK')"
    )
    assert page.locator("#test-running").is_hidden()
    assert page.locator("#save-button").is_enabled()
    assert page.locator("#test-connection").is_enabled()
    assert page.locator("#test-steps tbody tr.pb-step-ok").count() == 6


def test_steps_never_reached_are_grey_and_skipped(signed_in, live_server, acme, upstream):
    page = signed_in
    closed = upstream.url().rsplit(":", 1)[0] + ":1"
    ds = DataSourceFactory(tenant=acme.tenant, base_url=closed)
    page.goto(url(live_server, f"{ds.pk}/"))
    page.get_by_role("button", name="Test connection").click()
    page.wait_for_function("() => document.querySelector('#test-message')?.textContent.length > 0")

    assert (
        page.locator("tr[data-step='connect']").get_attribute("class") == "pb-step pb-step-failed"
    )
    for name in ("tls", "auth", "request", "check"):
        row = page.locator(f"tr[data-step='{name}']")
        assert row.get_attribute("class") == "pb-step pb-step-skipped"
        assert "Skipped" in row.inner_text() and "Failed" not in row.inner_text()
        color = row.locator("td").first.evaluate("td => getComputedStyle(td).color")
        assert color != ERROR_RED
        r, g, b = (int(v) for v in re.findall(r"\d+", color)[:3])
        assert abs(r - g) < 24 and abs(g - b) < 24, color  # grey
    failed = page.locator("tr[data-step='connect'] td").first
    assert failed.evaluate("td => getComputedStyle(td).color") == ERROR_RED


def test_a_passing_test_updates_the_status_and_history_without_a_reload(
    signed_in, live_server, acme, upstream
):
    page = signed_in
    ds = DataSourceFactory(tenant=acme.tenant, base_url=upstream.url(), ping={"path": "/get"})
    page.goto(url(live_server, f"{ds.pk}/"))
    assert page.locator("#datasource-status").inner_text() == "Not tested yet"
    page.evaluate("window.stillThisPage = true")
    first_row = page.locator("#history-rows tr").first

    page.get_by_role("button", name="Test connection").click()
    page.wait_for_function(
        "() => document.querySelector('#datasource-status').textContent === 'OK'"
    )

    assert page.evaluate("window.stillThisPage") is True
    assert page.locator("#datasource-status").get_attribute("class") == "pb-status pb-status-ok"
    assert page.locator("#datasource-last-tested").inner_text().startswith("Last tested ")
    assert "Tested" in first_row.inner_text() and "passed" in first_row.inner_text()
    assert "alice" in first_row.inner_text()
    # The same as a reload shows.
    page.reload()
    assert page.locator("#datasource-status").inner_text() == "OK"
    assert "passed" in page.locator("#history-rows tr").first.inner_text()


def test_the_delete_page_names_the_items(signed_in, live_server, acme):
    page = signed_in
    ds = DataSourceFactory(tenant=acme.tenant, name="Jira Cloud")
    for key, name in (("issue", "Issue picker"), ("project", "Project picker")):
        ConnectedItem.objects.create(tenant=acme.tenant, datasource=ds, key=key, name=name,
                                     value="{key}", label="{name}")  # fmt: skip
    page.goto(url(live_server, f"{ds.pk}/"))
    page.get_by_role("link", name="Delete").click()

    impact = page.locator("#delete-impact")
    assert "2 connected items" in impact.inner_text()
    link = impact.get_by_role("link", name="Issue picker (issue)")
    assert link.get_attribute("href") == "/t/acme/items/issue/"
    assert impact.get_by_role("link", name="Project picker (project)").is_visible()
    page.get_by_role("button", name=re.compile("^Delete Jira Cloud")).click()
    assert page.locator("#id_confirm_name").get_attribute("aria-invalid") == "true"
    assert page.evaluate("document.activeElement.id") == "id_confirm_name"
    assert DataSource.objects.filter(pk=ds.pk).exists()

    page.get_by_label("Type its name to confirm").fill("Jira Cloud")
    page.get_by_role("button", name=re.compile("^Delete Jira Cloud")).click()

    page.wait_for_url(url(live_server, ""))
    assert "deleted, with 2 connected items" in page.locator(".messagelist").inner_text()
    assert not ConnectedItem.objects.exists()


def test_the_wizard_shows_its_steps_and_cancel_leaves_no_draft(signed_in, live_server, acme):
    page = signed_in
    page.goto(url(live_server, ""))
    page.get_by_role("link", name="Create data source").first.click()
    assert page.locator("#wizard-step").inner_text() == "Step 1 of 3: Type"
    page.get_by_role("button", name="Next").click()
    assert page.locator("#wizard-step").inner_text() == "Step 2 of 3: Name"
    assert page.locator("[aria-current='step']").inner_text().strip().endswith("Name")
    page.get_by_role("link", name="Back").click()
    assert page.locator("#wizard-step").inner_text() == "Step 1 of 3: Type"
    page.get_by_role("button", name="Next").click()
    page.get_by_label("Name").fill("Abandoned")
    page.get_by_role("button", name="Create").click()
    page.wait_for_url("**/configure/")
    assert page.locator("#wizard-step").inner_text() == "Step 3 of 3: Connection"
    assert page.locator("#id_timeout_seconds").input_value() == "30"

    page.goto(url(live_server, ""))
    assert page.get_by_role("link", name="Draft — finish setup").is_visible()
    page.get_by_role("link", name="Draft — finish setup").click()
    page.get_by_role("link", name="Cancel").click()
    page.get_by_role("button", name="Yes, cancel and delete the draft").click()

    page.wait_for_url(url(live_server, ""))
    assert not DataSource.objects.exists()
    assert "Setup cancelled" in page.locator(".messagelist").inner_text()
