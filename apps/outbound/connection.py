"""What the outbound client is told about an upstream: plain, typed values, no model.

The app that owns data sources turns one into a :class:`Connection` (and gives the client a
token store, see ``tokens``); the client knows nothing else about where they come from.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager
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
    # Whose calls these are (e.g. "tenant:12"): what its calls may hold (name lookups) is
    # bounded per owner.
    owner: str = ""
    # A hold on one of the calls its owner may have in flight at once, given the seconds the
    # call may take and, when the caller asked for one already, that take (UpstreamBusy when
    # none comes free); None: no cap.
    slot: Callable[..., AbstractContextManager[None]] | None = field(default=None, compare=False)

    def call_slot(self, taking: Any = None) -> AbstractContextManager[None]:
        if self.slot is None:
            return contextlib.nullcontext()
        if taking is None:
            return self.slot(self.timeout_seconds)
        return self.slot(self.timeout_seconds, taking=taking)

    @property
    def pool_key(self) -> str:
        return f"connection:{self.id}"

    def secret_values(self) -> set[str]:
        """Every configured secret value, for redaction."""
        return {value for value in self.secrets.values() if isinstance(value, str) and value}
