"""Keeping secrets out of what is shown, logged and cached.

``redact_url`` makes a URL safe to show and log (no userinfo, no query values, and any known
secret in the path masked). ``Masker`` replaces every credential value sent with a request in
the forms an upstream commonly echoes it back: raw, percent-encoded, form-encoded, JSON-escaped
and base64-encoded (which also covers ``user:pass`` of Basic auth, sent as a whole).
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable
from functools import lru_cache
from typing import Any
from urllib.parse import parse_qsl, quote, quote_plus, urlencode, urlsplit, urlunsplit

MASK = "[secret]"
# Shorter values are too likely to match ordinary text to be worth masking.
MIN_SECRET_LENGTH = 4


@lru_cache(maxsize=512)
def secret_variants(secret: str) -> frozenset[str]:
    """The forms in which ``secret`` may come back from an upstream."""
    raw = secret.encode()
    forms = {
        secret,
        quote(secret, safe=""),
        quote(secret, safe="/"),
        quote_plus(secret, safe=""),
        json.dumps(secret)[1:-1],
        json.dumps(secret, ensure_ascii=False)[1:-1],
        base64.b64encode(raw).decode(),
        base64.urlsafe_b64encode(raw).decode(),
    }
    forms |= {form.rstrip("=") for form in forms if form.endswith("=")}
    # Percent-escapes may come back in lower case.
    forms |= {_lower_escapes(form) for form in forms if "%" in form}
    return frozenset(form for form in forms if len(form) >= MIN_SECRET_LENGTH)


def _lower_escapes(text: str) -> str:
    parts = text.split("%")
    return parts[0] + "".join("%" + p[:2].lower() + p[2:] for p in parts[1:])


class Masker:
    """Masks the given secrets (in every variant) in text and in parsed JSON."""

    def __init__(self, secrets: Iterable[str]) -> None:
        variants: set[str] = set()
        for secret in secrets:
            if isinstance(secret, str) and len(secret) >= MIN_SECRET_LENGTH:
                variants |= secret_variants(secret)
        # Longest first, so that a secret inside a longer one is not masked piecemeal.
        self.variants = sorted(variants, key=len, reverse=True)

    def __bool__(self) -> bool:
        return bool(self.variants)

    def found_in(self, text: str) -> bool:
        return any(variant in text for variant in self.variants)

    def text(self, text: str) -> str:
        for variant in self.variants:
            if variant in text:
                text = text.replace(variant, MASK)
        return text

    def document(self, value: Any) -> Any:
        """A copy of a parsed JSON value with every string (keys included) masked."""
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, list):
            return [self.document(item) for item in value]
        if isinstance(value, dict):
            return {self.text(k): self.document(v) for k, v in value.items()}
        return value


def mask_secrets(text: str, sensitive: Iterable[str]) -> str:
    """``text`` with every credential value in ``sensitive`` masked, in every variant."""
    return Masker(sensitive).text(text)


def redact_url(url: str, secrets: Iterable[str] = ()) -> str:
    """``https://u:p@h/p?api_key=X&a=1`` → ``https://h/p?api_key=***&a=***``, with any of
    ``secrets`` in the path masked too."""
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
    path = Masker(secrets).text(parts.path) if secrets else parts.path
    return urlunsplit((parts.scheme, netloc, path, query, ""))
