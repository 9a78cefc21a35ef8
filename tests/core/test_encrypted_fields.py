"""Encrypted fields: ciphertext at rest, loud failure without a key, bound to their row."""

import pytest
from cryptography.fernet import Fernet
from django.db import connection

from apps.core.crypto import DecryptionError
from apps.datasources.models import DataSource, TokenState
from tests.factories import DataSourceFactory

CANARY = "pw-canary-7f3a"


def raw_column(table: str, column: str, pk) -> str:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {column} FROM {table} WHERE id = %s", [pk])  # noqa: S608
        return cursor.fetchone()[0]


def test_secrets_are_ciphertext_in_the_database_and_plain_on_the_instance(acme):
    ds = DataSourceFactory(tenant=acme.tenant, secrets={"password": CANARY})

    stored = raw_column("datasources_datasource", "secrets", ds.pk)
    assert CANARY not in stored
    assert stored.startswith("gAAAA")  # a Fernet token
    assert DataSource.objects.get(pk=ds.pk).secrets == {"password": CANARY}


def test_no_key_that_decrypts_raises_and_never_returns_ciphertext(acme, settings):
    ds = DataSourceFactory(tenant=acme.tenant, secrets={"password": CANARY})
    settings.FIELD_ENCRYPTION_KEYS = [Fernet.generate_key().decode()]

    loaded = DataSource.objects.get(pk=ds.pk)
    with pytest.raises(DecryptionError, match="cannot be decrypted"):
        _ = loaded.secrets


def test_an_old_key_still_decrypts_after_a_new_one_is_added(acme, settings):
    old = settings.FIELD_ENCRYPTION_KEYS[0]
    ds = DataSourceFactory(tenant=acme.tenant, secrets={"password": CANARY})
    settings.FIELD_ENCRYPTION_KEYS = [Fernet.generate_key().decode(), old]
    assert DataSource.objects.get(pk=ds.pk).secrets == {"password": CANARY}


def test_a_value_copied_into_another_row_does_not_decrypt(acme):
    victim = DataSourceFactory(tenant=acme.tenant, secrets={"password": CANARY})
    attacker = DataSourceFactory(tenant=acme.tenant, secrets={"password": "mine"})
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE datasources_datasource SET secrets = %s WHERE id = %s",
            [raw_column("datasources_datasource", "secrets", victim.pk), attacker.pk],
        )

    with pytest.raises(DecryptionError, match="belongs to another record"):
        _ = DataSource.objects.get(pk=attacker.pk).secrets


def test_a_value_copied_into_another_field_does_not_decrypt(acme):
    ds = DataSourceFactory(tenant=acme.tenant, secrets={"password": CANARY})
    state = TokenState.objects.create(datasource=ds, access_token="a")
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE datasources_tokenstate SET refresh_token = access_token WHERE datasource_id = %s",
            [ds.pk],
        )
    with pytest.raises(DecryptionError):
        _ = TokenState.objects.get(pk=state.pk).refresh_token


def test_update_and_lookups_cannot_use_plain_values(acme):
    ds = DataSourceFactory(tenant=acme.tenant, secrets={"password": CANARY})
    with pytest.raises(TypeError, match="encrypted"):
        DataSource.objects.filter(pk=ds.pk).update(secrets={"password": "plain"})
    with pytest.raises(TypeError, match="encrypted"):
        list(DataSource.objects.filter(secrets={"password": CANARY}))


def test_deferred_secrets_are_loaded_when_read(acme):
    ds = DataSourceFactory(tenant=acme.tenant, secrets={"password": CANARY})
    assert DataSource.objects.only("name").get(pk=ds.pk).secrets == {"password": CANARY}


def test_a_reload_copies_ciphertext_and_marks_nothing_changed(acme, settings):
    datasource = DataSourceFactory(tenant=acme.tenant, secrets={"password": "p"})
    datasource.refresh_from_db()
    assert datasource.secrets == {"password": "p"}
    stored = DataSource.objects.values_list("secrets", flat=True).get(pk=datasource.pk)
    # A key nobody has any more: reloading still works, reading says why it cannot decrypt.
    settings.FIELD_ENCRYPTION_KEYS = [Fernet.generate_key().decode()]
    datasource.refresh_from_db()
    with pytest.raises(DecryptionError):
        datasource.secrets  # noqa: B018
    datasource.name = "Renamed"
    datasource.save()  # the unreadable value is not written back (nor re-encrypted)
    assert DataSource.objects.values_list("secrets", flat=True).get(pk=datasource.pk) == stored
