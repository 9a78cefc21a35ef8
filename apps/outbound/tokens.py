"""Token lifecycle: cached until shortly before expiry, refreshed ahead of time and on demand,
never twice at once for one data source, and never lost when a refresh fails.

How early "shortly before expiry" is scales with the token's lifetime (a quarter of it, at most
60 s), so a provider issuing 20-second tokens is not asked for a new one on every call.

A refresh holds a cross-process lock (Redis; when Redis cannot be reached, the token row's
database lock, so that refreshes on different machines still never overlap; on SQLite, the
embedded single-machine default, a file lock), re-reads the stored tokens after acquiring it
(another process may have refreshed meanwhile), calls the token endpoint, and saves the new
tokens (including a rotated refresh token) in one transaction under a row lock. A failure marks
the data source ``needs_attention`` and keeps what was stored.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from datetime import timedelta

from django.db import OperationalError, connection, transaction
from django.utils import timezone

from apps.core.crypto import DecryptionError
from apps.core.locks import LockTimeout, LockUnavailable, file_lock, redis_lock
from apps.outbound.auth import get_mode
from apps.outbound.errors import OutboundError, TokenRefreshFailed

logger = logging.getLogger("plugboard.tokens")

# On demand, a token is refreshed before use once less than this part of its lifetime is left,
# and never more than MAX_MARGIN before it expires.
MARGIN_FRACTION = 0.25
MAX_MARGIN = timedelta(seconds=60)
# A token the upstream refuses this soon after it was obtained is not refreshed again: the
# upstream is refusing something else (a scope, a path), and refreshing would only burn
# rotating refresh tokens. Capped at half the token's lifetime for very short-lived tokens.
REFUSAL_COOLDOWN = timedelta(seconds=30)
# The periodic task refreshes tokens that expire within this window, well before any caller
# would have to wait for a refresh...
REFRESH_AHEAD = timedelta(minutes=5)
# ...for tokens that live long enough for a once-a-minute schedule to stay ahead of them;
# shorter-lived tokens are refreshed on demand only.
SCHEDULED_MIN_LIFETIME = 2 * REFRESH_AHEAD
# After a failed scheduled refresh, wait this long before the schedule tries again.
RETRY_AFTER_FAILURE = timedelta(minutes=5)


def _lifetime(state) -> timedelta | None:
    if state is None or state.expires_at is None or state.obtained_at is None:
        return None
    return max(state.expires_at - state.obtained_at, timedelta(0))


def refresh_margin(state) -> timedelta:
    """How long before expiry ``state``'s token is replaced on demand."""
    lifetime = _lifetime(state)
    return MAX_MARGIN if lifetime is None else min(MAX_MARGIN, lifetime * MARGIN_FRACTION)


def _expiring(state, within: timedelta) -> bool:
    return state.expires_at is not None and state.expires_at - timezone.now() <= within


def _state_of(datasource):
    from apps.datasources.models import TokenState

    return readable_state(TokenState.objects.filter(datasource_id=datasource.pk).first())


def readable_state(state):
    """``state``, or None when its tokens cannot be decrypted with the configured keys (they
    are then as good as absent: a refresh or a new connection replaces them)."""
    if state is None:
        return None
    try:
        state.access_token  # noqa: B018 - decrypts, or raises
        state.refresh_token  # noqa: B018
    except DecryptionError:
        logger.warning("stored tokens of data source %s cannot be decrypted", state.datasource_id)
        return None
    return state


def token_current(datasource) -> str | None:
    """The token to send now, refreshing it first when it is about to expire."""
    mode = get_mode(datasource.auth_mode)
    state = _state_of(datasource)
    stored = state.access_token if state else None
    if stored and not _expiring(state, refresh_margin(state)):
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


def refused_just_after_refresh(datasource, token: str | None) -> bool:
    """Whether ``token``, which the upstream just refused, is the one obtained moments ago (so
    refreshing again would not help)."""
    state = _state_of(datasource)
    if state is None or not token or state.access_token != token or state.obtained_at is None:
        return False
    window = REFUSAL_COOLDOWN
    lifetime = _lifetime(state)
    if lifetime is not None:
        window = min(window, lifetime / 2)
    return timezone.now() - state.obtained_at < window


def mark_needs_attention(datasource, message: str) -> None:
    from apps.datasources.models import DataSource, Status

    DataSource.objects.filter(pk=datasource.pk).update(
        status=Status.NEEDS_ATTENTION, last_error=message[:1000]
    )
    datasource.status, datasource.last_error = Status.NEEDS_ATTENTION, message[:1000]


@contextlib.contextmanager
def _refresh_lock(datasource, *, wait: float) -> Iterator[None]:
    """One refresh of ``datasource`` at a time, across processes and machines."""
    from apps.datasources.models import TokenState

    name = f"token-refresh:{datasource.pk}"
    with contextlib.ExitStack() as stack:
        try:
            stack.enter_context(redis_lock(name, timeout=wait + 30, wait=wait))
        except LockUnavailable:
            if not connection.features.has_select_for_update:
                stack.enter_context(file_lock(name, wait=wait))  # SQLite: one machine
            else:
                # Redis is unreachable: the token row's lock serialises refreshes instead.
                stack.enter_context(transaction.atomic())
                if connection.vendor == "postgresql":
                    with connection.cursor() as cursor:
                        cursor.execute(
                            "SELECT set_config('lock_timeout', %s, true)", [f"{int(wait * 1000)}ms"]
                        )
                try:
                    TokenState.objects.select_for_update().get_or_create(
                        datasource_id=datasource.pk
                    )
                except OperationalError as exc:
                    raise LockTimeout() from exc
        yield


def token_refresh(datasource, *, stale: str | None, ahead: timedelta | None = None) -> str:
    """Obtain a new token for ``datasource`` (see the module docstring).

    ``stale`` is the token the caller holds (or None): when the stored token already differs
    from it and is fresh, another caller refreshed in the meantime and that token is returned.
    ``ahead`` (scheduled refreshes) skips the call when the stored token outlives that window.
    """
    failure: TokenRefreshFailed | None = None
    with _refresh_lock(datasource, wait=datasource.timeout_seconds + 10):
        token, failure = _refresh_locked(datasource, stale=stale, ahead=ahead)
    if failure is not None:
        raise failure  # raised outside the lock's transaction, so what it recorded is kept
    assert token is not None
    return token


def _refresh_locked(
    datasource, *, stale: str | None, ahead: timedelta | None
) -> tuple[str | None, TokenRefreshFailed | None]:
    from apps.datasources.models import DataSource, Status, TokenState

    fresh_ds = DataSource.objects.filter(pk=datasource.pk).first()
    if fresh_ds is None:
        return None, TokenRefreshFailed("The data source no longer exists.")
    state = readable_state(TokenState.objects.filter(datasource_id=datasource.pk).first())
    if state and state.access_token:
        if ahead is not None:  # scheduled: only when it expires within the window
            if not _expiring(state, ahead):
                return state.access_token, None
        elif not _expiring(state, refresh_margin(state)) and state.access_token != stale:
            return state.access_token, None  # another caller refreshed it meanwhile
    mode = get_mode(fresh_ds.auth_mode)
    if not mode.can_refresh(fresh_ds, state):
        message = "The upstream refused the token and no way to refresh it is configured."
        mark_needs_attention(fresh_ds, message)
        return None, TokenRefreshFailed(message)
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
        details = exc.details if isinstance(exc, TokenRefreshFailed) else {"cause": exc.code}
        return None, TokenRefreshFailed(message, details=details)
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
    return result.access_token, None


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
        lifetime = _lifetime(state)
        if lifetime is not None and lifetime < SCHEDULED_MIN_LIFETIME:
            continue  # too short-lived for the schedule: refreshed on demand
        mode = get_mode(state.datasource.auth_mode)
        if mode.token_bearing and mode.can_refresh(state.datasource, readable_state(state)):
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
