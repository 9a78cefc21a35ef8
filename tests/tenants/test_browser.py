import re
from io import StringIO

import pytest
from django.core.management import call_command

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_demo_login_reaches_the_dashboard_in_chromium(live_server, page):
    out = StringIO()
    call_command("ensure_demo", stdout=out)
    password = re.search(r"Demo login: admin / (\S+)", out.getvalue()).group(1)

    page.goto(f"{live_server.url}/")
    assert "/accounts/login/" in page.url
    page.get_by_label("Username").fill("admin")
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()

    page.wait_for_url(f"{live_server.url}/t/demo/")
    assert page.locator("h1").inner_text() == "Demo"
    assert page.get_by_role("navigation", name="Tenant navigation").is_visible()


def test_a_wrong_password_keeps_the_user_on_the_login_page(live_server, page):
    call_command("ensure_demo", stdout=StringIO())
    page.goto(f"{live_server.url}/accounts/login/")
    page.get_by_label("Username").fill("admin")
    page.get_by_label("Password").fill("not-the-password")
    page.get_by_role("button", name="Log in").click()

    assert "/accounts/login/" in page.url
    assert "correct username and password" in page.locator(".errornote").inner_text()
