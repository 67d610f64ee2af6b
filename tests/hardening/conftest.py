"""Fixtures shared by the hardening tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from sklambda.invoking import Handler
from tests.support.handlers import handler_for


@pytest.fixture(scope="module")
def lambda_handler(demo_model_dir: Path) -> Handler:
    """The service's real Lambda handler (model loaded, app behind Mangum) for the demo model."""
    return handler_for(demo_model_dir)
