"""The API keys page in headless Chromium: a new key copied to the clipboard (said in a live
region), the allowed origins only for widget keys, a refused key's field focused, revoking with
confirmation and revoked keys behind "Show revoked keys" (issue 13, points 7 and 8)."""

import hashlib

import pytest
from playwright.sync_api import expect

from apps.tenants.models import ApiKey
from apps.tenants.services import api_key_create
from tests.support.browser import log_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def signed_in(live_server, page, acme):
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=live_server.url)
    errors = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    log_in(page, live_server, acme.owner)
    page.js_errors = errors
    return page


def test_a_new_widget_key_is_copied_to_the_clipboard(signed_in, live_server, acme):
    page = signed_in
    page.goto(f"{live_server.url}/t/acme/api-keys/")
    expect(page.get_by_label("Scope")).to_have_value("widget")  # the safer default

    page.get_by_label("Name").fill("Jira widget")
    page.get_by_label("Allowed origins").fill("https://intranet.example.com")
    page.get_by_role("button", name="Create key").click()

    field = page.get_by_label("New API key")
    raw = field.input_value()
    key = ApiKey.objects.get(tenant=acme.tenant, name="Jira widget")
    assert hashlib.sha256(raw.encode()).hexdigest() == key.key_hash
    assert key.scope == "widget" and key.allowed_origins == ["https://intranet.example.com"]

    page.get_by_role("button", name="Copy").click()
    page.wait_for_function(
        "() => document.getElementById('new-api-key-copied').textContent.includes('Copied')"
    )
    assert page.evaluate("navigator.clipboard.readText()") == raw
    status = page.locator("#new-api-key-copied")
    assert status.get_attribute("role") == "status"
    assert status.get_attribute("aria-live") == "polite"
    assert page.js_errors == []


def test_origins_are_asked_for_widget_keys_only_and_a_refusal_focuses_the_field(
    signed_in, live_server, acme
):
    page = signed_in
    page.goto(f"{live_server.url}/t/acme/api-keys/")
    origins = page.get_by_label("Allowed origins")
    origins.fill("https://a.example")

    page.get_by_label("Scope").select_option("admin")
    expect(origins).to_be_hidden()
    page.get_by_label("Scope").select_option("widget")
    expect(origins).to_have_value("https://a.example")  # nothing typed is lost

    # Hidden for an admin key, the origins are not sent: the admin key is created.
    page.get_by_label("Scope").select_option("admin")
    page.get_by_label("Name").fill("automation")
    page.get_by_role("button", name="Create key").click()
    expect(page.get_by_label("New API key")).to_be_visible()
    assert ApiKey.objects.get(tenant=acme.tenant, name="automation").scope == "admin"

    # A widget key without an origin: refused, the sentence under the field, the field focused.
    page.get_by_label("Name").fill("no origin")
    page.get_by_role("button", name="Create key").click()
    origins = page.get_by_label("Allowed origins")
    expect(origins).to_be_focused()
    assert origins.get_attribute("aria-invalid") == "true"
    expect(page.locator("#id_allowed_origins_error")).to_contain_text(
        "A widget key needs at least one allowed origin"
    )
    expect(page.get_by_label("Name")).to_have_value("no origin")
    assert not ApiKey.objects.filter(name="no origin").exists()
    assert page.js_errors == []


def test_revoke_asks_then_the_key_goes_behind_show_revoked(signed_in, live_server, acme):
    page = signed_in
    api_key_create(tenant=acme.tenant, scope="admin", name="old automation")
    answers = iter([False, True])
    dialogs = []

    def answer(dialog):
        dialogs.append(dialog.message)
        dialog.accept() if next(answers) else dialog.dismiss()

    page.on("dialog", answer)
    page.goto(f"{live_server.url}/t/acme/api-keys/")
    revoke = page.get_by_role("button", name="Revoke old automation")

    revoke.click()
    assert dialogs == ["Revoke “old automation”? Requests using it will fail at once."]
    assert ApiKey.objects.get(name="old automation").revoked_at is None

    revoke.click()
    page.wait_for_load_state()
    expect(page.locator(".messagelist")).to_contain_text("API key “old automation” revoked.")
    table = page.locator("#api-key-list")
    expect(table).not_to_contain_text("old automation")

    page.get_by_role("link", name="Show revoked keys (1)").click()
    row = table.locator("tr", has_text="old automation")
    expect(row).to_have_class("pb-revoked")
    expect(row.locator(".pb-status")).to_have_text("Revoked")
    expect(row.get_by_role("button")).to_have_count(0)
    page.get_by_role("link", name="Hide revoked keys").click()
    expect(table).not_to_contain_text("old automation")
    assert page.js_errors == []
