"""The tenant-scoped base: another tenant's rows do not exist for you."""

import pytest
from django.test import RequestFactory
from django.views.generic import ListView

from apps.tenants.models import ApiKey
from apps.tenants.scoping import TenantScopedQuerysetMixin
from apps.tenants.services import api_key_create


def test_a_view_that_overrides_get_queryset_cannot_be_defined():
    with pytest.raises(TypeError, match="bypass tenant scoping"):

        class Leaky(TenantScopedQuerysetMixin, ListView):
            model = ApiKey

            def get_queryset(self):
                return ApiKey.objects.all()


def test_scope_queryset_cannot_widen_the_tenant_filter(acme, globex):
    class Wide(TenantScopedQuerysetMixin, ListView):
        model = ApiKey

        def scope_queryset(self, queryset):
            return ApiKey.objects.all()  # tries to escape; the tenant filter still applies

    request = RequestFactory().get("/")
    request.tenant = acme.tenant
    view = Wide()
    view.setup(request)

    rows = list(view.get_queryset())
    assert rows and {row.tenant_id for row in rows} == {acme.tenant.id}


def test_api_list_shows_only_the_callers_tenant(acme, globex):
    api_key_create(tenant=globex.tenant, scope="widget", name="globex widget")

    response = acme.api().get("/api/v1/api-keys/")

    assert response.status_code == 200
    names = [row["name"] for row in response.json()["results"]]
    assert names == ["acme admin"]


def test_api_object_of_another_tenant_is_a_404_without_its_data(acme, globex):
    response = acme.api().get(f"/api/v1/api-keys/{globex.admin_key.id}/")

    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"
    assert "globex" not in response.content.decode()


def test_api_delete_of_another_tenants_key_is_a_404_and_leaves_it_active(acme, globex):
    response = acme.api().delete(f"/api/v1/api-keys/{globex.admin_key.id}/")

    assert response.status_code == 404
    globex.admin_key.refresh_from_db()
    assert globex.admin_key.is_active


def test_ui_pages_of_a_tenant_you_are_not_in_are_404(acme, globex, session_client):
    client = session_client(acme.owner)

    assert client.get("/t/globex/").status_code == 404
    assert client.get("/t/globex/api-keys/").status_code == 404
    assert client.get("/t/acme/").status_code == 200


def test_ui_revoke_of_another_tenants_key_through_your_own_tenant_is_404(
    acme, globex, session_client
):
    client = session_client(acme.owner)

    response = client.post(f"/t/acme/api-keys/{globex.admin_key.id}/revoke/")

    assert response.status_code == 404
    globex.admin_key.refresh_from_db()
    assert globex.admin_key.is_active


def test_session_api_never_reaches_a_tenant_the_user_is_not_a_member_of(acme, globex, api_session):
    response = api_session(acme.owner, "globex").get("/api/v1/api-keys/")

    assert response.status_code == 404
    assert response.json()["error"]["code"] == "tenant_not_found"


def test_session_api_uses_the_tenant_last_opened_in_the_ui(acme, api_session):
    api = api_session(acme.owner)
    assert api.get("/api/v1/api-keys/").json()["error"]["code"] == "tenant_required"

    api.get("/t/acme/")  # opening the tenant in the UI remembers it

    response = api.get("/api/v1/api-keys/")
    assert response.status_code == 200
    assert [row["name"] for row in response.json()["results"]] == ["acme admin"]


def test_session_api_writes_need_the_csrf_token(acme, api_session):
    response = api_session(acme.owner, "acme").post(
        "/api/v1/api-keys/", {"scope": "admin"}, format="json"
    )

    assert response.status_code == 403
    assert "CSRF" in response.json()["error"]["message"]


def test_viewers_read_but_cannot_change(acme, victor, session_client, api_session):
    client = session_client(victor)
    assert client.get("/t/acme/api-keys/").status_code == 200
    assert client.post("/t/acme/api-keys/", {"scope": "admin", "name": "x"}).status_code == 403
    response = client.post(f"/t/acme/api-keys/{acme.admin_key.id}/revoke/")
    assert response.status_code == 403
    acme.admin_key.refresh_from_db()
    assert acme.admin_key.is_active

    api = api_session(victor, "acme")
    api.get("/t/acme/")
    token = api.cookies["csrftoken"].value
    response = api.post(
        "/api/v1/api-keys/", {"scope": "admin"}, format="json", HTTP_X_CSRFTOKEN=token
    )
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "read_only_role"
    assert api.get("/api/v1/api-keys/").status_code == 200
    assert ApiKey.objects.filter(tenant=acme.tenant).count() == 1
