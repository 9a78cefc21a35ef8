"""A data source as the outbound client sees it: a :class:`Connection` and a token store backed
by its ``TokenState`` row. Every call on behalf of a data source goes through
:func:`datasource_request`."""

from __future__ import annotations

import contextlib
import functools
import logging
from collections.abc import Iterator
from datetime import datetime

from django.db import OperationalError, transaction
from django.db import connection as db
from django.utils import timezone

from apps.core import slots
from apps.core.crypto import DecryptionError
from apps.core.locks import LockTimeout, LockUnavailable, file_lock, redis_lock
from apps.datasources.models import DataSource, Status, TokenState
from apps.outbound.auth.base import StoredToken, TokenResult
from apps.outbound.client import MAX_TIMEOUT, OPTIONS_MAX_BYTES, OutboundResponse
from apps.outbound.connection import Connection
from apps.outbound.errors import SecretsUnreadable, UpstreamBusy
from apps.outbound.service import NotConnected, connection_request
from apps.outbound.tokens import MemoryTokenStore, TokenStore, token_current
from apps.outbound.transport import Trace
from apps.tenants import limits

logger = logging.getLogger("plugboard.tokens")


def connection_of(datasource: DataSource) -> Connection:
    """The data source's settings and secrets (SecretsUnreadable when no key decrypts them)."""
    try:
        secrets = dict(datasource.secrets or {})
    except DecryptionError:
        raise SecretsUnreadable() from None
    return Connection(
        id=f"datasource:{datasource.pk}",
        base_url=datasource.base_url,
        timeout_seconds=datasource.timeout_seconds,
        headers=tuple((h["name"], h["value"]) for h in datasource.headers or []),
        auth_mode=datasource.auth_mode,
        auth_config=dict(datasource.auth_config or {}),
        secrets=secrets,
        owner=f"tenant:{datasource.tenant_id}",
        slot=functools.partial(TenantCallSlot, datasource.tenant_id),
    )


# A call waits this long at most for one of its tenant's slots to come free.
SLOT_WAIT = 2.0


def _hold(timeout: float) -> float:
    """How long a slot outlives a process that died holding it."""
    return timeout * 3 + 10


def tenant_slot_taking(tenant_id: int) -> slots.Taking:
    """A take of one of the tenant's call slots, to ride in a pipeline the caller sends anyway
    (held as long as the longest call may take)."""
    return slots.Taking(
        f"upstream:{tenant_id}",
        limit=limits.tenant_scalar("upstream_concurrency", tenant_id),
        hold=_hold(MAX_TIMEOUT),
    )


class TenantCallSlot:
    """One of the calls a tenant may have in flight to its APIs at once (its
    ``upstream_concurrency`` limit); UpstreamBusy when none comes free soon. ``taking``: the
    caller's take, already asked for (see ``tenant_slot_taking``)."""

    __slots__ = ("_held", "limit")

    def __init__(self, tenant_id: int, timeout: float, taking: slots.Taking | None = None) -> None:
        self.limit = limits.tenant_scalar("upstream_concurrency", tenant_id)
        self._held = slots.Slot(f"upstream:{tenant_id}", limit=self.limit, hold=_hold(timeout),
                                wait=min(SLOT_WAIT, timeout), taking=taking)  # fmt: skip

    def __enter__(self) -> None:
        try:
            self._held.__enter__()
        except slots.Full:
            raise UpstreamBusy(limit=self.limit) from None

    def __exit__(self, *exc: object) -> None:
        self._held.__exit__(*exc)


def readable_token_state(state: TokenState | None) -> TokenState | None:
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


def token_state_get(*, datasource_id: object) -> TokenState | None:
    return readable_token_state(TokenState.objects.filter(datasource_id=datasource_id).first())


def stored_token(state: TokenState | None) -> StoredToken | None:
    if state is None:
        return None
    return StoredToken(
        access_token=state.access_token,
        refresh_token=state.refresh_token,
        expires_at=state.expires_at,
        obtained_at=state.obtained_at,
    )


def mark_needs_attention(datasource_id: object, message: str) -> None:
    DataSource.objects.filter(pk=datasource_id).update(
        status=Status.NEEDS_ATTENTION, last_error=message[:1000]
    )


class TokenStateStore:
    """The tokens of one data source, in its TokenState row (encrypted)."""

    def __init__(self, datasource_id: object) -> None:
        self.datasource_id = datasource_id

    def load(self) -> StoredToken | None:
        return stored_token(token_state_get(datasource_id=self.datasource_id))

    @contextlib.contextmanager
    def exclusive(self, *, wait: float) -> Iterator[None]:
        """Redis when it can be reached; else the token row's database lock, so that refreshes
        on different machines still never overlap; on SQLite (one machine), a file lock."""
        name = f"token-refresh:{self.datasource_id}"
        with contextlib.ExitStack() as stack:
            try:
                stack.enter_context(redis_lock(name, timeout=wait + 30, wait=wait))
            except LockUnavailable:
                if db.features.has_select_for_update:
                    stack.enter_context(transaction.atomic())
                    self._lock_row(wait)
                else:
                    stack.enter_context(file_lock(name, wait=wait))
            yield

    def _lock_row(self, wait: float) -> None:
        if db.vendor == "postgresql":
            with db.cursor() as cursor:
                cursor.execute(
                    "SELECT set_config('lock_timeout', %s, true)", [f"{int(wait * 1000)}ms"]
                )
        try:
            TokenState.objects.select_for_update().get_or_create(datasource_id=self.datasource_id)
        except OperationalError as exc:
            raise LockTimeout() from exc

    def reread(self, connection: Connection) -> Connection | None:
        datasource = DataSource.objects.filter(pk=self.datasource_id).first()
        return connection_of(datasource) if datasource is not None else None

    def save(self, result: TokenResult, *, obtained_at: datetime) -> None:
        self._store(result, obtained_at=obtained_at, keep_refresh_token=True)

    def replace(self, result: TokenResult) -> None:
        """Tokens of a new grant replace everything stored (refresh token included)."""
        self._store(result, obtained_at=timezone.now(), keep_refresh_token=False)

    def _store(
        self, result: TokenResult, *, obtained_at: datetime, keep_refresh_token: bool
    ) -> None:
        with transaction.atomic():
            state, _ = TokenState.objects.select_for_update().get_or_create(
                datasource_id=self.datasource_id
            )
            state.access_token = result.access_token
            if result.refresh_token or not keep_refresh_token:
                state.refresh_token = result.refresh_token  # a rotated one replaces the old
            state.expires_at = result.expires_at
            state.token_type = result.token_type
            state.obtained_at = obtained_at
            state.extra = {**(state.extra or {}), **(result.extra or {})}
            state.last_refresh_attempt_at = obtained_at
            state.last_refresh_error = ""
            state.save()
            DataSource.objects.filter(pk=self.datasource_id).exclude(
                status=Status.OK, last_error=""
            ).update(status=Status.OK, last_error="")

    def refresh_failed(self, message: str, *, at: datetime) -> None:
        mark_needs_attention(self.datasource_id, message)
        TokenState.objects.filter(datasource_id=self.datasource_id).update(
            last_refresh_attempt_at=at, last_refresh_error=message[:1000]
        )

    def report_problem(self, message: str) -> None:
        mark_needs_attention(self.datasource_id, message)


def datasource_token(datasource: DataSource) -> str | None:
    """The token the data source would send now (refreshed first when about to expire)."""
    return token_current(connection_of(datasource), TokenStateStore(datasource.pk))


def datasource_request(
    datasource: DataSource,
    *,
    method: str = "GET",
    path: str = "",
    url: str | None = None,
    params: list[tuple[str, str]] | None = None,
    headers: dict[str, str] | None = None,
    body: bytes | None = None,
    max_bytes: int = OPTIONS_MAX_BYTES,
    trace: Trace | None = None,
    fresh_connection: bool = False,
    ephemeral_tokens: bool = False,
) -> OutboundResponse:
    """Send one request on behalf of ``datasource`` (``path`` is relative to its base URL).

    ``ephemeral_tokens`` (testing unsaved settings) neither reads nor stores tokens, so stored
    tokens never meet other settings."""
    store: TokenStore = MemoryTokenStore() if ephemeral_tokens else TokenStateStore(datasource.pk)
    try:
        return connection_request(
            connection_of(datasource),
            store,
            method=method,
            path=path,
            url=url,
            params=params,
            headers=headers,
            body=body,
            max_bytes=max_bytes,
            trace=trace,
            fresh_connection=fresh_connection,
        )
    except NotConnected:
        if ephemeral_tokens:
            raise NotConnected(
                "These settings need a new authorization: save them, then connect again."
            ) from None
        raise
