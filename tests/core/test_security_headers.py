"""Every response carries the strict Content-Security-Policy and the Permissions-Policy: pages,
the login and lockout pages, the admin, the API, probes, static files, errors. The browser
side (no page breaks the policy) is in tests/test_pages_everywhere.py."""

from __future__ import annotations

import pytest

from tests.factories import DataSourceFactory, UserFactory

STRICT = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
)


def directives(header: str) -> dict[str, str]:
    return {part.split()[0]: part.strip() for part in header.split(";") if part.strip()}


def assert_strict(response) -> None:
    assert directives(response["Content-Security-Policy"]) == directives(STRICT), response
    assert "unsafe" not in response["Content-Security-Policy"]


@pytest.mark.django_db
def test_anonymous_surfaces_carry_the_policies(client, settings):
    for path in ("/accounts/login/", "/admin/login/", "/healthz", "/readyz", "/no-such-page/",
                 "/api/v1/datasources/", "/static/plugboard/plugboard.css"):  # fmt: skip
        response = client.get(path)
        assert_strict(response)
        assert response["Permissions-Policy"] == settings.PERMISSIONS_POLICY, path
        assert response["Referrer-Policy"] == "same-origin", path


def test_the_permissions_policy_turns_off_camera_microphone_and_geolocation(settings):
    for feature in ("camera", "microphone", "geolocation", "payment", "usb"):
        assert f"{feature}=()" in settings.PERMISSIONS_POLICY.split(", ")


def test_signed_in_pages_and_the_admin_carry_the_strict_policy(client, acme):
    client.force_login(acme.owner)
    for path in ("/", "/t/acme/", "/t/acme/datasources/", "/t/acme/items/", "/t/acme/api-keys/"):
        assert_strict(client.get(path, follow=True))
    client.force_login(UserFactory(username="root", is_staff=True, is_superuser=True))
    for path in ("/admin/", "/admin/tenants/tenant/", "/admin/tenants/tenant/add/"):
        response = client.get(path)
        assert response.status_code == 200, path
        assert_strict(response)


def test_the_lockout_page_carries_the_strict_policy(client, acme, settings):
    settings.AXES_FAILURE_LIMIT = 1
    client.post("/accounts/login/", {"username": "alice", "password": "wrong"})
    response = client.post("/accounts/login/", {"username": "alice", "password": "wrong"})
    assert response.status_code == 429
    assert_strict(response)
    assert "style=" not in response.content.decode()


def test_only_pages_that_start_an_oauth_consent_let_forms_go_to_https(client, acme):
    """Their form is answered with a redirect to the provider, and Chromium holds a form's
    redirects to form-action; every other page keeps form-action 'self'."""
    client.force_login(acme.owner)
    consent = DataSourceFactory(tenant=acme.tenant, slug="consent",
                                auth_mode="oauth2_authorization_code",
                                auth_config={"provider": "github", "client_id": "x"})  # fmt: skip
    plain = DataSourceFactory(tenant=acme.tenant, slug="plain")
    for path in (f"/t/acme/datasources/{consent.pk}/", f"/t/acme/datasources/{consent.pk}/configure/",
                 f"/t/acme/datasources/{plain.pk}/configure/",
                 f"/t/acme/datasources/{consent.pk}/connect/"):  # fmt: skip
        response = client.get(path)
        assert response.status_code == 200, path
        assert directives(response["Content-Security-Policy"])["form-action"] == (
            "form-action 'self' https:"
        ), path
    for path in (f"/t/acme/datasources/{plain.pk}/", "/t/acme/datasources/"):
        policy = directives(client.get(path)["Content-Security-Policy"])
        assert policy["form-action"] == "form-action 'self'", path


@pytest.mark.django_db
def test_no_template_has_inline_code():
    """No inline <script>, <style>, style attribute or on… handler in our own templates."""
    import re
    from pathlib import Path

    from django.conf import settings

    inline = re.compile(r"<script(?![^>]*\bsrc=)[^>]*>|<style|\sstyle=|\son[a-z]+=|javascript:")
    found = [
        f"{path.relative_to(settings.BASE_DIR)}: {match.group(0)}"
        for path in (settings.BASE_DIR / "templates").rglob("*.html")
        for match in inline.finditer(Path(path).read_text())
    ]
    assert not found, found
