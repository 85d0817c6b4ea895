"""STYLE.md: the plugin API and built-in plugins import nothing from domain packages."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import lemur

SRC = Path(lemur.__file__).parent
ALLOWED = ("lemur.plugins", "lemur.crypto", "lemur.errors", "lemur.clock")


def lemur_imports(path: Path) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append(node.module)
    return [m for m in found if m == "lemur" or m.startswith("lemur.")]


@pytest.mark.parametrize(
    "path",
    sorted([*(SRC / "plugins").rglob("*.py"), *(SRC / "builtin").rglob("*.py")]),
    ids=lambda p: str(p.relative_to(SRC)),
)
def test_plugins_import_only_the_plugin_api_and_crypto(path: Path) -> None:
    relative = path.relative_to(SRC).parts
    # A built-in plugin split into a package (builtin/acme/) may import its own modules.
    own = (
        (f"lemur.builtin.{relative[1]}",) if relative[0] == "builtin" and len(relative) > 2 else ()
    )
    allowed = ALLOWED + own
    bad = [
        m for m in lemur_imports(path) if not any(m == a or m.startswith(a + ".") for a in allowed)
    ]
    assert bad == [], f"{path.name} imports {bad}"
