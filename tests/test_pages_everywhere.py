"""Every page a tenant admin meets, in headless Chromium at 1280 px and 390 px: none scrolls
sideways on a phone, none logs an error in the console or fails to load a file (the favicon
included), every one comes with the strict Content-Security-Policy and breaks none of it (no
violation reported), the tenant's navigation opens from a "Menu" button on a phone, the
dashboard says what to do next, and the header links to the API docs. The Django admin's pages
a superuser meets, and the lockout page, are held to the same policy.

With PLUGBOARD_SCREENSHOTS=<folder>, every page is also saved there as a full-page PNG per width,
for a person to look at."""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from apps.bulk.models import BulkJob, JobKind, JobStatus, RowFailure
from apps.events.models import DeliveryAttempt, Event, EventStatus
from apps.events.recording import event_record
from apps.items.services import item_create
from apps.tenants.models import Role
from apps.tenants.services import api_key_create, api_key_revoke
from tests.factories import DataSourceFactory, MembershipFactory, TenantFactory
from tests.support.browser import log_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 800}

# What overflows the viewport sideways, if anything: the page's width and the elements that
# stick out (their tag, id and classes), for a message that says where to look.
SIDEWAYS = """() => {
  const width = window.innerWidth, page = document.documentElement.scrollWidth;
  if (page <= width) return null;
  const out = [];
  for (const element of document.body.querySelectorAll('*')) {
    const r = element.getBoundingClientRect();
    if (r.width && r.right > width + 1 && !element.closest('.pbw-list')) {
      const parent = element.parentElement;
      if (parent && parent.getBoundingClientRect().right > width + 1) continue;
      out.push(element.tagName.toLowerCase() + (element.id ? '#' + element.id : '') +
               (element.className && typeof element.className === 'string'
                ? '.' + element.className.trim().split(/\\s+/).join('.') : '') +
               ` (right ${Math.round(r.right)})`);
    }
  }
  return `page ${page} px wide in ${width}: ` + out.slice(0, 6).join(', ');
}"""


STRICT_PARTS = ("default-src 'self'", "script-src 'self'", "style-src 'self'",
                "object-src 'none'", "base-uri 'none'", "frame-ancestors 'none'")  # fmt: skip
NEXT_FRAMES = "new Promise(done => requestAnimationFrame(() => requestAnimationFrame(done)))"
FAVICON = "/static/plugboard/favicon.svg"
ICON = (
    "() => { const link = document.querySelector('link[rel=icon]');"
    " return link && new URL(link.href).pathname; }"
)


@dataclass
class Visit:
    name: str
    path: str
    # What a person does there before we look: opens a panel, goes to the next step...
    act: Callable | None = None


# Every violation of the page's Content-Security-Policy, reported to the console (where Watch
# sees it) as well as by Chromium's own message.
REPORT_VIOLATIONS = """document.addEventListener('securitypolicyviolation', event => console.error(
  `CSP violation: ${event.effectiveDirective} blocked ${event.blockedURI || 'inline'}` +
  ` at ${event.sourceFile}:${event.lineNumber}`));"""


class Watch:
    """Errors in the console, uncaught exceptions, files that did not load, violations of the
    Content-Security-Policy, and documents served without the strict policy."""

    def __init__(self, page):
        self.problems: list[str] = []
        self.where = "?"
        self.documents = 0
        page.add_init_script(REPORT_VIOLATIONS)
        page.on("console", self._console)
        page.on("pageerror", lambda error: self.problems.append(f"{self.where}: uncaught {error}"))
        page.on("requestfailed", self._failed)
        page.on("response", self._response)

    def _failed(self, request):
        # A request the browser itself cancelled because the page moved on (a favicon still on
        # its way when the next page opens) is not a file that failed to load; one that did
        # not load answers an error status, which _response reports.
        if request.failure != "net::ERR_ABORTED":
            self.problems.append(f"{self.where}: {request.url} failed ({request.failure})")

    def _console(self, message):
        if message.type == "error":
            self.problems.append(f"{self.where}: console error {message.text} "
                                 f"({message.location.get('url')})")  # fmt: skip

    def _response(self, response):
        url = response.url
        if response.status >= 400 and ("/static/" in url or "favicon" in url):
            self.problems.append(f"{self.where}: {url} answered {response.status}")
        if response.request.resource_type == "document":  # redirects and the 429 lockout too
            self.documents += 1
            headers = response.headers
            policy = headers.get("content-security-policy", "")
            if not all(part in policy for part in STRICT_PARTS):
                self.problems.append(f"{self.where}: {url} came with CSP {policy!r}")
            if "camera=()" not in headers.get("permissions-policy", ""):
                self.problems.append(f"{self.where}: {url} came without the Permissions-Policy")


def send_try_it(page):
    panel = page.locator("#proxy-panel")
    panel.get_by_label("Path").fill("/_test/data/projects")
    panel.get_by_role("button", name="Send").click()
    expect(page.locator("#try-status")).to_contain_text("HTTP 200")
    page.locator("#try-result details summary").click()


def add_a_header(page):
    page.get_by_role("button", name="Add header").click()
    page.locator("#header-rows input[name=header_name]").last.fill(
        "X-Tenant-Region-With-A-Long-Name"
    )


def open_event(page):
    page.locator("details.pb-event-body summary").first.click()
    page.locator("details.pb-event-attempts summary").first.click()


def next_step(page):
    page.get_by_role("button", name="Next").click()
    page.wait_for_load_state()


def open_the_widget(page):
    expect(page.locator(".pbw-status")).to_have_text("3 options")
    page.get_by_role("combobox").click()


def create_a_key(page):
    page.get_by_label("Name").fill("Deploy script with a rather long name")
    page.get_by_label("Scope").select_option("admin")
    page.get_by_role("button", name="Create key").click()
    page.wait_for_load_state()


@pytest.fixture
def world(acme, upstream) -> list[Visit]:
    """Something on every page: a data source with headers and auth, an item on it, keys (one
    revoked), events with deliveries, a bulk job with failures; a second tenant for the picker."""
    tenant = acme.tenant
    MembershipFactory(user=acme.owner, tenant=TenantFactory(slug="globex", name="Globex"),
                      role=Role.ADMIN)  # fmt: skip
    ds = DataSourceFactory(
        tenant=tenant, name="Issue tracker", slug="tracker", base_url=upstream.url(),
        headers=[{"name": "X-Request-Source", "value": "plugboard-with-a-long-header-value"}],
        auth_mode="basic", auth_config={"username": "service-account"},
        secrets={"password": "s3cret"},
    )  # fmt: skip
    item_create(tenant=tenant, data={
        "key": "project", "name": "Project", "datasource": str(ds.pk),
        "path": "/_test/data/projects", "value": "{key}", "label": "{name}",
    })  # fmt: skip
    api_key_create(tenant=tenant, scope="widget", name="Intranet form",
                   origins=["https://intranet.example.com", "https://forms.example.com"])  # fmt: skip
    old, _ = api_key_create(tenant=tenant, scope="admin", name="Old deploy key")
    api_key_revoke(api_key=old)

    event_record(datasource=ds, source="webhook",
                 body=b'{"issue": {"key": "PB-1", "summary": "' + b"long " * 80 + b'"}}',
                 content_type="application/json")  # fmt: skip
    failed = Event.objects.create(
        tenant=tenant, datasource=ds, source="webhook", status=EventStatus.FAILED,
        body=b"{}", body_size=2, preview="{}", attempts=2,
    )  # fmt: skip
    for n in (1, 2):
        DeliveryAttempt.objects.create(
            event=failed, attempt=n, status_code=500, elapsed_ms=120,
            error="The callback answered HTTP 500: Internal Server Error from https://app.example.com/hooks/plugboard",
        )  # fmt: skip

    started = timezone.now() - timedelta(minutes=3)
    job = BulkJob.objects.create(
        tenant=tenant, datasource=ds, kind=JobKind.UPLOAD, method="POST",
        path="/_test/records/contacts-with-a-long-path-name?mode=upsert&notify=false",
        total=40, processed=40, succeeded=37, failed=3, status=JobStatus.COMPLETE,
        original_name="contacts-export-2024-final-version.csv", created_by_label="alice",
        started_at=started, finished_at=started + timedelta(seconds=50),
    )  # fmt: skip
    RowFailure.objects.bulk_create(
        RowFailure(job=job, row=n, status_code=422,
                   message=f"row {n}: email is not a valid address: not-an-address-{n}@@example")
        for n in (3, 17, 29)
    )  # fmt: skip

    ds_path = f"/t/acme/datasources/{ds.pk}/"
    return [
        Visit("tenant picker", "/?all=1"),
        Visit("dashboard", "/t/acme/"),
        Visit("data source list", "/t/acme/datasources/"),
        Visit("wizard, step 1", "/t/acme/datasources/new/"),
        Visit("wizard, step 2", "/t/acme/datasources/new/", next_step),
        Visit("configure, a header added", f"{ds_path}configure/", add_a_header),
        Visit("data source page", ds_path),
        Visit("data source page, Try it sent", ds_path, send_try_it),
        Visit("delete data source", f"{ds_path}delete/"),
        Visit("events log", f"{ds_path}events/", open_event),
        Visit("bulk jobs", f"{ds_path}bulk/"),
        Visit("bulk job", f"{ds_path}bulk/{job.pk}/"),
        Visit("bulk upload", f"{ds_path}bulk/upload/"),
        Visit("bulk query", f"{ds_path}bulk/query/"),
        Visit("new inbound URL", f"{ds_path}inbound-url/"),
        Visit("items list", "/t/acme/items/"),
        Visit("new item", "/t/acme/items/new/"),
        Visit("item edit", "/t/acme/items/project/"),
        Visit("demo", "/t/acme/items/project/demo/", open_the_widget),
        Visit("API keys", "/t/acme/api-keys/"),
        Visit("API keys, a key created", "/t/acme/api-keys/", create_a_key),
        Visit("change password", "/accounts/password/"),
        Visit("password changed", "/accounts/password/done/"),
        Visit("API docs", "/api/docs/"),
    ]


def look_at(page, live_server, watch, visits, viewport) -> list[str]:
    """Opens every page at ``viewport``; returns what scrolls sideways and the pages without
    Plugboard's favicon."""
    page.set_viewport_size(viewport)
    problems = []
    for visit in visits:
        watch.where = f"{visit.name} at {viewport['width']} px"
        page.goto(f"{live_server.url}{visit.path}")
        page.wait_for_load_state("networkidle")
        if visit.act:
            visit.act(page)
            page.wait_for_load_state("networkidle")
            page.evaluate(NEXT_FRAMES)  # what the page does after a change, it does in a frame
        if too_wide := page.evaluate(SIDEWAYS):
            problems.append(f"{watch.where}: {too_wide}")
        if not visit.path.startswith("/api/") and page.evaluate(ICON) != FAVICON:
            problems.append(f"{watch.where}: no favicon link")
        if folder := os.environ.get("PLUGBOARD_SCREENSHOTS"):
            name = re.sub(r"[^a-z0-9]+", "-", visit.name.lower()).strip("-")
            page.screenshot(path=f"{folder}/{viewport['width']}-{name}.png", full_page=True)
    return problems


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["1280px", "390px"])
def test_every_page_fits_and_logs_no_error(live_server, page, acme, world, viewport):
    watch = Watch(page)
    page.set_viewport_size(viewport)
    watch.where = f"login at {viewport['width']} px"
    page.goto(f"{live_server.url}/accounts/login/")
    page.wait_for_load_state("networkidle")
    problems = []
    if too_wide := page.evaluate(SIDEWAYS):
        problems.append(f"{watch.where}: {too_wide}")
    if page.evaluate(ICON) != FAVICON:
        problems.append(f"{watch.where}: no favicon link")
    log_in(page, live_server, acme.owner)

    problems += look_at(page, live_server, watch, world, viewport)

    icon = page.request.get(f"{live_server.url}{FAVICON}")
    assert icon.ok and icon.headers["content-type"].startswith("image/svg+xml")
    problems += watch.problems
    assert watch.documents >= len(world), watch.documents
    assert not problems, "\n".join(problems)


@pytest.fixture
def superuser(acme):
    from tests.factories import UserFactory

    return UserFactory(username="root", is_staff=True, is_superuser=True)


def test_the_admin_and_the_lockout_page_hold_the_strict_policy(live_server, page, acme,
                                                               superuser, settings):  # fmt: skip
    """The Django admin's own pages (a list with filters and actions, a change form with its
    widgets, the delete confirmation) and the lockout page break none of the policy."""
    watch = Watch(page)
    ds = DataSourceFactory(tenant=acme.tenant, slug="tracker")
    log_in(page, live_server, superuser)
    for name, path in [
        ("admin index", "/admin/"),
        ("admin tenants", "/admin/tenants/tenant/"),
        ("admin tenant", f"/admin/tenants/tenant/{acme.tenant.pk}/change/"),
        ("admin new user", "/admin/auth/user/add/"),
        ("admin users, searched", "/admin/auth/user/?q=ali"),
        ("admin user", f"/admin/auth/user/{acme.owner.pk}/change/"),
        ("admin data sources", "/admin/datasources/datasource/"),
        ("admin data source", f"/admin/datasources/datasource/{ds.pk}/change/"),
        ("admin password", f"/admin/auth/user/{acme.owner.pk}/password/"),
        ("admin delete", f"/admin/auth/user/{acme.owner.pk}/delete/"),
    ]:
        watch.where = name
        response = page.goto(f"{live_server.url}{path}")
        assert response.status == 200, (name, response.status)
        page.wait_for_load_state("networkidle")
    # The admin's own scripts run: its sidebar's filter and the action checkbox work.
    page.goto(f"{live_server.url}/admin/auth/user/")
    page.locator("#action-toggle").check()
    expect(page.locator(".action-counter")).to_contain_text("2 of 2 selected")

    settings.AXES_FAILURE_LIMIT = 1
    context = page.context
    context.clear_cookies()
    watch.where = "lockout page"
    page.goto(f"{live_server.url}/accounts/login/")
    page.get_by_label("Username").fill("alice")
    page.get_by_label("Password").fill("wrong")
    page.get_by_role("button", name="Log in").click()  # the one failure allowed: locked out
    page.wait_for_load_state("networkidle")
    expect(page.locator("body")).to_contain_text("Too many failed log-ins")
    # Not this test's point: the admin's pages link no icon (Chromium asks for /favicon.ico),
    # and the lockout is a 429, which Chromium reports in the console.
    expected = re.compile(r"/favicon\.ico|status of 429 .*/accounts/login/")
    problems = [p for p in watch.problems if not expected.search(p)]
    assert watch.documents >= 12, watch.documents
    assert not problems, "\n".join(problems)


def test_the_menu_button_opens_the_navigation_on_a_phone(live_server, page, acme):
    log_in(page, live_server, acme.owner)
    page.set_viewport_size(PHONE)
    page.goto(f"{live_server.url}/t/acme/datasources/")
    navigation = page.get_by_role("navigation", name="Tenant navigation")
    menu = page.get_by_role("button", name="Menu")
    expect(navigation).to_be_hidden()
    expect(menu).to_be_visible()
    assert menu.get_attribute("aria-expanded") == "false"
    assert menu.get_attribute("aria-controls") == "nav-sidebar"

    # By keyboard: the button is reached with Tab and opened with Enter.
    menu.focus()
    page.keyboard.press("Enter")
    expect(navigation).to_be_visible()
    assert menu.get_attribute("aria-expanded") == "true"
    link = navigation.get_by_role("link", name="Connected items")
    expect(link).to_be_visible()
    assert navigation.evaluate("nav => nav.getBoundingClientRect().right") <= PHONE["width"]
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    # Tab goes from the button into the navigation, Shift+Tab back.
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.closest('#nav-sidebar') !== null")
    page.keyboard.press("Shift+Tab")
    assert page.evaluate("document.activeElement.id") == "pb-menu-button"
    page.keyboard.press("Tab")  # the filter
    page.keyboard.press("Tab")  # the tenant's name, then its pages
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "Dashboard"
    # Escape closes it and gives the focus back to the button.
    page.keyboard.press("Escape")
    expect(navigation).to_be_hidden()
    assert menu.get_attribute("aria-expanded") == "false"
    assert page.evaluate("document.activeElement.id") == "pb-menu-button"

    # By touch: open, follow a link; the next page starts with the menu closed.
    menu.click()
    link.click()
    page.wait_for_url("**/t/acme/items/")
    expect(page.get_by_role("navigation", name="Tenant navigation")).to_be_hidden()
    expect(page.get_by_role("button", name="Menu")).to_have_attribute("aria-expanded", "false")

    # On a wide screen the sidebar is there and the Menu button is not; the sidebar's own
    # toggle says whether it is open.
    page.set_viewport_size(DESKTOP)
    expect(page.get_by_role("navigation", name="Tenant navigation")).to_be_visible()
    expect(page.get_by_role("button", name="Menu")).to_be_hidden()
    toggle = page.get_by_role("button", name="Toggle navigation")
    expect(toggle).to_have_attribute("aria-expanded", "true")
    expect(toggle).to_have_attribute("aria-controls", "nav-sidebar")
    toggle.click()
    expect(toggle).to_have_attribute("aria-expanded", "false")
    expect(page.get_by_role("navigation", name="Tenant navigation")).to_be_hidden()
    toggle.click()
    expect(toggle).to_have_attribute("aria-expanded", "true")


def test_the_empty_dashboard_says_what_to_do_next(live_server, page, acme):
    acme.admin_key.revoked_at = timezone.now()
    acme.admin_key.save(update_fields=["revoked_at"])
    log_in(page, live_server, acme.owner)
    page.goto(f"{live_server.url}/t/acme/")
    for name, lands_on in [
        ("Create a data source", "/t/acme/datasources/new/"),
        ("Create a connected item", "/t/acme/items/new/"),
        ("Create an API key", "/t/acme/api-keys/"),
    ]:
        button = page.get_by_role("link", name=name)
        expect(button).to_be_visible()
        assert button.get_attribute("href").startswith(lands_on), name
    page.get_by_role("link", name="Create a data source").click()
    page.wait_for_url("**/t/acme/datasources/new/")


def test_the_header_links_to_the_api_docs(live_server, page, acme):
    log_in(page, live_server, acme.owner)
    for viewport in (DESKTOP, PHONE):
        page.set_viewport_size(viewport)
        page.goto(f"{live_server.url}/t/acme/")
        docs = page.locator("#user-tools").get_by_role("link", name="API docs")
        expect(docs).to_be_visible()
    docs.click()
    page.wait_for_url("**/api/docs/")
    expect(page.locator(".swagger-ui .info .title")).to_contain_text("Plugboard API")
