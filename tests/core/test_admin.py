"""The Django admin looks across tenants; its changes go through the services."""

from __future__ import annotations

import pytest

from apps.datasources.models import AuditEntry, DataSource
from apps.items.models import ConnectedItem
from apps.tenants.models import ApiKey, Membership
from tests.factories import DataSourceFactory, UserFactory


@pytest.fixture
def root(db, client):
    client.force_login(UserFactory(username="root", is_staff=True, is_superuser=True))
    return client


def test_tenant_owned_rows_are_read_only_with_a_link_to_their_tenant_page(root, acme):
    ds = DataSourceFactory(tenant=acme.tenant, name="Jira")
    page = root.get(f"/admin/datasources/datasource/{ds.pk}/change/")

    assert page.status_code == 200
    assert 'type="submit"' not in page.content.decode().split('id="content-main"')[1]
    assert (
        root.post(f"/admin/datasources/datasource/{ds.pk}/change/", {"name": "x"}).status_code
        == 403
    )
    assert root.get("/admin/datasources/datasource/add/").status_code == 403
    assert f'href="/t/acme/datasources/{ds.pk}/"' in page.content.decode()


def test_deleting_a_data_source_in_the_admin_goes_through_the_service(root, acme):
    ds = DataSourceFactory(tenant=acme.tenant, name="Jira")

    response = root.post(f"/admin/datasources/datasource/{ds.pk}/delete/", {"post": "yes"})

    assert response.status_code == 302
    assert not DataSource.objects.filter(pk=ds.pk).exists()
    assert AuditEntry.objects.filter(datasource_name="Jira", action="deleted").exists()


def test_api_keys_can_be_revoked_but_not_edited_or_deleted_in_the_admin(root, acme):
    key = acme.admin_key
    assert root.post(f"/admin/tenants/apikey/{key.pk}/delete/", {"post": "yes"}).status_code == 403
    assert root.post(f"/admin/tenants/apikey/{key.pk}/change/", {"name": "x"}).status_code == 403

    root.post("/admin/tenants/apikey/", {"action": "revoke", "_selected_action": [str(key.pk)]})

    assert ApiKey.objects.get(pk=key.pk).revoked_at is not None


def test_memberships_changed_in_the_admin_go_through_the_service(root, acme):
    user = UserFactory(username="carol")
    response = root.post("/admin/tenants/membership/add/",
                         {"user": user.pk, "tenant": acme.tenant.pk, "role": "admin"})  # fmt: skip
    assert response.status_code == 302
    assert Membership.objects.get(user=user, tenant=acme.tenant).role == "admin"


def test_items_are_read_only_in_the_admin(root, acme):
    from apps.items.services import item_create

    ds = DataSourceFactory(tenant=acme.tenant)
    item = item_create(tenant=acme.tenant, data={
        "key": "project", "name": "Project", "datasource": str(ds.pk), "path": "/p",
        "value": "{id}", "label": "{name}",
    })  # fmt: skip
    assert isinstance(item, ConnectedItem)
    assert (
        root.post(f"/admin/items/connecteditem/{item.pk}/change/", {"key": "x"}).status_code == 403
    )


def test_events_are_read_only_and_no_event_secret_shows(root, acme):
    from apps.datasources.event_settings import new_signature_key
    from apps.events.recording import event_record

    key = new_signature_key()
    ds = DataSourceFactory(tenant=acme.tenant, event_secrets={"signature_key": key})
    event = event_record(datasource=ds, source="webhook", body=b'{"n": 1}').event
    page = root.get(f"/admin/events/event/{event.pk}/change/").content.decode()
    assert "{&quot;n&quot;: 1}" in page or '{"n": 1}' in page
    assert root.post(f"/admin/events/event/{event.pk}/change/", {}).status_code == 403
    ds.refresh_from_db()
    shown = root.get(f"/admin/datasources/datasource/{ds.pk}/change/").content.decode()
    assert key not in shown and ds.inbound_token not in shown
    assert ds.inbound_token_digest not in shown
