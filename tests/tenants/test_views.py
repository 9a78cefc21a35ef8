import pytest

from tests.factories import MembershipFactory, UserFactory


def test_login_page_is_served(client, db):
    response = client.get("/accounts/login/")
    assert response.status_code == 200
    assert b'name="username"' in response.content


def test_tenant_pages_need_a_login(client, acme):
    response = client.get("/t/acme/")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/accounts/login/")


def test_picker_lists_only_the_users_tenants(acme, globex, session_client):
    MembershipFactory(user=acme.owner, tenant=globex.tenant, role="viewer")
    outsider = UserFactory(username="olga")
    MembershipFactory(user=outsider, tenant=globex.tenant)

    body = session_client(acme.owner).get("/").content.decode()
    assert "Acme Corp" in body and "Globex" in body

    client = session_client(outsider)
    response = client.get("/")
    assert response.status_code == 302 and response.headers["Location"] == "/t/globex/"
    assert "Acme Corp" not in client.get("/?all=1").content.decode()


def test_dashboard_shows_the_tenant_and_navigation(acme, session_client):
    response = session_client(acme.owner).get("/t/acme/")

    body = response.content.decode()
    assert "<h1>Acme Corp</h1>" in body
    assert 'aria-label="Tenant navigation"' in body
    assert "/t/acme/api-keys/" in body


def test_a_user_without_tenants_gets_an_empty_state(db, session_client):
    body = session_client(UserFactory(username="newbie")).get("/").content.decode()
    assert "not a member of any tenant" in body


@pytest.mark.parametrize("path", ["/admin/", "/admin/tenants/apikey/"])
def test_admin_is_for_superusers_only(acme, session_client, path):
    staff = UserFactory(username="staffer", is_staff=True)
    response = session_client(staff).get(path)
    assert response.status_code == 302
    assert "/admin/login/" in response.headers["Location"]


def test_admin_never_shows_the_key_hash(acme, client):
    root = UserFactory(username="root", is_staff=True, is_superuser=True)
    client.force_login(root)

    listing = client.get("/admin/tenants/apikey/").content.decode()
    detail = client.get(f"/admin/tenants/apikey/{acme.admin_key.pk}/change/").content.decode()

    for page in (listing, detail):
        assert acme.admin_key.key_hash not in page
        assert acme.admin_key_raw not in page
    assert acme.admin_key.display_prefix in detail


def test_openapi_schema_and_docs_are_served(client, acme):
    client.force_login(acme.owner)
    schema = client.get("/api/schema/")
    assert schema.status_code == 200
    assert b"/api/v1/api-keys/" in schema.content
    docs = client.get("/api/docs/")
    assert docs.status_code == 200
    assert b"swagger-ui" in docs.content
    assert b"cdn.jsdelivr" not in docs.content


def test_failed_logins_lock_that_user_name_out_with_a_clear_message(client, acme, settings):
    from tests.conftest import PASSWORD

    settings.AXES_FAILURE_LIMIT = 3
    for _ in range(3):
        response = client.post("/accounts/login/", {"username": "alice", "password": "wrong"})
    assert response.status_code == 429
    page = response.content.decode()
    assert "Too many failed log-ins" in page and "15 minutes" in page
    assert int(response["Retry-After"]) == 900
    # Even the right password is refused while locked; another user is not held back.
    locked = client.post("/accounts/login/", {"username": "alice", "password": PASSWORD})
    assert locked.status_code == 429
    from tests.factories import UserFactory

    UserFactory(username="carol")
    other = client.post("/accounts/login/", {"username": "carol", "password": PASSWORD})
    assert other.status_code == 302


def test_a_success_before_the_limit_resets_the_count(client, acme, settings):
    from tests.conftest import PASSWORD

    settings.AXES_FAILURE_LIMIT = 3
    for _ in range(2):
        client.post("/accounts/login/", {"username": "alice", "password": "wrong"})
    assert client.post("/accounts/login/", {"username": "alice", "password": PASSWORD}
                       ).status_code == 302  # fmt: skip
    client.logout()
    for _ in range(2):
        client.post("/accounts/login/", {"username": "alice", "password": "wrong"})
    assert client.post("/accounts/login/", {"username": "alice", "password": PASSWORD}
                       ).status_code == 302  # fmt: skip
