"""Fixtures shared by the hardening tests."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path
from types import ModuleType

import pytest


@pytest.fixture(scope="module")
def lambda_handler(demo_model_dir: Path) -> ModuleType:
    """The real handler.py module, imported the way Lambda does (model loaded at import from MODEL_DIR)."""
    monkeypatch = pytest.MonkeyPatch()
    monkeypatch.setenv("MODEL_DIR", str(demo_model_dir))
    sys.modules.pop("handler", None)
    try:
        return importlib.import_module("handler")
    finally:
        monkeypatch.undo()
