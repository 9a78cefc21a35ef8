"""Dotted paths into parsed JSON: ``data.items``, ``0.rows``, ``error.code``."""

from __future__ import annotations

import re
from typing import Any

_MISSING = object()
_INDEX = re.compile(r"-?[0-9]{1,9}")


def get_path(document: Any, path: str, default: Any = None) -> Any:
    """The value at ``path`` in ``document``; ``default`` when any step is missing."""
    if not path:
        return document
    current = document
    for part in path.split("."):
        if isinstance(current, dict):
            current = current.get(part, _MISSING)
        elif isinstance(current, list) and _INDEX.fullmatch(part):
            index = int(part)
            current = current[index] if -len(current) <= index < len(current) else _MISSING
        else:
            current = _MISSING
        if current is _MISSING:
            return default
    return current
