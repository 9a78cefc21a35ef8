"""Apps depend downward only (README, "Architecture"): a lower app never imports a higher one,
not even inside a function or by a dotted name in a string; it tells higher apps things through
signals or hooks they register."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# Lowest first; apps on one level may not import each other either.
LAYERS = [
    ["core"], ["tenants"], ["outbound"], ["datasources"], ["items", "proxy", "events"], ["bulk"],
]  # fmt: skip
LEVEL = {app: level for level, apps in enumerate(LAYERS) for app in apps}


def referenced_apps(source: str) -> set[str]:
    """Every app named by an import, or by a dotted ``apps.<name>`` string."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module]
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            names = [node.value]
        for name in names:
            parts = name.split(".")
            if len(parts) >= 2 and parts[0] == "apps" and parts[1] in LEVEL:
                found.add(parts[1])
    return found


def test_every_app_is_placed_on_a_layer():
    apps = {path.name for path in (ROOT / "apps").iterdir() if (path / "apps.py").exists()}
    assert apps == set(LEVEL)


@pytest.mark.parametrize("app", sorted(LEVEL))
def test_an_app_imports_only_its_own_layer_or_lower_ones(app):
    wrong = []
    for path in sorted((ROOT / "apps" / app).rglob("*.py")):
        for other in referenced_apps(path.read_text()):
            if other != app and LEVEL[other] >= LEVEL[app]:  # the same level included
                wrong.append(f"{path.relative_to(ROOT)} uses apps.{other}")
    assert not wrong, "\n".join(wrong)


def test_the_check_sees_imports_inside_functions_and_dotted_strings():
    source = (
        "def f():\n    from apps.items import cache\n\nX = 'apps.datasources.models.DataSource'\n"
    )
    assert referenced_apps(source) == {"items", "datasources"}
