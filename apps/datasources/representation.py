"""How a data source reads: the contract's shape, with secrets reported by name only."""

from __future__ import annotations

from typing import Any

from django.urls import reverse

from apps.core.crypto import DecryptionError
from apps.core.public import absolute_url
from apps.datasources.auth_settings import auth_read
from apps.datasources.connections import token_state_get
from apps.datasources.event_settings import events_read
from apps.datasources.models import (
    DataSource,
    auth_secrets_unreadable,
    event_secrets_unreadable,
)
from apps.outbound.auth import get_mode


def secrets_set(datasource: DataSource) -> list[str]:
    """Names of the stored auth secrets ([] when they cannot be decrypted)."""
    if auth_secrets_unreadable(datasource):
        return []
    return sorted(name for name, value in (datasource.secrets or {}).items() if value)


def connected(datasource: DataSource) -> bool:
    """Whether an interactive mode's grant left tokens to call with."""
    state = token_state_get(datasource_id=datasource.pk)
    return bool(state and (state.access_token or state.refresh_token))


def auth_representation(datasource: DataSource, request: Any = None) -> dict[str, Any]:
    auth = auth_read(datasource.auth_mode, datasource.auth_config or {}, secrets_set(datasource))
    if get_mode(datasource.auth_mode).interactive:
        auth["connected"] = connected(datasource)
        path = reverse("datasource-connect", args=[datasource.tenant.slug, datasource.pk])
        auth["connect_url"] = absolute_url(path, request)
    return auth


def event_secrets_set(datasource: DataSource) -> list[str]:
    """Names of the stored event secrets ([] when they cannot be decrypted)."""
    if event_secrets_unreadable(datasource):
        return []
    return sorted(name for name, value in (datasource.event_secrets or {}).items() if value)


def inbound_url(datasource: DataSource, request: Any = None) -> str | None:
    """Where the data source's webhooks are posted (None when its token cannot be decrypted:
    a new one must be made)."""
    try:
        token = datasource.inbound_token
    except DecryptionError:
        return None
    if not token:
        return None
    return absolute_url(reverse("event-inbound", args=[token]), request)


def may_see_inbound_url(request: Any) -> bool:
    """The inbound URL lets whoever holds it post events: owners, admins and admin keys see it;
    viewers (read-only members) do not."""
    membership = getattr(request, "membership", None)
    return membership is None or membership.can_write


def events_representation(datasource: DataSource, request: Any = None) -> dict[str, Any]:
    return events_read(
        datasource.events_config or {},
        event_secrets_set(datasource),
        inbound_url(datasource, request) if may_see_inbound_url(request) else None,
    )


def datasource_representation(datasource: DataSource, request: Any = None) -> dict[str, Any]:
    ping = datasource.ping or {}
    return {
        "id": str(datasource.pk),
        "name": datasource.name,
        "type": datasource.type,
        "slug": datasource.slug,
        "base_url": datasource.base_url,
        "docs_url": datasource.docs_url,
        "health_check_path": datasource.health_check_path,
        "timeout_seconds": datasource.timeout_seconds,
        "bulk_concurrency": datasource.bulk_concurrency,
        "headers": list(datasource.headers or []),
        "auth": auth_representation(datasource, request),
        "ping": {
            "method": ping.get("method", "GET"),
            "path": ping.get("path", ""),
            "success_path": ping.get("success_path", ""),
            "success_values": list(ping.get("success_values", [])),
        },
        "events": events_representation(datasource, request),
        "status": datasource.current_status,
        "last_error": datasource.current_last_error or None,
        "last_tested_at": datasource.last_tested_at.isoformat()
        if datasource.last_tested_at
        else None,
        "created_at": datasource.created_at.isoformat(),
        "updated_at": datasource.updated_at.isoformat(),
    }
