"""Calls on behalf of a data source: its base URL, headers and auth on top of the client,
with one refresh-and-retry when the upstream says the token expired."""

from __future__ import annotations

import time
from typing import Any

from apps.outbound.auth import get_mode
from apps.outbound.client import (
    OPTIONS_MAX_BYTES,
    Credentials,
    OutboundRequest,
    OutboundResponse,
    join_url,
    send,
)
from apps.outbound.errors import OutboundError, TokenRefreshFailed
from apps.outbound.tokens import mark_needs_attention, token_current, token_refresh
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
    options = {
        "timeout": datasource.timeout_seconds,
        "max_bytes": max_bytes,
        "pool": datasource.pool_key,
        "trace": trace,
        "fresh_connection": fresh_connection,
    }
    response = send(request, credentials=credentials, **options)
    if mode.token_bearing and not ephemeral_tokens and mode.is_expired(datasource, response):
        from apps.datasources.models import TokenState

        state = TokenState.objects.filter(datasource_id=datasource.pk).first()
        if not mode.can_refresh(datasource, state):
            mark_needs_attention(
                datasource,
                f"The upstream refused the token (HTTP {response.status_code}) and no way to "
                "refresh it is configured.",
            )
            return response
        token = token_refresh(datasource, stale=credentials.token)
        credentials = mode.token_credentials(datasource, token)
        response = send(request, credentials=credentials, **options)
    response.sensitive = _sensitive_values(datasource, credentials)
    return response


def _sensitive_values(datasource: Any, credentials: Credentials) -> set[str]:
    values = {v for v in (datasource.secrets or {}).values() if isinstance(v, str)}
    values.update(credentials.headers.values())
    for value in credentials.headers.values():
        values.update(value.split(" ", 1)[1:])  # the part after "Bearer " or "Basic "
    values.update(v for _, v in credentials.params)
    if credentials.token:
        values.add(credentials.token)
    return {v for v in values if v}
