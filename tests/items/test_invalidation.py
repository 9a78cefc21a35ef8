"""What a process remembers (API keys, items) is dropped at once, whichever way it changed:
through a service, the Django admin, a cascade or a queryset; a Redis restart never makes a
revoked key good again; and with Redis unreachable a change that cannot be announced is refused."""

from __future__ import annotations

import pytest
from django.core.cache import cache
from django.utils import timezone
from rest_framework.test import APIClient

from apps.items.models import ConnectedItem
from apps.tenants.models import ApiKey, Tenant
from apps.tenants.services import api_key_create
from tests.factories import UserFactory

OPTIONS = "/api/v1/items/{}/options/"
DOWN = {
    "default": {"BACKEND": "django_redis.cache.RedisCache", "LOCATION": "redis://127.0.0.1:1/0",
                "OPTIONS": {"SOCKET_CONNECT_TIMEOUT": 0.2, "SOCKET_TIMEOUT": 0.2}}
}  # fmt: skip


@pytest.fixture
def widget(acme, projects):
    key, raw = api_key_create(tenant=acme.tenant, scope="widget", name="widget")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    for _ in range(3):  # the key and the item are now remembered
        assert client.get(OPTIONS.format("project")).status_code == 200
    return key, client


def revoke_in_admin(key: ApiKey, admin_client) -> None:
    response = admin_client.post(
        "/admin/tenants/apikey/", {"action": "revoke", "_selected_action": [str(key.pk)]}
    )
    assert response.status_code == 302, response.content[:300]


def _admin_client(client):
    admin = UserFactory(username="root", is_staff=True, is_superuser=True)
    client.force_login(admin)
    return client


REMOVALS = {
    "the admin": lambda key, client: revoke_in_admin(key, _admin_client(client)),
    "a queryset delete": lambda key, client: ApiKey.objects.filter(pk=key.pk).delete(),
    "a queryset update": lambda key, client: ApiKey.objects.filter(pk=key.pk).update(
        revoked_at=timezone.now()
    ),
    "the instance": lambda key, client: key.delete(),
    "deleting the tenant": lambda key, client: Tenant.objects.filter(pk=key.tenant_id).delete(),
}


@pytest.mark.parametrize("how", list(REMOVALS))
def test_a_removed_key_stops_working_at_once(widget, client, how):
    key, api = widget

    REMOVALS[how](key, client)

    response = api.get(OPTIONS.format("project"))
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "authentication_failed"


def test_an_item_changed_or_deleted_through_a_queryset_is_seen_at_once(widget):
    _, api = widget
    ConnectedItem.objects.filter(key="project").update(label="{key}!")
    assert api.get(OPTIONS.format("project")).json()["options"][0]["label"] == "PB!"

    ConnectedItem.objects.filter(key="project").delete()
    assert api.get(OPTIONS.format("project")).status_code == 404


def test_a_redis_restart_does_not_make_a_revoked_key_good_again(acme, widget):
    key, api = widget
    assert acme.api().delete(f"/api/v1/api-keys/{key.pk}/").status_code == 204

    cache.delete_pattern("*")  # Redis restarted: every stamp is gone

    assert api.get(OPTIONS.format("project")).status_code == 401


def test_with_redis_unreachable_a_revocation_is_refused_and_nothing_changes(acme, widget, settings):
    key, _ = widget
    settings.CACHES = DOWN

    response = acme.api().delete(f"/api/v1/api-keys/{key.pk}/")

    assert response.status_code == 503
    assert response.json()["error"]["code"] == "cache_unavailable"
    assert ApiKey.objects.get(pk=key.pk).revoked_at is None


def test_with_redis_unreachable_a_page_says_why_the_change_was_refused(
    acme, widget, settings, session_client
):
    key, _ = widget
    settings.CACHES = DOWN

    response = session_client(acme.owner).post(f"/t/acme/api-keys/{key.pk}/revoke/")

    assert response.status_code == 503
    assert "cannot be reached" in response.content.decode()
    assert ApiKey.objects.get(pk=key.pk).revoked_at is None


def test_with_redis_unreachable_keys_are_still_checked_against_the_database(
    acme, projects, settings
):
    key, raw = api_key_create(tenant=acme.tenant, scope="admin", name="checked")
    ApiKey.objects.filter(pk=key.pk).update(revoked_at=timezone.now())
    settings.CACHES = DOWN
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")

    assert client.get(OPTIONS.format("project")).status_code == 401
    assert acme.api().get(OPTIONS.format("project")).status_code == 200
