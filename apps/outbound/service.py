"""Calls on behalf of a connection: its base URL, headers and auth on top of the client, with
one refresh-and-retry when the upstream says the token expired."""

from __future__ import annotations

import time

from apps.core.codes import ErrorCode
from apps.outbound.auth import get_mode
from apps.outbound.auth.base import AuthMode
from apps.outbound.client import (
    OPTIONS_MAX_BYTES,
    Credentials,
    OutboundRequest,
    OutboundResponse,
    join_url,
    send,
)
from apps.outbound.connection import Connection
from apps.outbound.errors import OutboundError
from apps.outbound.tokens import (
    TokenStore,
    refused_just_after_refresh,
    token_current,
    token_refresh,
)
from apps.outbound.transport import Trace


class NotConnected(OutboundError):
    code = ErrorCode.NOT_CONNECTED
    status = 409
    message = "This data source is not connected yet: open its connect link to grant access."


def connection_credentials(connection: Connection, store: TokenStore) -> Credentials:
    """The credentials for one request (a token obtained or refreshed first when needed)."""
    mode = get_mode(connection.auth_mode)
    if not mode.token_bearing:
        return mode.apply(connection)
    token = token_current(connection, store)
    if not token:
        raise NotConnected()
    return mode.token_credentials(connection, token)


def connection_request(
    connection: Connection,
    store: TokenStore,
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
) -> OutboundResponse:
    """Send one request to ``connection`` (``path`` is relative to its base URL)."""
    all_headers = dict(connection.headers)
    all_headers.update(headers or {})
    request = OutboundRequest(
        method=method,
        url=url or join_url(connection.base_url, path),
        headers=all_headers,
        params=list(params or []),
        body=body,
    )
    auth_started = time.perf_counter()
    credentials = connection_credentials(connection, store)
    if trace is not None:
        trace.auth_ms = (time.perf_counter() - auth_started) * 1000
    secrets = connection.secret_values()
    options = {
        "timeout": connection.timeout_seconds,
        "max_bytes": max_bytes,
        "pool": connection.pool_key,
        "trace": trace,
        "fresh_connection": fresh_connection,
        "redact": secrets,
    }
    response = send(request, credentials=credentials, **options)
    mode = get_mode(connection.auth_mode)
    if mode.token_bearing and mode.is_expired(connection, response):
        retry = _credentials_after_refusal(connection, store, mode, credentials, response)
        if retry is not None:
            credentials = retry
            response = send(request, credentials=credentials, **options)
    response.sensitive = secrets | credentials.values()
    return response


def _credentials_after_refusal(
    connection: Connection,
    store: TokenStore,
    mode: AuthMode,
    used: Credentials,
    response: OutboundResponse,
) -> Credentials | None:
    """New credentials to retry with once the upstream said the token expired, or None when a
    retry cannot help."""
    if refused_just_after_refresh(store, used.token):
        # Refused moments after it was obtained: another refresh would not help (and would
        # burn a rotating refresh token); the caller gets the upstream's answer as an error.
        return None
    if not mode.can_refresh(connection, store.load()):
        store.report_problem(
            f"The upstream refused the token (HTTP {response.status_code}) and no way to "
            "refresh it is configured."
        )
        return None
    token = token_refresh(connection, store, stale=used.token)
    return mode.token_credentials(connection, token)
