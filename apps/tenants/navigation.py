"""The tenant sidebar: each app adds its pages here (label, URL name, and the URL-name prefix
that marks the entry active)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.http import HttpRequest
from django.urls import reverse


@dataclass(frozen=True)
class NavEntry:
    label: str
    url_name: str
    active_prefix: str


TENANT_NAV: list[NavEntry] = [
    NavEntry("Dashboard", "dashboard", "dashboard"),
    NavEntry("Data sources", "datasource-list", "datasource"),
    NavEntry("Connected items", "item-list", "item"),
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


@dataclass(frozen=True)
class DashboardCard:
    """A line of the dashboard: what there is, how many, and while there is none, what to do
    next (``empty_hint``) and the button that does it (``action``: its label and URL name)."""

    label: str
    url_name: str
    count: Callable[[Any], int]  # tenant -> count
    empty_hint: str = ""
    action: tuple[str, str] | None = None  # ("Create a data source", "datasource-new")


DASHBOARD_CARDS: list[DashboardCard] = []


def dashboard_cards(tenant: Any) -> list[dict]:
    cards = []
    for card in DASHBOARD_CARDS:
        action_label, action_url_name = card.action or ("", "")
        cards.append(
            {
                "label": card.label,
                "url": reverse(card.url_name, kwargs={"tenant": tenant.slug}),
                "count": card.count(tenant),
                "empty_hint": card.empty_hint,
                "action_label": action_label,
                "action_url": (
                    reverse(action_url_name, kwargs={"tenant": tenant.slug})
                    if action_url_name
                    else ""
                ),
            }
        )
    return cards
