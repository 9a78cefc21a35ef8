"""Token refreshes are counted by outcome (refreshed, failed), against the real OAuth server."""

import pytest
from prometheus_client import REGISTRY

from apps.datasources.connections import datasource_request
from apps.outbound.errors import TokenRefreshFailed
from tests.factories import DataSourceFactory


def refreshes(outcome: str) -> float:
    return REGISTRY.get_sample_value("plugboard_token_refreshes_total", {"outcome": outcome}) or 0


def client_credentials(acme, oauth, secret: str):
    return DataSourceFactory(
        tenant=acme.tenant, base_url=oauth.url("/api"), auth_mode="oauth2_client_credentials",
        auth_config={"token_url": oauth.url("/o/token/"), "client_id": "cc-client"},
        secrets={"client_secret": secret},
    )  # fmt: skip


def test_a_token_obtained_counts_once_then_is_reused(acme, oauth):
    datasource = client_credentials(acme, oauth, "cc-secret-value")
    before = refreshes("refreshed")

    datasource_request(datasource, path="/hello")
    datasource_request(datasource, path="/hello")

    assert refreshes("refreshed") == before + 1


def test_a_failed_refresh_is_counted(acme, oauth):
    datasource = client_credentials(acme, oauth, "wrong-secret")
    before = refreshes("failed")

    with pytest.raises(TokenRefreshFailed):
        datasource_request(datasource, path="/hello")

    assert refreshes("failed") == before + 1
