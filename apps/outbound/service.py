"""Calls on behalf of a data source: its base URL, headers and auth on top of the client,
with one refresh-and-retry when the upstream says the token expired."""

from __future__ import annotations

import time
from typing import Any

from apps.core.crypto import DecryptionError
from apps.outbound.auth import get_mode
from apps.outbound.client import (
    OPTIONS_MAX_BYTES,
    Credentials,
    OutboundRequest,
    OutboundResponse,
    join_url,
    send,
)
from apps.outbound.errors import OutboundError, SecretsUnreadable, TokenRefreshFailed
from apps.outbound.tokens import (
    mark_needs_attention,
    refused_just_after_refresh,
    token_current,
    token_refresh,
)
from apps.outbound.transport import Trace


class NotConnected(OutboundError):
    code = "not_connected"
    status = 409
    message = "This data source is not connected yet: open its connect link to grant access."


def datasource_credentials(
    datasource: Any, request: OutboundRequest, *, ephemeral_tokens: bool = False
) -> Credentials:
    """The credentials for one request. ``ephemeral_tokens`` (testing unsaved settings) obtains
    a token without reading or storing any, so stored tokens never meet other settings."""
    mode = get_mode(datasource.auth_mode)
    if not mode.token_bearing:
        return mode.apply(datasource, request)
    if ephemeral_tokens:
        token = mode.static_token(datasource)
        if not token and mode.can_refresh(datasource, None):
            try:
                token = mode.fetch_token(datasource, None).access_token
            except OutboundError as exc:
                raise TokenRefreshFailed(f"Token request failed: {exc.message}") from None
        if not token:
            raise NotConnected(
                "These settings need a new authorization: save them, then connect again."
            )
        return mode.token_credentials(datasource, token)
    token = token_current(datasource)
    if not token:
        raise NotConnected()
    return mode.token_credentials(datasource, token)


def datasource_request(
    datasource: Any,
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
    """Send one request to ``datasource`` (``path`` is relative to its base URL)."""
    try:
        secrets = datasource.secrets or {}
    except DecryptionError:
        raise SecretsUnreadable() from None
    all_headers = {h["name"]: h["value"] for h in datasource.headers or []}
    all_headers.update(headers or {})
    request = OutboundRequest(
        method=method,
        url=url or join_url(datasource.base_url, path),
        headers=all_headers,
        params=list(params or []),
        body=body,
    )
    mode = get_mode(datasource.auth_mode)
    auth_started = time.perf_counter()
    credentials = datasource_credentials(datasource, request, ephemeral_tokens=ephemeral_tokens)
    if trace is not None:
        trace.auth_ms = (time.perf_counter() - auth_started) * 1000
    stored = {v for v in secrets.values() if isinstance(v, str) and v}
    options = {
        "timeout": datasource.timeout_seconds,
        "max_bytes": max_bytes,
        "pool": datasource.pool_key,
        "trace": trace,
        "fresh_connection": fresh_connection,
        "redact": stored,
    }
    response = send(request, credentials=credentials, **options)
    if mode.token_bearing and not ephemeral_tokens and mode.is_expired(datasource, response):
        retry = _credentials_after_refusal(datasource, mode, credentials, response.status_code)
        if retry is not None:
            credentials = retry
            response = send(request, credentials=credentials, **options)
    response.sensitive = stored | credentials.values()
    return response


def _credentials_after_refusal(
    datasource: Any, mode: Any, used: Credentials, status_code: int
) -> Credentials | None:
    """New credentials to retry with once the upstream said the token expired, or None when
    a retry cannot help."""
    if refused_just_after_refresh(datasource, used.token):
        # Refused moments after it was obtained: another refresh would not help (and would
        # burn a rotating refresh token); the caller gets the upstream's answer as an error.
        return None
    from apps.datasources.models import TokenState

    state = TokenState.objects.filter(datasource_id=datasource.pk).first()
    if not mode.can_refresh(datasource, state):
        mark_needs_attention(
            datasource,
            f"The upstream refused the token (HTTP {status_code}) and no way to refresh it "
            "is configured.",
        )
        return None
    token = token_refresh(datasource, stale=used.token)
    return mode.token_credentials(datasource, token)
