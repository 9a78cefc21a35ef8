"""The widget in headless Chromium, embedded in a plain HTML page served from another origin:
dependent fields reload, typing filters, everything works by keyboard, CORS only for the
widget key's origins."""

import functools
import http.server
import threading

import pytest

from apps.tenants.services import api_key_create
from tests.support.browser import log_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Ticket form</title></head>
<body>
  <h1>New ticket</h1>
  <form id="ticket">
    <label for="project">Project</label>
    <select id="project" name="project" data-plugboard-item="project" data-plugboard-api="{api}"
            data-plugboard-key="{key}"></select>
    <label for="issue">Issue</label>
    <select id="issue" name="issue" data-plugboard-item="issue" data-plugboard-api="{api}"
            data-plugboard-key="{key}" data-plugboard-depends="project=#project"></select>
    <label for="broken">Broken</label>
    <select id="broken" name="broken" data-plugboard-item="no-such-item" data-plugboard-api="{api}"
            data-plugboard-key="{key}"></select>
  </form>
  <script src="{widget}" defer></script>
</body></html>"""


@pytest.fixture
def other_origin(tmp_path):
    """A static web server on another origin than Plugboard's, stopped after the test."""
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(tmp_path))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield tmp_path, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def embed(folder, origin, live_server, key):
    (folder / "form.html").write_text(
        PAGE.format(
            api=f"{live_server.url}/api/v1",
            key=key,
            widget=f"{live_server.url}/static/plugboard/widget.js",
        )
    )
    return f"{origin}/form.html"


def status_of(page, select_id):
    return page.locator(f"#{select_id} + .pbw .pbw-status")


def combobox(page, select_id):
    return page.locator(f"#{select_id} + .pbw [role=combobox]")


def test_pick_values_by_keyboard_across_origins(
    page, live_server, acme, projects, issues, other_origin
):
    folder, origin = other_origin
    _, key = api_key_create(tenant=acme.tenant, scope="widget", origins=[origin])
    page.goto(embed(folder, origin, live_server, key))

    project = combobox(page, "project")
    issue = combobox(page, "issue")
    page.wait_for_function(
        "document.querySelector('#project + .pbw .pbw-status').textContent === '3 options'"
    )
    assert status_of(page, "issue").inner_text() == "Choose project first."
    assert issue.is_disabled()
    # ARIA combobox pattern
    assert project.get_attribute("aria-autocomplete") == "list"
    assert project.get_attribute("aria-expanded") == "false"
    listbox_id = project.get_attribute("aria-controls")
    assert page.locator(f"#{listbox_id}").get_attribute("role") == "listbox"
    assert page.get_by_role("combobox", name="Project").count() == 1

    page.keyboard.press("Tab")  # from the page into the first field
    assert page.evaluate("document.activeElement.getAttribute('role')") == "combobox"
    page.keyboard.type("oper")  # type-ahead: the API's q
    page.wait_for_function(
        "document.querySelector('#project + .pbw .pbw-status').textContent === '1 option'"
    )
    assert project.get_attribute("aria-expanded") == "true"
    page.keyboard.press("ArrowDown")
    active = project.get_attribute("aria-activedescendant")
    assert page.locator(f"#{active}").inner_text() == "Operations"
    page.keyboard.press("Enter")
    assert page.locator("#project").input_value() == "OPS"
    assert project.input_value() == "Operations"

    # The dependent field reloads for the chosen project.
    page.wait_for_function(
        "document.querySelector('#issue + .pbw .pbw-status').textContent === '1 option'"
    )
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.id") == issue.get_attribute("id")
    page.keyboard.press("ArrowDown")
    page.keyboard.press("Enter")
    assert page.locator("#issue").input_value() == "OPS-1"

    # Changing the project clears the issue and loads that project's issues.
    page.keyboard.press("Shift+Tab")
    page.keyboard.press("Control+a")
    page.keyboard.type("plug")
    page.wait_for_function(
        "document.querySelector('#project + .pbw .pbw-status').textContent === '1 option'"
    )
    page.keyboard.press("ArrowDown")
    page.keyboard.press("Enter")
    assert page.locator("#issue").input_value() == ""
    page.wait_for_function(
        "document.querySelector('#issue + .pbw .pbw-status').textContent === '5 options'"
    )
    page.keyboard.press("Tab")
    page.keyboard.type("task 4")
    page.wait_for_function(
        "document.querySelector('#issue + .pbw .pbw-status').textContent === '1 option'"
    )
    page.keyboard.press("ArrowDown")
    page.keyboard.press("Enter")
    assert page.locator("#issue").input_value() == "PB-4"
    assert issue.input_value() == "PB-4 – Plugboard task 4"
    page.keyboard.press("Escape")
    assert issue.get_attribute("aria-expanded") == "false"

    # The form submits the real selects' values.
    values = page.evaluate("Object.fromEntries(new FormData(document.getElementById('ticket')))")
    assert values["project"] == "PB" and values["issue"] == "PB-4"

    # An unknown item: no tenant has it, so no origin may read its answer (CORS preflights
    # are answered only for the origins of the item's owners); the widget says it failed.
    assert "could not be loaded" in status_of(page, "broken").inner_text()
    assert page.locator("#broken + .pbw .pbw-retry").is_visible()


def test_a_key_for_another_origin_loads_nothing(
    page, live_server, acme, projects, issues, other_origin
):
    folder, origin = other_origin
    _, key = api_key_create(
        tenant=acme.tenant, scope="widget", origins=["https://intranet.example"]
    )
    page.goto(embed(folder, origin, live_server, key))

    page.wait_for_function("document.querySelector('#project + .pbw').dataset.state === 'error'")
    assert "unreachable" in status_of(page, "project").inner_text()
    assert page.locator("#project option").count() == 0


def test_the_demo_page_works_with_the_session(live_server, page, acme, issues):
    log_in(page, live_server, acme.owner)
    page.goto(f"{live_server.url}/t/acme/items/issue/demo/")

    assert "Choose project first." in page.locator(".pbw-status").inner_text()
    page.fill("#dep-project", "PB")
    page.wait_for_function("document.querySelector('.pbw-status').textContent === '5 options'")
    page.get_by_role("combobox").click()
    page.get_by_role("option", name="PB-3 – Plugboard task 3").click()
    assert page.locator("#demo-value").inner_text() == "PB-3"


def test_an_admin_creates_an_item_and_previews_it_in_the_browser(live_server, page, acme, source):
    log_in(page, live_server, acme.owner)
    page.get_by_role("navigation", name="Tenant navigation").get_by_role(
        "link", name="Connected items"
    ).click()
    page.get_by_role("link", name="Create connected item").first.click()

    page.get_by_label("Key:", exact=True).fill("issue")
    page.get_by_label("Name:", exact=True).fill("Issue")
    page.get_by_label("Data source").select_option(label="Tracker")
    page.get_by_label("Path:", exact=True).fill("/_test/data/issues?project={project}")
    page.get_by_label("Results path").fill("data.items")
    page.get_by_label("Value:", exact=True).fill("{key}")
    page.get_by_label("Label:", exact=True).fill("{key} – {fields.summary}")
    # The dependency's input appears as soon as the placeholder is typed.
    page.get_by_label("project").fill("PB")
    page.get_by_role("button", name="Preview").click()
    page.wait_for_function(
        "document.querySelector('#preview-status').textContent.includes('5 options')"
    )
    assert (
        page.locator("#preview-select option")
        .first.inner_text()
        .startswith("PB-1 – Plugboard task 1")
    )
    assert '"summary": "Plugboard task 1"' in page.locator("#preview-raw").inner_text()

    page.get_by_role("button", name="Save").click()
    page.wait_for_url(f"{live_server.url}/t/acme/items/issue/")
    assert "created" in page.locator(".messagelist").inner_text()
    page.get_by_role("link", name="Widget demo").click()
    page.fill("#dep-project", "OPS")
    page.wait_for_function("document.querySelector('.pbw-status').textContent === '1 option'")
    page.get_by_role("combobox").press("ArrowDown")
    page.get_by_role("combobox").press("Enter")
    assert page.locator("#demo-value").inner_text() == "OPS-1"
