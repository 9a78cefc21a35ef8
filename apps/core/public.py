"""Absolute URLs the outside world uses (inbound event URLs, OAuth redirect URIs): under
``PUBLIC_URL`` when the operator set it, else as the request reached Plugboard."""

from __future__ import annotations

from typing import Any

from django.conf import settings


def absolute_url(path: str, request: Any = None) -> str:
    base = (getattr(settings, "PUBLIC_URL", "") or "").rstrip("/")
    if base:
        return base + path
    if request is not None:
        return request.build_absolute_uri(path)
    return path
