from __future__ import annotations

from datetime import timedelta
from typing import Any
from urllib.parse import parse_qsl

from django.utils import timezone

from apps.outbound.auth.base import TokenResult
from apps.outbound.client import OutboundResponse
from apps.outbound.errors import TokenRefreshFailed, UpstreamError
from apps.outbound.paths import get_path


def parse_token_response(
    response: OutboundResponse,
    *,
    token_path: str = "access_token",
    expires_in_path: str = "expires_in",
    refresh_token_path: str = "refresh_token",
) -> TokenResult:
    """A token endpoint's answer → TokenResult; anything else is a failed refresh."""
    if not response.ok:
        reason = _error_code(response)
        raise TokenRefreshFailed(
            f"The token endpoint answered HTTP {response.status_code}"
            + (f" ({reason})." if reason else "."),
            details={"status_code": response.status_code},
        ) from UpstreamError(status_code=response.status_code)
    document: Any
    if "json" in response.content_type.lower() or response.content[:1] in (b"{", b"["):
        try:
            document = response.json()
        except Exception:
            document = None
    else:
        document = dict(parse_qsl(response.text))
    token = get_path(document, token_path or "access_token") if document is not None else None
    if not isinstance(token, str | int) or str(token) == "":
        raise TokenRefreshFailed(
            f"The token endpoint's answer has no token at {token_path or 'access_token'!r}."
        )
    expires_at = None
    raw_expiry = get_path(document, expires_in_path) if expires_in_path else None
    if raw_expiry not in (None, ""):
        try:
            expires_at = timezone.now() + timedelta(seconds=max(float(raw_expiry), 0))
        except (TypeError, ValueError):
            expires_at = None
    refresh = get_path(document, refresh_token_path) if refresh_token_path else None
    extra = {}
    if isinstance(document, dict):
        extra = {
            k: document[k] for k in ("scope", "instance_url") if isinstance(document.get(k), str)
        }
    return TokenResult(
        access_token=str(token),
        refresh_token=str(refresh) if isinstance(refresh, str) and refresh else None,
        expires_at=expires_at,
        token_type=str(document.get("token_type", "")) if isinstance(document, dict) else "",
        extra=extra,
    )


def _error_code(response: OutboundResponse) -> str:
    try:
        document = response.json()
    except Exception:
        return ""
    if isinstance(document, dict):
        value = document.get("error")
        if isinstance(value, str) and len(value) < 80 and value.replace("_", "").isalnum():
            return value
    return ""
