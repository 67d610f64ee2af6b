"""Tests share helpers only through tests/support: no test module (nor a helper) imports a test module or a conftest,
whose fixtures pytest provides by name."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.support.data import REPO_ROOT

CHECKED = ["unit", "integration", "hardening", "support"]


def imported_modules(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            found.add("." * node.level + (node.module or ""))
    return found


@pytest.mark.parametrize("folder", CHECKED)
def test_no_module_imports_a_test_module_or_a_conftest(folder: str) -> None:
    offending = {
        f"{path.relative_to(REPO_ROOT)} imports {module}"
        for path in sorted((REPO_ROOT / "tests" / folder).glob("*.py"))
        for module in imported_modules(path)
        if module.rsplit(".", 1)[-1].startswith(("test_", "conftest"))
    }
    assert not offending, sorted(offending)
