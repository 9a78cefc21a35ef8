"""API key format: ``pb_<8 hex prefix>_<43 url-safe chars>``; only the SHA-256 is stored.

The secret part carries 256 random bits, so a fast hash is enough: there is nothing to brute
force. The prefix finds the row; the hash comparison is constant-time.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

KEY_TAG = "pb"


def generate_key() -> tuple[str, str]:
    """A new key and its lookup prefix."""
    prefix = secrets.token_hex(4)
    return f"{KEY_TAG}_{prefix}_{secrets.token_urlsafe(32)}", prefix


def hash_key(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def parse_prefix(raw: str) -> str | None:
    parts = raw.split("_", 2)
    if len(parts) != 3 or parts[0] != KEY_TAG or len(parts[1]) != 8 or not parts[2]:
        return None
    return parts[1]


def key_matches(raw: str, stored_hash: str) -> bool:
    return hmac.compare_digest(hash_key(raw), stored_hash)
