"""Error codes are part of the contract: every one the product emits is declared in
apps/core/codes.py, and code that emits one names it from there, never as a loose string."""

from __future__ import annotations

import ast
from pathlib import Path

from apps.core.codes import ErrorCode

ROOT = Path(__file__).resolve().parents[2]
EMITTERS = {"error_body", "json_error_response"}


def loose_codes(source: str) -> list[str]:
    """String literals used where a code is given: ``code = "..."``, ``code="..."`` and the
    first argument of the functions that build error bodies."""
    found = []
    for node in ast.walk(ast.parse(source)):
        values = []
        if isinstance(node, ast.Assign):
            if any(isinstance(t, ast.Name) and t.id == "code" for t in node.targets):
                values.append(node.value)
        elif isinstance(node, ast.AnnAssign):
            if isinstance(node.target, ast.Name) and node.target.id == "code" and node.value:
                values.append(node.value)
        elif isinstance(node, ast.Call):
            values += [kw.value for kw in node.keywords if kw.arg == "code"]
            name = getattr(node.func, "id", getattr(node.func, "attr", ""))
            if name in EMITTERS and node.args:
                values.append(node.args[0])
        found += [
            v.value for v in values if isinstance(v, ast.Constant) and isinstance(v.value, str)
        ]
    return found


def test_no_app_emits_a_code_as_a_loose_string():
    offenders = []
    for path in sorted((ROOT / "apps").rglob("*.py")):
        if "migrations" in path.parts or path.name == "codes.py":
            continue
        offenders += [f"{path.relative_to(ROOT)}: {code}" for code in loose_codes(path.read_text())]
    assert not offenders, "\n".join(offenders)


def test_codes_are_unique_snake_case():
    values = [code.value for code in ErrorCode]
    assert len(values) == len(set(values))
    assert all(v.replace("_", "").isalpha() and v == v.lower() for v in values)


def test_the_check_sees_the_three_ways_a_code_is_given():
    source = 'class E:\n    code = "a"\n\nf(code="b")\nerror_body("c", "msg")\n'
    assert sorted(loose_codes(source)) == ["a", "b", "c"]
