"""Encryption of stored secrets: MultiFernet over ``FIELD_ENCRYPTION_KEYS`` (the first key
encrypts, every key decrypts), independent of SECRET_KEY.

Each value is sealed together with its context (model, field and row), so a value copied into
another row or field does not decrypt. A value no key opens raises :class:`DecryptionError`;
ciphertext is never handed back as if it were the secret.
"""

from __future__ import annotations

import json
from functools import lru_cache
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured


class DecryptionError(Exception):
    """A stored secret could not be decrypted with any configured key, or is out of place."""


@lru_cache(maxsize=4)
def _fernets(keys: tuple[str, ...]) -> tuple[MultiFernet, Fernet]:
    if not keys:
        raise ImproperlyConfigured(
            "FIELD_ENCRYPTION_KEYS is empty: set one or more Fernet keys to store secrets."
        )
    try:
        fernets = [Fernet(key.strip().encode()) for key in keys]
    except ValueError as exc:
        raise ImproperlyConfigured(
            "FIELD_ENCRYPTION_KEYS holds a value that is not a Fernet key "
            "(32 url-safe base64-encoded bytes)."
        ) from exc
    return MultiFernet(fernets), fernets[0]


def keyring() -> tuple[MultiFernet, Fernet]:
    """(all keys, the primary key)."""
    return _fernets(tuple(k for k in settings.FIELD_ENCRYPTION_KEYS if k.strip()))


def seal(value: Any, context: str) -> str:
    payload = json.dumps({"c": context, "v": value}, separators=(",", ":")).encode()
    multi, _ = keyring()
    return multi.encrypt(payload).decode()


def unseal(token: str, context: str) -> Any:
    multi, _ = keyring()
    try:
        payload = json.loads(multi.decrypt(token.encode()))
    except (InvalidToken, ValueError, TypeError) as exc:
        raise DecryptionError(
            f"A stored secret ({context.rsplit(':', 1)[0]}) cannot be decrypted with the "
            "configured FIELD_ENCRYPTION_KEYS."
        ) from exc
    if not isinstance(payload, dict) or payload.get("c") != context:
        raise DecryptionError(
            f"A stored secret ({context.rsplit(':', 1)[0]}) belongs to another record."
        )
    return payload.get("v")


def is_current(token: str) -> bool:
    """True when ``token`` is encrypted with the primary key."""
    _, primary = keyring()
    try:
        primary.decrypt(token.encode())
    except InvalidToken:
        return False
    return True


def rotate(token: str) -> str:
    """Re-encrypt ``token`` with the primary key (its context is kept)."""
    multi, _ = keyring()
    try:
        return multi.rotate(token.encode()).decode()
    except InvalidToken as exc:
        raise DecryptionError(
            "A stored secret cannot be decrypted with any configured key."
        ) from exc
