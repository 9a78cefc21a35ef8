"""The key rotation drill: K1 → [K2, K1], rotate → [K2]; every secret stays readable."""

from io import StringIO

import pytest
from cryptography.fernet import Fernet
from django.core.management import call_command

from apps.core.crypto import DecryptionError
from apps.datasources.models import DataSource, OAuthGrant, TokenState
from tests.factories import DataSourceFactory


def snapshot():
    sources = {ds.pk: (ds.secrets, ds.event_secrets, ds.inbound_token)
               for ds in DataSource.objects.all()}  # fmt: skip
    tokens = {t.pk: (t.access_token, t.refresh_token) for t in TokenState.objects.all()}
    grants = {g.pk: g.code_verifier for g in OAuthGrant.objects.all()}
    return sources, tokens, grants


def test_the_rotation_drill_keeps_every_secret_readable(acme, settings):
    k1 = settings.FIELD_ENCRYPTION_KEYS[0]
    k2 = Fernet.generate_key().decode()
    for index in range(5):
        ds = DataSourceFactory(tenant=acme.tenant, auth_mode="basic",
                               auth_config={"username": "u"}, secrets={"password": f"pw-{index}"},
                               event_secrets={"inbound_secret": f"in-{index}"})  # fmt: skip
        TokenState.objects.create(
            datasource=ds, access_token=f"at-{index}", refresh_token=f"rt-{index}"
        )
    grant = OAuthGrant(
        tenant=acme.tenant, datasource=ds, user=acme.owner, state="s", redirect_uri="x"
    )
    grant.code_verifier = "verifier"
    grant.save()
    DataSourceFactory(tenant=acme.tenant)  # no secrets: nothing to rewrite
    before = snapshot()

    settings.FIELD_ENCRYPTION_KEYS = [k2, k1]
    out = StringIO()
    call_command("rotate_encryption_keys", "--batch-size", "2", stdout=out)
    # 5 password blobs + 5 event-secret blobs + 5 access + 5 refresh tokens + 1 verifier, and
    # the inbound URL token of all 6 data sources (the sixth has no other secret).
    assert "Rewrote 27 values (0 were already under the first key)" in out.getvalue()

    settings.FIELD_ENCRYPTION_KEYS = [k2]
    assert snapshot() == before

    again = StringIO()
    call_command("rotate_encryption_keys", stdout=again)
    assert "Rewrote 0 values (27 were already under the first key)" in again.getvalue()


def test_without_rotation_the_old_key_is_still_needed(acme, settings):
    DataSourceFactory(tenant=acme.tenant, secrets={"password": "pw"})
    settings.FIELD_ENCRYPTION_KEYS = [Fernet.generate_key().decode()]
    with pytest.raises(DecryptionError):
        _ = DataSource.objects.get().secrets


def test_rotation_stops_on_a_value_no_key_opens(acme, settings):
    from django.core.management.base import CommandError

    DataSourceFactory(tenant=acme.tenant, secrets={"password": "pw"})
    settings.FIELD_ENCRYPTION_KEYS = [Fernet.generate_key().decode()]
    with pytest.raises(CommandError, match="add the missing key"):
        call_command("rotate_encryption_keys", stdout=StringIO())
