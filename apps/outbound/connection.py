"""What the outbound client is told about an upstream: plain, typed values, no model.

The app that owns data sources turns one into a :class:`Connection` (and gives the client a
token store, see ``tokens``); the client knows nothing else about where they come from.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Connection:
    """An upstream API: where it is, how long a call may take, and how to authenticate."""

    id: str  # stable: keep-alive pools, locks and log lines are keyed by it
    base_url: str
    timeout_seconds: int = 60
    headers: tuple[tuple[str, str], ...] = ()
    auth_mode: str = "none"
    auth_config: Mapping[str, Any] = field(default_factory=dict)
    secrets: Mapping[str, str] = field(default_factory=dict)

    @property
    def pool_key(self) -> str:
        return f"connection:{self.id}"

    def secret_values(self) -> set[str]:
        """Every configured secret value, for redaction."""
        return {value for value in self.secrets.values() if isinstance(value, str) and value}
