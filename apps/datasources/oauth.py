"""The authorization-code flow of a data source: begin (PKCE, server-side state) and complete
(single-use state bound to user and tenant, checked before it is used up; the code exchanged
through the outbound client; the tokens stored encrypted)."""

from __future__ import annotations

import secrets
from datetime import datetime
from typing import Any

from django.db import transaction
from django.utils import timezone

from apps.core.codes import ErrorCode
from apps.core.errors import ApplicationError
from apps.datasources.connections import TokenStateStore, connection_of
from apps.datasources.models import DataSource, OAuthGrant
from apps.outbound.auth import get_mode
from apps.outbound.auth.oauth2_authorization_code import AuthorizationCodeAuth, pkce_pair
from apps.tenants.selectors import membership_get


class OAuthFlowError(ApplicationError):
    code = ErrorCode.OAUTH_FAILED
    status = 400
    message = "The authorization could not be completed."


def _mode(datasource: DataSource) -> AuthorizationCodeAuth:
    mode = get_mode(datasource.auth_mode)
    if not isinstance(mode, AuthorizationCodeAuth):
        raise OAuthFlowError("This data source does not use OAuth 2.0 authorization code.")
    return mode


def oauth_begin(*, datasource: DataSource, user: Any, redirect_uri: str) -> str:
    """Record a single-use grant for ``user`` and return the provider's authorization URL."""
    mode = _mode(datasource)
    verifier, challenge = pkce_pair()
    state = secrets.token_urlsafe(32)
    grant = OAuthGrant(
        tenant_id=datasource.tenant_id,
        datasource=datasource,
        user=user,
        state=state,
        redirect_uri=redirect_uri,
    )
    grant.code_verifier = verifier
    grant.save()
    return mode.authorization_url(
        connection_of(datasource), state=state, redirect_uri=redirect_uri, code_challenge=challenge
    )


def oauth_grants_purge(*, now: datetime | None = None) -> int:
    """Delete grants past their lifetime, used or not (they are single-use and short-lived)."""
    cutoff = (now or timezone.now()) - OAuthGrant.LIFETIME
    deleted, _ = OAuthGrant.objects.filter(created_at__lt=cutoff).delete()
    return deleted


def oauth_complete(*, state: str, code: str | None, error: str | None, user: Any) -> DataSource:
    """Finish a grant: returns its data source, connected; raises OAuthFlowError otherwise."""
    grant = (
        OAuthGrant.objects.select_related("datasource", "tenant").filter(state=state).first()
        if state
        else None
    )
    if grant is None:
        raise OAuthFlowError("This authorization is unknown. Start again from the data source.")
    # Who may finish the grant is checked before it is used up, so that nobody else can burn
    # another user's authorization by replaying its callback.
    if grant.user_id != getattr(user, "pk", None):
        raise OAuthFlowError("This authorization was started by another user.")
    membership = membership_get(user=user, slug=grant.tenant.slug)
    if membership is None or not membership.can_write:
        raise OAuthFlowError("You can no longer change this tenant's data sources.")
    if grant.expired:
        raise OAuthFlowError("This authorization took too long. Start again from the data source.")
    with transaction.atomic():
        claimed = OAuthGrant.objects.filter(pk=grant.pk, used_at__isnull=True).update(
            used_at=timezone.now()
        )
    if not claimed:
        raise OAuthFlowError(
            "This authorization was already used. Start again from the data source."
        )
    datasource = grant.datasource
    if error:
        shown = error if error.replace("_", "").isalnum() and len(error) < 60 else "error"
        raise OAuthFlowError(f"The provider did not grant access ({shown}).")
    if not code:
        raise OAuthFlowError("The provider sent no authorization code.")
    result = _mode(datasource).exchange_code(
        connection_of(datasource),
        code=code,
        redirect_uri=grant.redirect_uri,
        code_verifier=grant.code_verifier,
    )
    TokenStateStore(datasource.pk).replace(result)
    grant.code_verifier = None
    grant.save(update_fields=["code_verifier"])
    return datasource
