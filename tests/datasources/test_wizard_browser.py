"""The wizard in headless Chromium: a new user creates a data source of each auth mode against
the local HTTPS servers and gets a green connection test, in the browser alone."""

import pytest

from apps.datasources.models import DataSource, TokenState
from tests.support.browser import log_in
from tests.support.oauth_server.accounts import USER
from tests.support.servers import OAUTH_IP

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def signed_in(live_server, page, acme):
    log_in(page, live_server, acme.owner)
    page.wait_for_url(f"{live_server.url}/t/acme/")
    return page


@pytest.fixture
def browser_page(browser, live_server):
    """A page whose browser trusts the test servers' certificate (the product checks it)."""
    context = browser.new_context(ignore_https_errors=True)
    context.set_default_timeout(20_000)
    yield context.new_page()
    context.close()


def create_through_wizard(page, live_server, name):
    page.goto(f"{live_server.url}/t/acme/")
    page.get_by_role("navigation", name="Tenant navigation").get_by_role(
        "link", name="Data sources"
    ).click()
    page.get_by_role("link", name="Create data source").first.click()
    page.get_by_label("REST API").check()
    page.get_by_role("button", name="Next").click()
    page.get_by_label("Name").fill(name)
    page.get_by_role("button", name="Create").click()
    page.wait_for_url("**/configure/")


def fill_common(page, base_url, ping_path, success_path="", success_values=""):
    page.fill("#id_base_url", base_url)
    page.fill("#id_timeout_seconds", "15")
    page.get_by_role("button", name="Add header").click()
    page.locator("input[name=header_name]").last.fill("X-Env")
    page.locator("input[name=header_value]").last.fill("e2e")
    page.fill("#id_ping__path", ping_path)
    page.fill("#id_ping__success_path", success_path)
    page.fill("#id_ping__success_values", success_values)


def run_test_and_save(page):
    page.get_by_role("button", name="Test connection").click()
    message = page.locator("#test-message")
    message.wait_for(state="visible")
    page.wait_for_function("() => document.querySelector('#test-message')?.textContent.length > 0")
    assert "Connection OK" in message.inner_text(), page.locator("#test-steps").inner_text()
    steps = page.locator("#test-steps tbody tr")
    assert steps.count() == 6
    assert page.locator("#test-steps tbody tr.pb-step-ok").count() == 6
    page.get_by_role("button", name="Save", exact=True).click()
    page.wait_for_selector("#audit-log")


MODES = {
    "none": ({}, "/get", "", ""),
    "basic": ({"#id_basic__username": "elements", "#id_basic__password": "connect"},
              "/basic-auth/elements/connect", "authenticated", "true"),
    "api_key": ({"#id_api_key__name": "X-API-Key", "#id_api_key__value": "k-e2e"},
                "/headers", "headers.X-Env", "e2e"),
    "token": ({"#id_token__token": "t-e2e"}, "/bearer", "authenticated", "true"),
}  # fmt: skip


@pytest.mark.parametrize("mode", sorted(MODES))
def test_wizard_with_static_credentials(mode, signed_in, live_server, upstream):
    page = signed_in
    fields, ping, success_path, success_values = MODES[mode]
    create_through_wizard(page, live_server, f"E2E {mode}")
    fill_common(page, upstream.url(), ping, success_path, success_values)
    page.select_option("#id_auth_mode", mode)
    for selector, value in fields.items():
        page.fill(selector, value)
    # Only the chosen mode's fields are shown.
    assert page.locator(f".pb-auth-mode[data-mode='{mode}']").get_attribute("hidden") is None
    assert not page.locator(".pb-auth-mode[data-mode='oauth2_client_credentials']").is_visible()

    run_test_and_save(page)

    ds = DataSource.objects.get(name=f"E2E {mode}")
    assert ds.auth_mode == mode and ds.headers == [{"name": "X-Env", "value": "e2e"}]
    # The settings saved are the ones the test just passed: that is their status.
    assert page.locator("#datasource-status").inner_text() == "OK"
    assert DataSource.objects.get(name=f"E2E {mode}").status == "ok"
    page.get_by_role("button", name="Test connection").click()
    page.wait_for_function(
        "() => document.querySelector('#test-message').textContent.includes('OK')"
    )
    page.reload()
    assert page.locator("#datasource-status").inner_text() == "OK"


def test_wizard_with_client_credentials(signed_in, live_server, oauth):
    page = signed_in
    create_through_wizard(page, live_server, "E2E client credentials")
    fill_common(page, oauth.url("/api"), "/hello", "ok", "true")
    page.select_option("#id_auth_mode", "oauth2_client_credentials")
    page.fill("#id_oauth2_client_credentials__token_url", oauth.url("/o/token/"))
    page.fill("#id_oauth2_client_credentials__client_id", "cc-client")
    page.fill("#id_oauth2_client_credentials__client_secret", "cc-secret-value")
    page.fill("#id_oauth2_client_credentials__scope", "read")
    # A token-bearing mode shows when a token counts as expired; other modes' settings hide.
    assert page.locator("#group-oauth2_client_credentials__expired_when").is_visible()
    assert not page.locator("#group-token__expired_when").is_visible()

    run_test_and_save(page)

    assert DataSource.objects.get(name="E2E client credentials").secrets == {
        "client_secret": "cc-secret-value"
    }


def test_wizard_with_authorization_code_and_consent(
    browser_page, live_server, acme, oauth, settings
):
    page = browser_page
    oauth.call(
        "/_test/redirect-uris",
        {"client_id": "consent-client", "uri": f"{live_server.url}/oauth/callback/"},
    )
    log_in(page, live_server, acme.owner)
    create_through_wizard(page, live_server, "E2E authorization code")
    api = f"https://{OAUTH_IP}:{oauth.port}"
    fill_common(page, f"{api}/api", "/hello", "ok", "true")
    page.select_option("#id_auth_mode", "oauth2_authorization_code")
    page.select_option("#id_oauth2_authorization_code__provider", "generic")
    page.fill("#id_oauth2_authorization_code__client_id", "consent-client")
    page.fill("#id_oauth2_authorization_code__client_secret", "consent-secret-value")
    page.fill("#id_oauth2_authorization_code__scope", "read")
    page.fill("#id_oauth2_authorization_code__authorize_url", f"{api}/o/authorize/")
    page.fill("#id_oauth2_authorization_code__token_url", f"{api}/o/token/")
    assert page.locator("#callback-url").inner_text() == f"{live_server.url}/oauth/callback/"

    page.get_by_role("button", name="Save and connect").click()
    # At the provider: log in, then grant access on its consent page.
    page.wait_for_url(f"{api}/accounts/login/**")
    page.fill("#id_username", USER[0])
    page.fill("#id_password", USER[1])
    page.get_by_role("button", name="Log in").click()
    page.get_by_role("button", name="Authorize").click()

    page.wait_for_url(f"{live_server.url}/t/acme/datasources/*/")
    assert "is connected" in page.locator(".messagelist").inner_text()
    ds = DataSource.objects.get(name="E2E authorization code")
    assert TokenState.objects.get(datasource=ds).refresh_token
    page.get_by_role("button", name="Test connection").click()
    page.wait_for_function("() => document.querySelector('#test-message')?.textContent.length > 0")
    assert "Connection OK" in page.locator("#test-message").inner_text(), page.locator(
        "#test-steps"
    ).inner_text()
    page.screenshot(path="/tmp/e2e-authcode.png", full_page=True)
