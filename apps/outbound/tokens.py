"""Token lifecycle: cached until shortly before expiry, refreshed ahead of time and on demand,
never twice at once for one connection, and never lost when a refresh fails.

How early "shortly before expiry" is scales with the token's lifetime (a quarter of it, at most
60 s), so a provider issuing 20-second tokens is not asked for a new one on every call. A token
the upstream refuses moments after it was obtained is not refreshed again.

Where tokens live is the caller's business: it hands over a :class:`TokenStore`, which keeps
them, serialises refreshes across processes and machines (``exclusive``) and records outcomes.
A refresh holds that exclusivity, re-reads the stored token and the connection's settings (another
process may have refreshed, or the settings changed, meanwhile), calls the token endpoint, and
saves the new tokens (a rotated refresh token included). A failure is recorded and keeps what
was stored.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Protocol

from django.utils import timezone

from apps.core import metrics
from apps.outbound.auth import get_mode
from apps.outbound.auth.base import StoredToken, TokenResult
from apps.outbound.connection import Connection
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
# The periodic refresh takes tokens that expire within this window, well before any caller
# would have to wait for a refresh...
REFRESH_AHEAD = timedelta(minutes=5)
# ...and that live long enough for a once-a-minute schedule to stay ahead of them; shorter-lived
# tokens are refreshed on demand only.
SCHEDULED_MIN_LIFETIME = 2 * REFRESH_AHEAD


class TokenStore(Protocol):
    """Where a connection's tokens are kept (the owner of the connection implements it)."""

    def load(self) -> StoredToken | None:
        """The stored token, or None (none stored, or not readable)."""

    def exclusive(self, *, wait: float) -> contextlib.AbstractContextManager[None]:
        """Held while refreshing: no other refresh of this connection runs meanwhile."""

    def reread(self, connection: Connection) -> Connection | None:
        """The connection's current settings (None when it no longer exists)."""

    def save(self, result: TokenResult, *, obtained_at: datetime) -> None:
        """Keep a new token (a refresh token only replaces the stored one when given)."""

    def refresh_failed(self, message: str, *, at: datetime) -> None:
        """Record a failed refresh (what was stored is kept)."""

    def report_problem(self, message: str) -> None:
        """The connection needs attention (e.g. the upstream refuses its token)."""


class MemoryTokenStore:
    """Tokens kept for the duration of one piece of work only (testing unsaved settings)."""

    def __init__(self) -> None:
        self.token: StoredToken | None = None
        self.problems: list[str] = []

    def load(self) -> StoredToken | None:
        return self.token

    @contextlib.contextmanager
    def exclusive(self, *, wait: float) -> Iterator[None]:
        yield

    def reread(self, connection: Connection) -> Connection | None:
        return connection

    def save(self, result: TokenResult, *, obtained_at: datetime) -> None:
        self.token = StoredToken(
            access_token=result.access_token,
            refresh_token=result.refresh_token
            or (self.token.refresh_token if self.token else None),
            expires_at=result.expires_at,
            obtained_at=obtained_at,
        )

    def refresh_failed(self, message: str, *, at: datetime) -> None:
        self.problems.append(message)

    def report_problem(self, message: str) -> None:
        self.problems.append(message)


def lifetime(stored: StoredToken | None) -> timedelta | None:
    if stored is None or stored.expires_at is None or stored.obtained_at is None:
        return None
    return max(stored.expires_at - stored.obtained_at, timedelta(0))


def refresh_margin(stored: StoredToken | None) -> timedelta:
    """How long before expiry ``stored``'s token is replaced on demand."""
    life = lifetime(stored)
    return MAX_MARGIN if life is None else min(MAX_MARGIN, life * MARGIN_FRACTION)


def expiring(stored: StoredToken, within: timedelta) -> bool:
    return stored.expires_at is not None and stored.expires_at - timezone.now() <= within


def due_for_scheduled_refresh(stored: StoredToken) -> bool:
    """Whether the periodic refresh should renew ``stored`` now."""
    life = lifetime(stored)
    if life is not None and life < SCHEDULED_MIN_LIFETIME:
        return False
    return expiring(stored, REFRESH_AHEAD)


def token_current(connection: Connection, store: TokenStore) -> str | None:
    """The token to send now, refreshing it first when it is about to expire."""
    mode = get_mode(connection.auth_mode)
    stored = store.load()
    held = stored.access_token if stored else None
    if held and not expiring(stored, refresh_margin(stored)):
        return held
    if held:
        # About to expire: refresh when possible, else let the upstream judge it.
        if mode.can_refresh(connection, stored):
            return token_refresh(connection, store, stale=held)
        return held
    static = mode.static_token(connection)
    if static:
        return static  # a configured token is used until the upstream refuses it
    if mode.can_refresh(connection, stored):
        return token_refresh(connection, store, stale=None)
    return None


def refused_just_after_refresh(store: TokenStore, token: str | None) -> bool:
    """Whether ``token``, which the upstream just refused, was obtained moments ago (so a
    refresh would not help)."""
    stored = store.load()
    if stored is None or not token or stored.access_token != token or not stored.obtained_at:
        return False
    window = REFUSAL_COOLDOWN
    life = lifetime(stored)
    if life is not None:
        window = min(window, life / 2)
    return timezone.now() - stored.obtained_at < window


def token_refresh(
    connection: Connection,
    store: TokenStore,
    *,
    stale: str | None,
    ahead: timedelta | None = None,
) -> str:
    """Obtain a new token (see the module docstring).

    ``stale`` is the token the caller holds (or None): when the stored token already differs
    from it and is fresh, another caller refreshed in the meantime and that token is returned.
    ``ahead`` (scheduled refreshes) skips the call when the stored token outlives that window.
    """
    with store.exclusive(wait=connection.timeout_seconds + 10):
        token, failure = _refresh_exclusively(connection, store, stale=stale, ahead=ahead)
    if failure is not None:
        raise failure  # raised after the store's exclusivity ended, so its records are kept
    assert token is not None
    return token


def _refresh_exclusively(
    connection: Connection, store: TokenStore, *, stale: str | None, ahead: timedelta | None
) -> tuple[str | None, TokenRefreshFailed | None]:
    current = store.reread(connection)
    if current is None:
        return None, TokenRefreshFailed("The connection no longer exists.")
    stored = store.load()
    if stored and stored.access_token:
        if ahead is not None:  # scheduled: only when it expires within the window
            if not expiring(stored, ahead):
                return stored.access_token, None
        elif not expiring(stored, refresh_margin(stored)) and stored.access_token != stale:
            metrics.TOKEN_REFRESHES.labels("reused").inc()
            return stored.access_token, None  # another caller refreshed it meanwhile
    mode = get_mode(current.auth_mode)
    if not mode.can_refresh(current, stored):
        message = "The upstream refused the token and no way to refresh it is configured."
        store.report_problem(message)
        metrics.TOKEN_REFRESHES.labels("failed").inc()
        return None, TokenRefreshFailed(message)
    attempted_at = timezone.now()
    try:
        result = mode.fetch_token(current, stored)
    except OutboundError as exc:
        message = f"Token refresh failed: {exc.message}"
        logger.warning("token refresh for %s failed: %s", connection.id, exc.code)
        store.refresh_failed(message, at=attempted_at)
        metrics.TOKEN_REFRESHES.labels("failed").inc()
        details = exc.details if isinstance(exc, TokenRefreshFailed) else {"cause": exc.code}
        return None, TokenRefreshFailed(message, details=details)
    store.save(result, obtained_at=attempted_at)
    metrics.TOKEN_REFRESHES.labels("refreshed").inc()
    logger.info("token refreshed for %s", connection.id)
    return result.access_token, None
