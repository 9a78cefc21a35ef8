"""The widget in headless Chromium, embedded in a plain HTML page served from another origin:
dependent fields reload, typing filters, everything works by keyboard, CORS only for the
widget key's origins; the open list overlays the page whatever clips the field; the widget runs
under a strict Content-Security-Policy."""

import functools
import http.server
import json
import re
import threading
from pathlib import Path

import pytest
from playwright.sync_api import expect

from apps.items.services import item_create
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


# Fields whose rows clip what overflows them (as the Django admin's .form-row does), one of
# them in a bar fixed at the bottom of the viewport; no inline style, so that a strict CSP holds.
CLIPPED_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Order form</title>
<link rel="stylesheet" href="page.css"></head>
<body>
  <h1>New order</h1>
  <div class="row"><label for="pick">Pick</label>
    <select id="pick" name="pick" data-plugboard-item="many" data-plugboard-api="{api}"
            data-plugboard-key="{key}"></select></div>
  <div class="tall"></div>
  <div class="row bottom"><label for="low">Low</label>
    <select id="low" name="low" data-plugboard-item="many" data-plugboard-api="{api}"
            data-plugboard-key="{key}"></select></div>
  <script src="{widget}" defer></script>
</body></html>"""
PAGE_CSS = """
.row { overflow: hidden; height: 2.5em; padding: 4px; border: 1px solid #ccc; }
.tall { height: 150vh; }
.bottom { position: fixed; left: 8px; right: 8px; bottom: 8px; background: #fff; }
"""

# Every corner of the element (inset by 2 px) shows the element itself: nothing clips or
# covers it. Returns what is wrong, if anything.
UNCOVERED_CORNERS = """list => {
  const r = list.getBoundingClientRect();
  if (r.width < 40 || r.height < 40) return [`too small: ${r.width}x${r.height}`];
  const corners = [[r.left + 2, r.top + 2], [r.right - 2, r.top + 2],
                   [r.left + 2, r.bottom - 2], [r.right - 2, r.bottom - 2]];
  return corners.map(([x, y]) => [x, y, document.elementFromPoint(x, y)])
    .filter(([x, y, found]) => !(found && list.contains(found)))
    .map(([x, y, found]) => `${x},${y} shows ${found ? found.outerHTML.slice(0, 80) : "nothing"}`);
}"""

NEXT_FRAME = "new Promise(done => requestAnimationFrame(() => requestAnimationFrame(done)))"


class StaticHandler(http.server.SimpleHTTPRequestHandler):
    """Serves a folder; ``_headers.json`` there maps a path ("/form.html") to extra headers."""

    def end_headers(self):
        extra = Path(self.directory) / "_headers.json"
        if extra.exists():
            for name, value in json.loads(extra.read_text()).get(self.path, {}).items():
                self.send_header(name, value)
        super().end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def other_origin(tmp_path):
    """A static web server on another origin than Plugboard's, stopped after the test."""
    handler = functools.partial(StaticHandler, directory=str(tmp_path))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield tmp_path, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def embed(folder, origin, live_server, key, template=PAGE, headers=None):
    """Writes the third-party page (and its stylesheet) and returns its address; ``headers``
    are sent with the page."""
    (folder / "form.html").write_text(
        template.format(
            api=f"{live_server.url}/api/v1",
            key=key,
            widget=f"{live_server.url}/static/plugboard/widget.js",
        )
    )
    (folder / "page.css").write_text(PAGE_CSS)
    (folder / "_headers.json").write_text(json.dumps({"/form.html": headers or {}}))
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
        "() => document.querySelector('#project + .pbw .pbw-status').textContent === '3 options'"
    )
    assert status_of(page, "issue").inner_text() == "Choose project first."
    assert issue.get_attribute("aria-disabled") == "true"
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
        "() => document.querySelector('#project + .pbw .pbw-status').textContent === '1 option'"
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
        "() => document.querySelector('#issue + .pbw .pbw-status').textContent === '1 option'"
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
        "() => document.querySelector('#project + .pbw .pbw-status').textContent === '1 option'"
    )
    page.keyboard.press("ArrowDown")
    page.keyboard.press("Enter")
    assert page.locator("#issue").input_value() == ""
    page.wait_for_function(
        "() => document.querySelector('#issue + .pbw .pbw-status').textContent === '5 options'"
    )
    page.keyboard.press("Tab")
    page.keyboard.type("task 4")
    page.wait_for_function(
        "() => document.querySelector('#issue + .pbw .pbw-status').textContent === '1 option'"
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

    page.wait_for_function(
        "() => document.querySelector('#project + .pbw').dataset.state === 'error'"
    )
    assert "unreachable" in status_of(page, "project").inner_text()
    assert page.locator("#project option").count() == 0


def test_the_demo_page_works_with_the_session(live_server, page, acme, issues):
    log_in(page, live_server, acme.owner)
    page.goto(f"{live_server.url}/t/acme/items/issue/demo/")

    assert "Choose project first." in page.locator(".pbw-status").inner_text()
    page.fill("#dep-project", "PB")
    page.wait_for_function(
        "() => document.querySelector('.pbw-status').textContent === '5 options'"
    )
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
        "() => document.querySelector('#preview-status').textContent.includes('5 options')"
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
    page.wait_for_function(
        "() => document.querySelector('.pbw-status')?.textContent === '1 option'"
    )
    page.get_by_role("combobox").press("ArrowDown")
    page.get_by_role("combobox").press("Enter")
    assert page.locator("#demo-value").inner_text() == "OPS-1"


@pytest.fixture
def many(acme, source):
    """An item with 40 options, more than the open list shows at once."""
    return item_create(tenant=acme.tenant, data={
        "key": "many", "name": "Many", "datasource": str(source.pk),
        "path": "/_test/data/many?n=40", "value": "{id}", "label": "{name}",
    })  # fmt: skip


UNREACHABLE = (
    "Options could not be loaded: Plugboard is unreachable or refused this page "
    "(check the item key and the widget key's allowed origins)."
)
VIEWPORTS = [{"width": 1280, "height": 720}, {"width": 390, "height": 844}]


def wait_for_status(page, select_id, text):
    expect(status_of(page, select_id)).to_have_text(text, timeout=15_000)


def listbox_of(page, combo):
    return page.locator(f"#{combo.get_attribute('aria-controls')}")


def box(locator):
    return locator.evaluate(
        "e => { const r = e.getBoundingClientRect();"
        " return {top: r.top, bottom: r.bottom, left: r.left, right: r.right}; }"
    )


def assert_list_overlays(page, select_id):
    """Opened by keyboard, then by mouse, the list shows whole, as wide as the field."""
    combo = combobox(page, select_id)
    listbox = listbox_of(page, combo)
    combo.focus()
    page.keyboard.press("ArrowDown")
    assert listbox.is_visible()
    assert listbox.evaluate(UNCOVERED_CORNERS) == []
    field, shown = box(combo), box(listbox)
    assert abs((shown["right"] - shown["left"]) - (field["right"] - field["left"])) < 1
    page.keyboard.press("Escape")
    assert listbox.is_hidden()
    page.locator(f"#{select_id} + .pbw .pbw-toggle").click()
    assert listbox.is_visible()
    assert listbox.evaluate(UNCOVERED_CORNERS) == []
    page.keyboard.press("Escape")


def assert_arrows_keep_the_field_in_place(page, select_id):
    """Arrowing through the options scrolls the list only: the field stays where it was."""
    combo = combobox(page, select_id)
    combo.focus()
    before = box(combo)
    for _ in range(30):
        page.keyboard.press("ArrowDown")
    assert box(combo) == before
    assert before["top"] >= 0 and before["bottom"] <= page.viewport_size["height"]
    active = page.locator(f"#{combo.get_attribute('aria-activedescendant')}")
    assert active.inner_text() == "Option 29"
    shown, option = box(listbox_of(page, combo)), box(active)
    assert shown["top"] <= option["top"] and option["bottom"] <= shown["bottom"]
    page.keyboard.press("Escape")


def test_the_open_list_overlays_the_demo_page(live_server, page, acme, many):
    log_in(page, live_server, acme.owner)
    page.goto(f"{live_server.url}/t/acme/items/many/demo/")
    wait_for_status(page, "demo-field", "40 options")
    for viewport in VIEWPORTS:
        page.set_viewport_size(viewport)
        assert_list_overlays(page, "demo-field")
        assert_arrows_keep_the_field_in_place(page, "demo-field")


def test_the_open_list_overlays_a_page_that_clips_the_field(
    page, live_server, acme, many, other_origin
):
    folder, origin = other_origin
    _, key = api_key_create(tenant=acme.tenant, scope="widget", origins=[origin])
    page.goto(embed(folder, origin, live_server, key, CLIPPED_PAGE))
    wait_for_status(page, "pick", "40 options")
    wait_for_status(page, "low", "40 options")
    for viewport in VIEWPORTS:
        page.set_viewport_size(viewport)
        page.evaluate("window.scrollTo(0, 0)")
        assert_list_overlays(page, "pick")
        assert_arrows_keep_the_field_in_place(page, "pick")
        # At the bottom of the viewport the list opens above the field.
        assert_list_overlays(page, "low")
        low = combobox(page, "low")
        low.focus()
        page.keyboard.press("ArrowDown")
        assert box(listbox_of(page, low))["bottom"] <= box(low)["top"]
        page.keyboard.press("Escape")

    # The open list follows its field when the page scrolls and when the viewport narrows.
    pick = combobox(page, "pick")
    listbox = listbox_of(page, pick)
    pick.focus()
    page.keyboard.press("ArrowDown")
    page.evaluate("window.scrollBy(0, 30)")
    page.evaluate(NEXT_FRAME)
    assert 0 <= box(listbox)["top"] - box(pick)["bottom"] <= 4
    page.set_viewport_size({"width": 200, "height": 600})
    page.evaluate(NEXT_FRAME)
    field, shown = box(pick), box(listbox)
    assert shown["left"] == field["left"] and shown["right"] == field["right"]
    assert listbox.evaluate(UNCOVERED_CORNERS) == []


def assert_caret_centred(page, select_id):
    field = box(combobox(page, select_id))
    caret = box(page.locator(f"#{select_id} + .pbw .pbw-toggle"))
    assert abs((field["top"] + field["bottom"]) / 2 - (caret["top"] + caret["bottom"]) / 2) <= 1
    assert field["left"] < caret["left"] and caret["right"] <= field["right"]


def test_the_caret_is_centred_on_the_field(page, live_server, acme, many, other_origin):
    folder, origin = other_origin
    _, key = api_key_create(tenant=acme.tenant, scope="widget", origins=[origin])
    page.goto(embed(folder, origin, live_server, key, CLIPPED_PAGE))
    wait_for_status(page, "pick", "40 options")
    for viewport in VIEWPORTS:
        page.set_viewport_size(viewport)
        assert_caret_centred(page, "pick")
        assert_caret_centred(page, "low")

    # On the demo page, in the admin look's form rows, too.
    log_in(page, live_server, acme.owner)
    page.goto(f"{live_server.url}/t/acme/items/many/demo/")
    wait_for_status(page, "demo-field", "40 options")
    for viewport in VIEWPORTS:
        page.set_viewport_size(viewport)
        assert_caret_centred(page, "demo-field")


def test_aria_selected_marks_the_active_option(page, live_server, acme, many, other_origin):
    folder, origin = other_origin
    _, key = api_key_create(tenant=acme.tenant, scope="widget", origins=[origin])
    page.goto(embed(folder, origin, live_server, key, CLIPPED_PAGE))
    wait_for_status(page, "pick", "40 options")
    combo = combobox(page, "pick")
    listbox = listbox_of(page, combo)
    combo.focus()
    for label in ("Option 0", "Option 1", "Option 2"):
        page.keyboard.press("ArrowDown")
        selected = listbox.locator("[role=option][aria-selected=true]")
        assert selected.count() == 1
        assert selected.get_attribute("id") == combo.get_attribute("aria-activedescendant")
        assert selected.inner_text() == label
        assert listbox.locator("[role=option][aria-selected=false]").count() == 39
    page.keyboard.press("Enter")
    assert page.locator("#pick").input_value() == "2"

    # Reopened, the active option is the selected one; the chosen value is only marked.
    page.keyboard.press("ArrowDown")
    assert listbox.locator("[aria-selected=true]").inner_text() == "Option 0"
    assert listbox.locator(".pbw-chosen").inner_text() == "Option 2"
    page.keyboard.press("Escape")
    assert listbox.locator("[aria-selected=true]").count() == 0


def test_the_choose_first_message_is_reachable_by_keyboard(
    page, live_server, acme, projects, issues, other_origin
):
    folder, origin = other_origin
    _, key = api_key_create(tenant=acme.tenant, scope="widget", origins=[origin])
    page.goto(embed(folder, origin, live_server, key))
    wait_for_status(page, "project", "3 options")

    page.keyboard.press("Tab")
    page.keyboard.press("Tab")  # past the project, onto the issue that waits for it
    issue = combobox(page, "issue")
    assert page.evaluate("document.activeElement.id") == issue.get_attribute("id")
    assert issue.get_attribute("aria-disabled") == "true"
    assert not issue.is_editable()
    expect(issue).to_have_accessible_description("Choose project first.")
    page.keyboard.type("x")
    page.keyboard.press("ArrowDown")
    assert issue.input_value() == ""
    assert issue.get_attribute("aria-expanded") == "false"

    # Once the project is chosen, the issue field is usable.
    page.keyboard.press("Shift+Tab")
    page.keyboard.press("ArrowDown")
    page.keyboard.press("Enter")
    wait_for_status(page, "issue", "5 options")
    assert issue.get_attribute("aria-disabled") is None
    assert issue.is_editable()


def test_retry_sits_outside_the_live_region(
    page, live_server, acme, projects, issues, other_origin
):
    folder, origin = other_origin
    _, key = api_key_create(tenant=acme.tenant, scope="widget", origins=[origin])
    page.goto(embed(folder, origin, live_server, key))
    # No tenant has this item, so no origin may read its answer: a refusal, told as such.
    wait_for_status(page, "broken", UNREACHABLE)

    retry = page.get_by_role("button", name="Retry")
    assert retry.count() == 1
    assert retry.evaluate("button => button.closest('[role=status]') === null")
    retry.click()
    page.wait_for_function(
        "() => document.querySelector('#broken + .pbw').dataset.state === 'error'"
    )
    assert status_of(page, "broken").inner_text() == UNREACHABLE
    assert retry.is_visible()


def test_an_html_error_page_shows_the_http_status(
    page, live_server, acme, projects, issues, other_origin
):
    """An answer that is not Plugboard's JSON (a proxy's error or sign-in page) is reported by
    its HTTP status; "unreachable" is for no answer at all."""
    folder, origin = other_origin
    _, key = api_key_create(tenant=acme.tenant, scope="widget", origins=[origin])
    proxy = {"answer": (502, "<html><body><h1>502 Bad Gateway</h1><hr>nginx</body></html>")}

    def through_proxy(route):
        if route.request.method != "GET" or proxy["answer"] == "pass":
            route.continue_()
        elif proxy["answer"] == "down":
            route.abort("connectionrefused")
        else:
            status, html = proxy["answer"]
            cors = {"Access-Control-Allow-Origin": origin}
            route.fulfill(status=status, content_type="text/html", headers=cors, body=html)

    page.route(re.compile(r".*/api/v1/items/project/options/.*"), through_proxy)
    page.goto(embed(folder, origin, live_server, key))
    wait_for_status(page, "project", "Options could not be loaded (HTTP 502).")
    assert page.locator("#project + .pbw").get_attribute("data-state") == "error"
    retry = page.locator("#project + .pbw .pbw-retry")

    proxy["answer"] = (200, "<html><body><form>Sign in to continue</form></body></html>")
    retry.click()
    wait_for_status(page, "project", "Options could not be loaded (HTTP 200).")

    proxy["answer"] = "down"
    retry.click()
    wait_for_status(page, "project", UNREACHABLE)

    proxy["answer"] = "pass"
    retry.click()
    wait_for_status(page, "project", "3 options")


ODD_ID_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Odd ids</title></head>
<body>
  <label for='order:project.2"x'>Odd project</label>
  <select id='order:project.2"x' data-plugboard-item="project" data-plugboard-api="{api}"
          data-plugboard-key="{key}"></select>
  <script src="{widget}" defer></script>
</body></html>"""


def test_a_select_with_an_odd_id_gets_its_label(page, live_server, acme, projects, other_origin):
    folder, origin = other_origin
    _, key = api_key_create(tenant=acme.tenant, scope="widget", origins=[origin])
    page.goto(embed(folder, origin, live_server, key, ODD_ID_PAGE))

    combo = page.get_by_role("combobox", name="Odd project")
    expect(combo).to_have_accessible_description("3 options")
    assert combo.evaluate("element => element.tagName") == "INPUT"  # not the hidden <select>
    page.get_by_text("Odd project").click()
    assert page.evaluate("document.activeElement.getAttribute('role')") == "combobox"


def test_the_widget_runs_under_a_strict_csp(page, live_server, acme, many, other_origin):
    folder, origin = other_origin
    _, key = api_key_create(tenant=acme.tenant, scope="widget", origins=[origin])
    plugboard = live_server.url
    csp = (
        f"default-src 'none'; script-src {plugboard}; style-src 'self' {plugboard}; "
        f"connect-src {plugboard}"
    )
    complaints = []
    page.on(
        "console",
        lambda message: (
            "Content Security Policy" in message.text and complaints.append(message.text)
        ),
    )
    page.add_init_script(
        "document.addEventListener('securitypolicyviolation', event => (window.violations ||= [])"
        ".push(event.violatedDirective + ' ' + event.blockedURI));"
    )
    page.goto(
        embed(folder, origin, live_server, key, CLIPPED_PAGE, {"Content-Security-Policy": csp})
    )
    wait_for_status(page, "pick", "40 options")
    combo = combobox(page, "pick")
    combo.focus()
    page.keyboard.press("ArrowDown")
    listbox = listbox_of(page, combo)
    assert listbox.evaluate("list => getComputedStyle(list).position") in ("absolute", "fixed")
    assert listbox.evaluate(UNCOVERED_CORNERS) == []
    # The select stays in the form but out of sight, hidden by the widget's stylesheet.
    assert page.locator("#pick").evaluate("select => select.getBoundingClientRect().width") <= 1
    assert page.locator("link[rel=stylesheet][href$='/plugboard/widget.css']").count() == 1
    page.keyboard.press("Escape")
    assert page.evaluate("window.violations || []") == []
    assert complaints == []
