"""The dashboard through Django's test client: each count of 0 says what to do next, with a
button for those who may do it, and no inline style (a strict CSP is coming)."""

import re

import pytest
from django.utils import timezone

from apps.tenants.models import ApiKey

pytestmark = pytest.mark.django_db


def dashboard(client, user) -> str:
    client.force_login(user)
    response = client.get("/t/acme/")
    assert response.status_code == 200
    return response.content.decode()


def test_an_empty_tenant_gets_a_button_for_each_first_step(client, acme):
    ApiKey.objects.filter(tenant=acme.tenant).update(revoked_at=timezone.now())
    page = dashboard(client, acme.owner)
    for label, url in [("Create a data source", "/t/acme/datasources/new/"),
                       ("Create a connected item", "/t/acme/items/new/"),
                       ("Create an API key", "/t/acme/api-keys/")]:  # fmt: skip
        assert f'<a class="button" href="{url}">{label}</a>' in page
    assert not re.search(r"\sstyle=|<style|<script(?![^>]*\ssrc=)", page)


def test_a_viewer_is_told_who_can_do_it(client, acme, victor):
    ApiKey.objects.filter(tenant=acme.tenant).update(revoked_at=timezone.now())
    page = dashboard(client, victor)
    assert 'class="button"' not in page
    assert page.count("An owner or admin of Acme Corp can do it.") == 3


def test_what_exists_needs_no_next_step(client, acme):
    page = dashboard(client, acme.owner)  # acme has an active admin key
    assert "Create an API key" not in page
    assert "Create a data source" in page


def test_the_password_pages_have_the_plugboard_look(client, acme, admin_user):
    client.force_login(acme.owner)
    page = client.get("/accounts/password/").content.decode()
    assert 'href="/static/plugboard/favicon.svg"' in page
    assert 'href="/admin/' not in page  # no link a tenant user cannot open
    assert 'name="old_password"' in page and 'name="new_password2"' in page
    client.force_login(admin_user)
    assert client.get("/admin/password_change/").status_code == 200
