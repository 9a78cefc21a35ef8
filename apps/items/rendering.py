"""Item templates.

Request templates (``path``, ``body``) hold ``{name}`` placeholders filled from the options
request: a value is URL-encoded where it lands in a URL (so it can never add a path segment or a
query parameter) and JSON-escaped inside a JSON string in a body (so it can never add a member).

Option templates (``value``, ``label``) hold ``{dotted.path}`` references into each element.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from django.core.exceptions import ValidationError

from apps.core.codes import ErrorCode
from apps.core.errors import ApplicationError
from apps.outbound.paths import get_path
from apps.outbound.policy import has_dot_segment, relative_path_problem

PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")
REFERENCE = re.compile(r"\{([^{}]*)\}")
RESERVED_PARAMS = {"q", "filter", "limit"}
_SENTINEL = r"\u0041"  # valid only inside a JSON string


def dependencies(path: str, body: str | None) -> list[str]:
    """The placeholder names of a request template, in order of first use."""
    seen: list[str] = []
    for name in PLACEHOLDER.findall(path or "") + PLACEHOLDER.findall(body or ""):
        if name not in seen:
            seen.append(name)
    return seen


def validate_request_templates(path: str, body: str | None, method: str) -> None:
    errors: dict[str, str] = {}
    problem = relative_path_problem(path or "")
    if problem:
        errors["path"] = problem
    clash = RESERVED_PARAMS & set(dependencies(path, body))
    if clash:
        errors["path"] = (
            f"{{{sorted(clash)[0]}}} is reserved by the options API; name it otherwise."
        )
    if body:
        if method != "POST":
            errors["body"] = "Only POST requests take a body."
        else:
            filled = PLACEHOLDER.sub(lambda m: _SENTINEL, body)
            try:
                json.loads(filled)
            except ValueError:
                errors["body"] = (
                    "The body must be JSON with each placeholder inside a string, "
                    'like {"project": "{project}"}.'
                )
    if errors:
        raise ValidationError(errors)


def validate_option_template(template: str, field: str) -> None:
    if not template or not template.strip():
        raise ValidationError({field: "Give a template, like {id} or {key} – {fields.summary}."})
    if template.count("{") != template.count("}"):
        raise ValidationError({field: "Unbalanced braces."})
    if not REFERENCE.search(template):
        raise ValidationError({field: "Refer to at least one field of each element, like {id}."})


class InvalidDependency(ApplicationError):
    code = ErrorCode.INVALID_DEPENDENCY
    status = 400


def render_path(template: str, values: Mapping[str, str]) -> str:
    """Fill ``template``; a value is URL-encoded, so it stays inside its segment or parameter.

    A value that would make a whole path segment ``.`` or ``..`` is refused: HTTP clients
    resolve dot segments (encoded or not), which would leave the data source's base path."""
    rendered = PLACEHOLDER.sub(lambda m: quote(str(values[m.group(1)]), safe=""), template or "")
    if has_dot_segment(rendered.split("?", 1)[0]):
        names = [n for n in dependencies(template, None) if str(values[n]).strip(".") == ""]
        raise InvalidDependency(
            f"The value of {', '.join(names) or 'a dependency'} cannot be '.' or '..' where it "
            "makes a whole path segment.",
            details={"dependencies": names},
        )
    return rendered


def render_body(template: str | None, values: Mapping[str, str]) -> bytes | None:
    if not template:
        return None
    rendered = PLACEHOLDER.sub(lambda m: json.dumps(str(values[m.group(1)]))[1:-1], template)
    json.loads(rendered)  # placeholders were validated to sit inside strings
    return rendered.encode()


def text_of(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False)


def render_option(template: str, element: Any) -> str:
    return REFERENCE.sub(lambda m: text_of(get_path(element, m.group(1).strip())), template)
