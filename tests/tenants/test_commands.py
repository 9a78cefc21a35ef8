import re
from io import StringIO

import pytest
from django.contrib.auth import authenticate
from django.core.management import CommandError, call_command
from django.test import RequestFactory
from rest_framework.test import APIClient

from apps.tenants.models import ApiKey, Membership, Role, Tenant


def run(*args) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command(*args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_create_tenant_with_a_new_admin_prints_a_working_password_once(db):
    out, _ = run("create_tenant", "initech", "--name", "Initech", "--admin", "peter")

    password = re.search(r"Password \(shown once\): (\S+)", out).group(1)
    tenant = Tenant.objects.get(slug="initech")
    assert tenant.name == "Initech"
    user = authenticate(RequestFactory().post("/accounts/login/"), username="peter",
                        password=password)  # fmt: skip
    assert user is not None
    assert Membership.objects.get(user=user, tenant=tenant).role == Role.OWNER


def test_create_tenant_adds_an_existing_user_without_a_password(acme):
    out, _ = run("create_tenant", "initech", "--name", "Initech", "--admin", "alice")

    assert "Password" not in out
    assert Membership.objects.filter(user=acme.owner, tenant__slug="initech").exists()


def test_create_tenant_refuses_a_duplicate_or_bad_slug(acme):
    with pytest.raises(CommandError, match="already exists"):
        run("create_tenant", "acme", "--name", "Again")
    with pytest.raises(CommandError, match="lowercase"):
        run("create_tenant", "Not A Slug", "--name", "Bad")


def test_create_api_key_prints_the_key_alone_on_the_last_line(acme):
    out, _ = run("create_api_key", "acme", "--scope", "admin", "--name", "automation")

    raw = out.strip().splitlines()[-1]
    assert re.fullmatch(r"pb_[0-9a-f]{8}_[A-Za-z0-9_-]{43}", raw)
    key = ApiKey.objects.get(tenant=acme.tenant, name="automation")
    assert raw not in (key.key_hash, key.prefix)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert client.get("/api/v1/api-keys/").status_code == 200


def test_create_api_key_for_a_widget_with_origins(acme):
    run(
        "create_api_key", "acme", "--scope", "widget",
        "--origin", "https://a.example", "--origin", "http://localhost:3000",
    )  # fmt: skip
    key = ApiKey.objects.get(tenant=acme.tenant, scope="widget")
    assert key.allowed_origins == ["https://a.example", "http://localhost:3000"]


def test_create_api_key_for_an_unknown_tenant_fails_clearly(db):
    with pytest.raises(CommandError, match="No tenant with slug 'nope'"):
        run("create_api_key", "nope", "--scope", "admin")


def test_ensure_demo_is_safe_to_run_again(db):
    first, _ = run("ensure_demo")
    password = re.search(r"Demo login: admin / (\S+)", first).group(1)

    second, _ = run("ensure_demo")

    assert password not in second
    assert authenticate(RequestFactory().post("/accounts/login/"), username="admin",
                        password=password) is not None  # fmt: skip
    assert Tenant.objects.filter(slug="demo").count() == 1
