"""Token lifecycle against a real OAuth 2.0 server (django-oauth-toolkit over HTTPS):
authorization code with PKCE, refresh, rotation, concurrency, failures, the schedule."""

from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from celery.signals import before_task_publish
from django.utils import timezone

from apps.datasources.connections import datasource_request
from apps.datasources.models import Status, TokenState
from apps.datasources.tasks import refresh_expiring_tokens
from apps.outbound.errors import TokenRefreshFailed
from tests.factories import DataSourceFactory
from tests.outbound.oauth_helpers import connect, connect_path, consent, start_connect
from tests.support.concurrency import run_together
from tests.support.servers import OAUTH_IP
from tests.support.worker import wait_until

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def code_source(acme, oauth):
    def make(host="oauth.test"):
        return DataSourceFactory(
            tenant=acme.tenant,
            base_url=oauth.url("/api", host=host),
            auth_mode="oauth2_authorization_code",
            auth_config={
                "provider": "generic",
                "client_id": "code-client",
                "scope": "read",
                "authorize_url": oauth.url("/o/authorize/", host=host),
                "token_url": oauth.url("/o/token/", host=host),
            },
            secrets={"client_secret": "code-secret-value"},
        )

    return make


@pytest.fixture
def connected(client, acme, oauth, code_source):
    client.force_login(acme.owner)
    ds = code_source()
    connect(client, ds, oauth)
    return ds


def expire_locally(ds):
    TokenState.objects.filter(datasource=ds).update(
        expires_at=timezone.now() - timedelta(seconds=1)
    )


def test_authorization_code_with_pkce_connects_and_calls(client, acme, oauth, code_source):
    client.force_login(acme.owner)
    ds = code_source()

    authorize_url = connect(client, ds, oauth)

    query = parse_qs(urlsplit(authorize_url).query)
    assert query["code_challenge_method"] == ["S256"]
    assert len(query["code_challenge"][0]) == 43
    assert query["redirect_uri"] == ["http://testserver/oauth/callback/"]
    assert query["response_type"] == ["code"] and query["scope"] == ["read"]
    state = TokenState.objects.get(datasource=ds)
    assert state.access_token and state.refresh_token and state.expires_at
    response = datasource_request(ds, path="/hello")
    assert response.status_code == 200
    assert response.json()["user"] == "resource-owner"
    ds.refresh_from_db()
    assert ds.status == Status.OK


def test_the_state_is_single_use(client, acme, oauth, code_source):
    client.force_login(acme.owner)
    ds = code_source()
    authorize_url = start_connect(client, connect_path(ds))
    callback = consent(authorize_url, oauth.ca_pem).replace("http://testserver", "")

    assert client.get(callback).status_code == 302
    replay = client.get(callback)

    assert replay.status_code == 400
    assert "already used" in replay.content.decode()


def test_the_state_is_bound_to_the_user_who_started(client, acme, oauth, code_source):
    from tests.factories import MembershipFactory, UserFactory

    client.force_login(acme.owner)
    ds = code_source()
    authorize_url = start_connect(client, connect_path(ds))
    callback = consent(authorize_url, oauth.ca_pem).replace("http://testserver", "")
    mallory = UserFactory(username="mallory")
    MembershipFactory(user=mallory, tenant=acme.tenant, role="admin")

    client.force_login(mallory)
    response = client.get(callback)

    assert response.status_code == 400
    assert "another user" in response.content.decode()
    assert not TokenState.objects.filter(datasource=ds).exists()


def test_the_state_is_bound_to_the_tenant_membership(client, acme, oauth, code_source):
    client.force_login(acme.owner)
    ds = code_source()
    authorize_url = start_connect(client, connect_path(ds))
    callback = consent(authorize_url, oauth.ca_pem).replace("http://testserver", "")
    acme.owner.memberships.all().delete()

    response = client.get(callback)

    assert response.status_code == 400
    assert not TokenState.objects.filter(datasource=ds).exists()


def test_an_unknown_state_is_refused(client, acme):
    client.force_login(acme.owner)
    response = client.get("/oauth/callback/?code=abc&state=forged")
    assert response.status_code == 400
    assert "unknown" in response.content.decode()


def test_connect_of_another_tenants_data_source_is_404(client, acme, globex, oauth, code_source):
    ds = code_source()
    client.force_login(globex.owner)
    for path in (
        f"/t/acme/datasources/{ds.pk}/connect/",
        f"/t/globex/datasources/{ds.pk}/connect/",
    ):
        assert client.get(path).status_code == 404
        assert client.post(path).status_code == 404


def test_an_expiring_token_is_refreshed_and_the_refresh_token_rotates(connected, oauth):
    before = TokenState.objects.get(datasource=connected)
    old_access, old_refresh = before.access_token, before.refresh_token
    refreshes = oauth.stats()["grant:refresh_token"]
    expire_locally(connected)

    assert datasource_request(connected, path="/hello").status_code == 200

    after = TokenState.objects.get(datasource=connected)
    assert after.access_token != old_access
    assert after.refresh_token and after.refresh_token != old_refresh
    assert oauth.stats()["grant:refresh_token"] == refreshes + 1
    # The old refresh token was rotated away at the provider: using it again fails.
    reuse = requests.post(
        f"https://{OAUTH_IP}:{oauth.port}/o/token/",
        data={"grant_type": "refresh_token", "refresh_token": old_refresh,
              "client_id": "code-client", "client_secret": "code-secret-value"},
        verify=str(oauth.ca_pem),
        timeout=10,
    )  # fmt: skip
    assert reuse.status_code == 400


def backdate(ds, by: timedelta) -> None:
    """As if the stored token had been obtained ``by`` earlier (its expiry moves with it)."""
    state = TokenState.objects.get(datasource=ds)
    TokenState.objects.filter(pk=state.pk).update(
        obtained_at=state.obtained_at - by, expires_at=state.expires_at - by
    )


def test_a_401_causes_one_refresh_and_one_retry(connected, oauth):
    backdate(connected, timedelta(minutes=10))  # a token we still think valid...
    state = TokenState.objects.get(datasource=connected)
    oauth.call("/_test/expire", {"token": state.access_token})  # ...that the provider refuses
    refreshes = oauth.stats()["grant:refresh_token"]

    response = datasource_request(connected, path="/hello")

    assert response.status_code == 200
    assert oauth.stats()["grant:refresh_token"] == refreshes + 1


def test_a_custom_expired_rule_is_honoured(connected, oauth):
    backdate(connected, timedelta(minutes=10))
    connected.auth_config = {**connected.auth_config, "expired_when": {"status_codes": [403]}}
    connected.save()
    state = TokenState.objects.get(datasource=connected)
    oauth.call("/_test/expire", {"token": state.access_token})
    refreshes = oauth.stats()["grant:refresh_token"]

    response = datasource_request(connected, path="/hello")

    assert response.status_code == 401  # 401 is not "expired" for this data source
    assert oauth.stats()["grant:refresh_token"] == refreshes


def test_fifty_concurrent_callers_with_an_expired_token_cause_one_token_request(connected, oauth):
    expire_locally(connected)
    before = oauth.stats()["token_requests"]
    results = run_together(50, lambda: datasource_request(connected, path="/hello").status_code)

    assert results == [200] * 50
    assert oauth.stats()["token_requests"] == before + 1


def test_a_failed_refresh_keeps_the_stored_credential(connected, oauth):
    stored = TokenState.objects.get(datasource=connected)
    oauth.call("/_test/revoke-refresh", {})
    expire_locally(connected)

    with pytest.raises(TokenRefreshFailed) as info:
        datasource_request(connected, path="/hello")

    kept = TokenState.objects.get(datasource=connected)
    assert kept.access_token == stored.access_token
    assert kept.refresh_token == stored.refresh_token
    connected.refresh_from_db()
    assert connected.status == Status.NEEDS_ATTENTION
    assert "invalid_grant" in connected.last_error
    assert stored.refresh_token not in connected.last_error + str(info.value)
    assert "code-secret-value" not in connected.last_error + str(info.value)


def test_celery_messages_carry_ids_never_secrets(connected, monkeypatch):
    backdate(connected, timedelta(minutes=58))  # an hour's token with 2 minutes left
    published = []

    def capture(body=None, headers=None, **kwargs):
        published.append((headers, body))

    before_task_publish.connect(capture, weak=False)
    try:
        refresh_expiring_tokens()
    finally:
        before_task_publish.disconnect(capture)

    state = TokenState.objects.get(datasource=connected)
    refreshes = [(h, b) for h, b in published if h["task"].endswith("refresh_datasource_token")]
    assert len(refreshes) == 1
    _headers, body = refreshes[0]
    assert list(body[0]) == [str(connected.pk)] and body[1] == {}
    text = repr(published)
    for secret in (state.access_token, state.refresh_token, "code-secret-value"):
        assert secret not in text


def test_the_schedule_refreshes_tokens_ahead_of_expiry_in_a_real_worker(
    client, acme, oauth, code_source, celery_worker
):
    client.force_login(acme.owner)
    ds = code_source(host=OAUTH_IP)  # the worker process resolves no test names
    connect(client, ds, oauth)
    backdate(ds, timedelta(minutes=58))  # an hour's token with 2 minutes left
    old = TokenState.objects.get(datasource=ds).access_token

    refresh_expiring_tokens.delay()

    wait_until(lambda: TokenState.objects.get(datasource=ds).access_token != old, timeout=30)
    state = TokenState.objects.get(datasource=ds)
    assert state.expires_at > timezone.now() + timedelta(minutes=30)
    assert "refresh_datasource_token" in celery_worker.log()


def test_opening_the_connect_url_starts_nothing_and_offers_to_continue(client, acme, code_source):
    from apps.datasources.models import OAuthGrant

    client.force_login(acme.owner)
    ds = code_source()
    page = client.get(connect_path(ds))

    assert page.status_code == 200
    assert 'id="connect-form"' in page.content.decode() and 'method="post"' in page.content.decode()
    assert not OAuthGrant.objects.exists()


def test_starting_a_grant_needs_a_post_with_the_csrf_token(acme, code_source):
    from django.test import Client

    from apps.datasources.models import OAuthGrant

    browser = Client(enforce_csrf_checks=True)
    browser.force_login(acme.owner)
    ds = code_source()

    assert browser.post(connect_path(ds)).status_code == 403  # a cross-site form
    assert not OAuthGrant.objects.exists()
    assert start_connect(browser, connect_path(ds)).startswith("https://oauth.test:")
    assert OAuthGrant.objects.count() == 1


def test_another_user_cannot_use_up_someone_elses_grant(client, acme, oauth, code_source):
    from tests.factories import MembershipFactory, UserFactory

    client.force_login(acme.owner)
    ds = code_source()
    callback = consent(start_connect(client, connect_path(ds)), oauth.ca_pem)
    callback = callback.replace("http://testserver", "")
    mallory = UserFactory(username="mallory")
    MembershipFactory(user=mallory, tenant=acme.tenant, role="admin")
    client.force_login(mallory)
    assert client.get(callback).status_code == 400

    client.force_login(acme.owner)
    assert client.get(callback).status_code == 302  # the grant was not burnt
    assert TokenState.objects.get(datasource=ds).access_token


def test_stale_grants_are_purged_on_a_schedule(client, acme, code_source):
    from django.conf import settings

    from apps.datasources.models import OAuthGrant
    from apps.datasources.tasks import purge_oauth_grants

    client.force_login(acme.owner)
    ds = code_source()
    for _ in range(3):
        start_connect(client, connect_path(ds))
    old = list(OAuthGrant.objects.values_list("pk", flat=True)[:2])
    OAuthGrant.objects.filter(pk__in=old).update(created_at=timezone.now() - timedelta(minutes=11))

    assert purge_oauth_grants() == 2
    assert OAuthGrant.objects.count() == 1
    tasks = {entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()}
    assert "apps.datasources.tasks.purge_oauth_grants" in tasks
