"""The tenant sidebar: each app adds its pages here (label, URL name, and the URL-name prefix
that marks the entry active)."""

from __future__ import annotations

from dataclasses import dataclass

from django.http import HttpRequest
from django.urls import reverse


@dataclass(frozen=True)
class NavEntry:
    label: str
    url_name: str
    active_prefix: str


TENANT_NAV: list[NavEntry] = [
    NavEntry("Dashboard", "dashboard", "dashboard"),
    NavEntry("API keys", "api-keys", "api-key"),
]


def tenant_nav(request: HttpRequest, slug: str) -> list[dict]:
    match = getattr(request, "resolver_match", None)
    current = match.url_name if match else ""
    return [
        {
            "label": entry.label,
            "url": reverse(entry.url_name, kwargs={"tenant": slug}),
            "active": bool(current) and current.startswith(entry.active_prefix),
        }
        for entry in TENANT_NAV
    ]
