"""How a data source reads: the contract's shape, with secrets reported by name only."""

from __future__ import annotations

from typing import Any

from django.urls import reverse

from apps.datasources.auth_settings import auth_read
from apps.datasources.connections import token_state_get
from apps.datasources.models import DataSource, secrets_unreadable
from apps.outbound.auth import get_mode


def secrets_set(datasource: DataSource) -> list[str]:
    """Names of the stored secrets ([] when they cannot be decrypted)."""
    if secrets_unreadable(datasource):
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
        auth["connect_url"] = request.build_absolute_uri(path) if request is not None else path
    return auth


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
        "headers": list(datasource.headers or []),
        "auth": auth_representation(datasource, request),
        "ping": {
            "method": ping.get("method", "GET"),
            "path": ping.get("path", ""),
            "success_path": ping.get("success_path", ""),
            "success_values": list(ping.get("success_values", [])),
        },
        "status": datasource.current_status,
        "last_error": datasource.current_last_error or None,
        "last_tested_at": datasource.last_tested_at.isoformat()
        if datasource.last_tested_at
        else None,
        "created_at": datasource.created_at.isoformat(),
        "updated_at": datasource.updated_at.isoformat(),
    }
