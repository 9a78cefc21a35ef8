"""Token lifecycle: cached until shortly before expiry, refreshed ahead of time and on demand,
never twice at once for one data source, and never lost when a refresh fails.

A refresh holds a cross-process lock (Redis, or a file lock on the embedded default), re-reads
the stored tokens after acquiring it (another process may have refreshed meanwhile), calls the
token endpoint, and saves the new tokens (including a rotated refresh token) in one transaction
under a row lock. A failure marks the data source ``needs_attention`` and keeps what was stored.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from apps.core.locks import distributed_lock
from apps.outbound.auth import get_mode
from apps.outbound.errors import OutboundError, TokenRefreshFailed

logger = logging.getLogger("plugboard.tokens")

# On demand, a token this close to expiry is refreshed before it is used.
REFRESH_SKEW = timedelta(seconds=60)
# The periodic task refreshes tokens that expire within this window, well before any caller
# would have to wait for a refresh.
REFRESH_AHEAD = timedelta(minutes=5)
# After a failed scheduled refresh, wait this long before the schedule tries again.
RETRY_AFTER_FAILURE = timedelta(minutes=5)


def _state_of(datasource):
    from apps.datasources.models import TokenState

    return TokenState.objects.filter(datasource_id=datasource.pk).first()


def token_current(datasource) -> str | None:
    """The token to send now, refreshing it first when it is about to expire."""
    mode = get_mode(datasource.auth_mode)
    state = _state_of(datasource)
    stored = state.access_token if state else None
    if stored and not state.expiring(REFRESH_SKEW):
        return stored
    if stored:
        # About to expire: refresh when possible, else let the upstream judge it.
        return (
            token_refresh(datasource, stale=stored)
            if mode.can_refresh(datasource, state)
            else stored
        )
    static = mode.static_token(datasource)
    if static:
        return static  # a configured token is used until the upstream refuses it
    if mode.can_refresh(datasource, state):
        return token_refresh(datasource, stale=None)
    return None


def mark_needs_attention(datasource, message: str) -> None:
    from apps.datasources.models import DataSource, Status

    DataSource.objects.filter(pk=datasource.pk).update(
        status=Status.NEEDS_ATTENTION, last_error=message[:1000]
    )
    datasource.status, datasource.last_error = Status.NEEDS_ATTENTION, message[:1000]


def token_refresh(datasource, *, stale: str | None, ahead: timedelta | None = None) -> str:
    """Obtain a new token for ``datasource`` (see the module docstring).

    ``stale`` is the token the caller holds (or None): when the stored token already differs
    from it and is fresh, another caller refreshed in the meantime and that token is returned.
    ``ahead`` (scheduled refreshes) skips the call when the stored token outlives that window.
    """
    from apps.datasources.models import DataSource, Status, TokenState

    wait = datasource.timeout_seconds + 10
    with distributed_lock(f"token-refresh:{datasource.pk}", timeout=wait + 30, wait=wait):
        fresh_ds = DataSource.objects.filter(pk=datasource.pk).first()
        if fresh_ds is None:
            raise TokenRefreshFailed("The data source no longer exists.")
        state = TokenState.objects.filter(datasource_id=datasource.pk).first()
        if state and state.access_token:
            if ahead is not None:  # scheduled: only when it expires within the window
                if not state.expiring(ahead):
                    return state.access_token
            elif not state.expiring(REFRESH_SKEW) and state.access_token != stale:
                return state.access_token  # another caller refreshed it meanwhile
        mode = get_mode(fresh_ds.auth_mode)
        if not mode.can_refresh(fresh_ds, state):
            message = "The upstream refused the token and no way to refresh it is configured."
            mark_needs_attention(fresh_ds, message)
            raise TokenRefreshFailed(message)
        attempted_at = timezone.now()
        try:
            result = mode.fetch_token(fresh_ds, state)
        except OutboundError as exc:
            message = f"Token refresh failed: {exc.message}"
            logger.warning("token refresh for data source %s failed: %s", datasource.pk, exc.code)
            mark_needs_attention(fresh_ds, message)
            TokenState.objects.filter(datasource_id=datasource.pk).update(
                last_refresh_attempt_at=attempted_at, last_refresh_error=message[:1000]
            )
            if isinstance(exc, TokenRefreshFailed):
                raise TokenRefreshFailed(message, details=exc.details) from None
            raise TokenRefreshFailed(message, details={"cause": exc.code}) from None
        with transaction.atomic():
            locked, _ = TokenState.objects.select_for_update().get_or_create(
                datasource_id=datasource.pk
            )
            locked.access_token = result.access_token
            if result.refresh_token:
                locked.refresh_token = result.refresh_token  # a rotated one replaces the old
            locked.expires_at = result.expires_at
            locked.token_type = result.token_type
            locked.obtained_at = attempted_at
            locked.extra = {**(locked.extra or {}), **(result.extra or {})}
            locked.last_refresh_attempt_at = attempted_at
            locked.last_refresh_error = ""
            locked.save()
            if fresh_ds.status == Status.NEEDS_ATTENTION or fresh_ds.last_error:
                DataSource.objects.filter(pk=datasource.pk).update(status=Status.OK, last_error="")
        logger.info("token refreshed for data source %s", datasource.pk)
        return result.access_token


def tokens_due_for_refresh() -> list[str]:
    """Ids of data sources whose token expires within REFRESH_AHEAD and can be refreshed."""
    from apps.datasources.models import TokenState

    now = timezone.now()
    due = (
        TokenState.objects.filter(expires_at__isnull=False, expires_at__lte=now + REFRESH_AHEAD)
        .exclude(last_refresh_error__gt="", last_refresh_attempt_at__gt=now - RETRY_AFTER_FAILURE)
        .select_related("datasource")
    )
    ids = []
    for state in due:
        mode = get_mode(state.datasource.auth_mode)
        if mode.token_bearing and mode.can_refresh(state.datasource, state):
            ids.append(str(state.datasource_id))
    return ids


def token_store(datasource, result) -> None:
    """Save tokens obtained outside a refresh (an authorization-code exchange)."""
    from apps.datasources.models import DataSource, Status, TokenState

    with transaction.atomic():
        state, _ = TokenState.objects.select_for_update().get_or_create(datasource_id=datasource.pk)
        state.access_token = result.access_token
        state.refresh_token = result.refresh_token
        state.expires_at = result.expires_at
        state.token_type = result.token_type
        state.obtained_at = timezone.now()
        state.extra = result.extra or {}
        state.last_refresh_error = ""
        state.save()
        DataSource.objects.filter(pk=datasource.pk).update(status=Status.OK, last_error="")


def token_forget(datasource) -> None:
    """Drop stored tokens (new credentials were configured)."""
    from apps.datasources.models import TokenState

    TokenState.objects.filter(datasource_id=datasource.pk).delete()
