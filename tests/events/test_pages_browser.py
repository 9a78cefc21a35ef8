"""The events pages in headless Chromium: copying the inbound URL (said in a live region),
reading an event's body in the log, the polling settings shown only when polling is ticked, and
a generated signature key shown once."""

import pytest

from apps.datasources.models import DataSource
from apps.events.recording import event_record
from tests.factories import DataSourceFactory
from tests.support.browser import log_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def signed_in(live_server, page, acme):
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=live_server.url)
    dialogs = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    log_in(page, live_server, acme.owner)
    page.dialogs = dialogs
    return page


def test_copy_the_inbound_url_then_read_an_event_in_the_log(signed_in, live_server, acme):
    page = signed_in
    ds = DataSourceFactory(tenant=acme.tenant, name="Jira")
    event_record(datasource=ds, source="webhook", body=b"<script>alert(1)</script>",
                 content_type="text/html")  # fmt: skip

    page.goto(f"{live_server.url}/t/acme/datasources/{ds.pk}/")
    field = page.get_by_label("Inbound URL")
    assert field.input_value() == f"{live_server.url}/api/v1/inbound/{ds.inbound_token}"
    page.locator("#events-panel").get_by_role("button", name="Copy").click()
    status = page.locator("#inbound-url-copied")
    page.wait_for_function("() => document.querySelector('#inbound-url-copied')?.textContent"
                           ".includes('Copied')")  # fmt: skip
    assert status.get_attribute("aria-live") == "polite"
    assert page.evaluate("navigator.clipboard.readText()") == field.input_value()

    page.get_by_role("link", name="Events log").click()
    page.wait_for_url(f"**/datasources/{ds.pk}/events/")
    body = page.locator("details.pb-event-body pre")
    assert not body.is_visible()
    page.locator("details.pb-event-body summary").first.click()
    assert body.is_visible()
    assert body.inner_text() == "<script>alert(1)</script>"  # shown as text, never run
    assert page.dialogs == []


def test_polling_settings_toggle_and_a_generated_key_is_shown_once(signed_in, live_server, acme):
    page = signed_in
    ds = DataSourceFactory(tenant=acme.tenant, name="Jira")
    configure = f"{live_server.url}/t/acme/datasources/{ds.pk}/configure/"

    page.goto(configure)
    group = page.locator("#group-events-poll")
    assert not group.is_visible()
    page.get_by_label("Polling").check()
    assert group.is_visible() and page.get_by_label("Interval (seconds)").input_value() == "300"
    page.get_by_label("Polling").uncheck()
    assert not group.is_visible()
    # Something typed: "Generate" asks before leaving it (the test dismisses: nothing happens).
    page.get_by_label("Callback URL").fill("https://app.example.com/hooks")
    page.get_by_role("button", name="Generate a new signature key").click()
    assert page.dialogs and "not saved" in page.dialogs[0]
    assert page.url == configure
    ds.refresh_from_db()
    assert not ds.event_secrets

    page.goto(configure)
    page.get_by_role("button", name="Generate a new signature key").click()
    page.wait_for_url(f"**/datasources/{ds.pk}/signature-key/")
    key = page.get_by_label("New signature key").input_value()
    assert key.startswith("whsec_")
    assert DataSource.objects.get(pk=ds.pk).event_secrets["signature_key"] == key
    assert "will not be shown again" in page.content()
    page.get_by_role("button", name="Copy").click()
    page.wait_for_function("() => document.querySelector('#new-signature-key-copied')?.textContent"
                           ".includes('Copied')")  # fmt: skip
    assert page.evaluate("navigator.clipboard.readText()") == key

    page.get_by_role("link", name="Back to Configure").click()
    page.wait_for_url(f"**/datasources/{ds.pk}/configure/**")
    assert key not in page.content()
    assert "Stored and unchanged" in page.locator(".field-events__signature_key").inner_text()
