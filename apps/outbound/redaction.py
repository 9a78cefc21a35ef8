"""Make URLs safe to show and log: no userinfo, and no query values (keys often ride there)."""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit


def redact_url(url: str) -> str:
    """``https://u:p@h/p?api_key=X&a=1`` → ``https://h/p?api_key=***&a=***``."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<invalid URL>"
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    try:
        port = parts.port
    except ValueError:
        port = None
    netloc = host + (f":{port}" if port else "")
    query = ""
    if parts.query:
        pairs = parse_qsl(parts.query, keep_blank_values=True)
        query = urlencode([(name, "***") for name, _ in pairs], safe="*")
    return urlunsplit((parts.scheme, netloc, parts.path, query, ""))


def mask_secrets(text: str, sensitive: set[str]) -> str:
    """``text`` with every credential value sent with a request (see
    ``OutboundResponse.sensitive``) replaced, for when an upstream echoes one back."""
    for secret in sensitive:
        if secret and len(secret) >= 4 and secret in text:
            text = text.replace(secret, "[secret]")
    return text
