"""A data source whose stored secrets no configured key decrypts: the tenant's lists keep
working, it shows as needing attention, new secrets repair it; and a save racing a key rotation
never writes back a value under a key that is then removed."""

from __future__ import annotations

from io import StringIO

import pytest
from cryptography.fernet import Fernet
from django.core.management import call_command

from apps.datasources.models import DataSource
from apps.datasources.services import datasource_update
from apps.items.services import item_create
from tests.factories import DataSourceFactory

MESSAGE = "Stored secrets cannot be decrypted with the configured keys"


@pytest.fixture
def broken(acme, upstream, settings):
    """A basic-auth data source whose secrets were sealed with a key since removed."""
    current = list(settings.FIELD_ENCRYPTION_KEYS)
    settings.FIELD_ENCRYPTION_KEYS = [Fernet.generate_key().decode()]
    ds = DataSourceFactory(
        tenant=acme.tenant, name="Broken", slug="broken", base_url=upstream.url(),
        auth_mode="basic", auth_config={"username": "elements"}, secrets={"password": "connect"},
        ping={"path": "/basic-auth/elements/connect"},
    )  # fmt: skip
    settings.FIELD_ENCRYPTION_KEYS = current
    DataSourceFactory(tenant=acme.tenant, name="Fine", slug="fine", base_url=upstream.url())
    return DataSource.objects.get(pk=ds.pk)


def test_the_list_keeps_working_and_shows_the_data_source_needs_attention(acme, broken):
    response = acme.api().get("/api/v1/datasources/")

    assert response.status_code == 200
    rows = {row["slug"]: row for row in response.json()["results"]}
    assert rows["fine"]["status"] == "unknown"
    assert rows["broken"]["status"] == "needs_attention"
    assert MESSAGE in rows["broken"]["last_error"]
    assert rows["broken"]["auth"]["secrets_set"] == []


def test_the_pages_keep_working(acme, broken, session_client):
    client = session_client(acme.owner)
    for path in ("/t/acme/datasources/", f"/t/acme/datasources/{broken.pk}/",
                 f"/t/acme/datasources/{broken.pk}/configure/"):  # fmt: skip
        response = client.get(path)
        assert response.status_code == 200, path
    assert MESSAGE in client.get(f"/t/acme/datasources/{broken.pk}/").content.decode()


def test_calls_fail_with_a_clear_error(acme, broken):
    result = acme.api().post(f"/api/v1/datasources/{broken.pk}/test/").json()
    assert result["ok"] is False
    auth = next(step for step in result["steps"] if step["name"] == "auth")
    assert auth["ok"] is False and "cannot be decrypted" in auth["detail"]

    item_create(tenant=acme.tenant, data={
        "key": "things", "name": "Things", "datasource": str(broken.pk), "path": "/get",
        "value": "{url}", "label": "{url}",
    })  # fmt: skip
    response = acme.api().get("/api/v1/items/things/options/")
    assert response.status_code == 502
    assert response.json()["error"]["code"] == "secrets_unreadable"


def test_new_secrets_replace_unreadable_ones(acme, broken):
    url = f"/api/v1/datasources/{broken.pk}/"
    missing = acme.api().patch(url, {"auth": {"mode": "basic", "username": "elements"}},
                               format="json")  # fmt: skip
    assert missing.status_code == 400
    assert "auth.password" in missing.json()["error"]["details"]["fields"]

    renamed = acme.api().patch(url, {"name": "Renamed"}, format="json")
    assert renamed.status_code == 200 and renamed.json()["status"] == "needs_attention"

    repaired = acme.api().patch(
        url,
        {"auth": {"mode": "basic", "username": "elements", "password": "connect"}},
        format="json",
    )
    assert repaired.status_code == 200, repaired.content
    assert repaired.json()["auth"]["secrets_set"] == ["password"]
    assert acme.api().post(f"{url}test/").json()["ok"] is True


def test_unreadable_secrets_do_not_follow_the_data_source_to_another_host(acme, broken):
    response = acme.api().patch(
        f"/api/v1/datasources/{broken.pk}/",
        {"base_url": "https://elsewhere.example.com"},
        format="json",
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "secrets_required"


def test_a_save_racing_a_key_rotation_never_writes_back_under_the_old_key(acme, settings):
    k1 = settings.FIELD_ENCRYPTION_KEYS[0]
    k2 = Fernet.generate_key().decode()
    ds = DataSourceFactory(tenant=acme.tenant, auth_mode="basic",
                           auth_config={"username": "u"}, secrets={"password": "pw"})  # fmt: skip
    loaded = DataSource.objects.get(pk=ds.pk)  # read before the rotation, under K1

    settings.FIELD_ENCRYPTION_KEYS = [k2, k1]
    call_command("rotate_encryption_keys", stdout=StringIO())
    datasource_update(datasource=loaded, name="Changed meanwhile", actor=None)
    settings.FIELD_ENCRYPTION_KEYS = [k2]  # the old key is removed

    assert DataSource.objects.get(pk=ds.pk).secrets == {"password": "pw"}
