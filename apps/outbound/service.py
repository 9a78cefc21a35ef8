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
    Stream,
    join_url,
    open_stream,
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
    with connection.call_slot():  # one of its owner's calls in flight (UpstreamBusy)
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
            "owner": connection.owner,
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
    response: OutboundResponse | Stream,
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


# A refusal whose JSON body may say "expired" is read this far to find out (then replayed).
_EXPIRY_PEEK_BYTES = 64 * 1024


def connection_stream(
    connection: Connection,
    store: TokenStore,
    request: OutboundRequest,
    *,
    max_bytes: int,
    taking: object = None,
) -> Stream:
    """Send ``request`` (its URL absolute, its body replayable) on behalf of ``connection`` and
    hand back the answer unread, after one refresh-and-retry when the upstream said the token
    expired. Redirects are not followed: the caller passes them on. ``taking``: the caller's
    take of a call slot, already asked for (see ``Connection.call_slot``)."""
    request.headers = {**dict(connection.headers), **request.headers}
    held = connection.call_slot(taking)  # one of its owner's calls in flight, until the end
    held.__enter__()
    try:
        stream = _open_with_refresh(connection, store, request, max_bytes=max_bytes)
    except BaseException:
        held.__exit__(None, None, None)
        raise
    stream.after_close(lambda: held.__exit__(None, None, None))
    return stream


def _open_with_refresh(
    connection: Connection, store: TokenStore, request: OutboundRequest, *, max_bytes: int
) -> Stream:
    credentials = connection_credentials(connection, store)
    secrets = connection.secret_values()
    options = {
        "timeout": connection.timeout_seconds,
        "max_bytes": max_bytes,
        "pool": connection.pool_key,
        "redact": secrets,
        "owner": connection.owner,
    }
    stream = open_stream(request, credentials=credentials, **options)
    mode = get_mode(connection.auth_mode)
    if mode.token_bearing and _stream_says_expired(connection, mode, stream):
        retry = _credentials_after_refusal(connection, store, mode, credentials, stream)
        if retry is not None:
            stream.close()
            credentials = retry
            stream = open_stream(request, credentials=credentials, **options)
    stream.sensitive = secrets | credentials.values()
    return stream


def _stream_says_expired(connection: Connection, mode: AuthMode, stream: Stream) -> bool:
    rule = connection.auth_config.get("expired_when") or {}
    if stream.status_code in (rule.get("status_codes") or [401]):
        return True
    if not (rule.get("body_path") and "json" in stream.headers.get("Content-Type", "").lower()):
        return False
    declared = stream.declared_length
    if declared is not None and declared > _EXPIRY_PEEK_BYTES:
        return False
    body = stream.prefetch(_EXPIRY_PEEK_BYTES)
    peek = OutboundResponse(stream.status_code, stream.headers, body, stream.url, 0.0)
    return mode.is_expired(connection, peek)
