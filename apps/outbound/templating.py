"""``{{name}}`` templates of token refresh recipes, each value escaped for where it lands."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from urllib.parse import quote, quote_plus

from django.core.exceptions import ValidationError

RECIPE_VARIABLES = ("username", "password", "refresh_token", "token")
_PLACEHOLDER = re.compile(r"\{\{\s*([a-z_]+)\s*\}\}")


def placeholders(template: str) -> list[str]:
    return _PLACEHOLDER.findall(template or "")


def check_template(template: str) -> None:
    """Refuse placeholders other than the recipe's variables."""
    unknown = sorted({name for name in placeholders(template) if name not in RECIPE_VARIABLES})
    if unknown:
        raise ValidationError(
            f"Unknown placeholder {{{{{unknown[0]}}}}}; use "
            + ", ".join(f"{{{{{v}}}}}" for v in RECIPE_VARIABLES)
            + "."
        )


def _render(template: str, values: Mapping[str, str], escape: Callable[[str], str]) -> str:
    def substitute(match: re.Match[str]) -> str:
        return escape(str(values.get(match.group(1)) or ""))

    return _PLACEHOLDER.sub(substitute, template or "")


def render_path(template: str, values: Mapping[str, str]) -> str:
    return _render(template, values, lambda v: quote(v, safe=""))


def render_header(template: str, values: Mapping[str, str]) -> str:
    """Values land as they are; the client refuses a header value it cannot send."""
    return _render(template, values, lambda v: v)


def render_form(template: str, values: Mapping[str, str]) -> str:
    return _render(template, values, lambda v: quote_plus(v, safe=""))


def render_json(template: str, values: Mapping[str, str]) -> str:
    """Values are JSON-escaped; placeholders belong inside JSON strings: ``"{{password}}"``."""
    rendered = _render(template, values, lambda v: json.dumps(v)[1:-1])
    json.loads(rendered)  # a template that is not JSON fails here, before anything is sent
    return rendered
