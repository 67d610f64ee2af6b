"""The Lambda handler, built from settings: load the model, build the app, put it behind Mangum."""

from __future__ import annotations

from mangum import Mangum

from ..config import Settings
from ..loading import load_runtime, settings_for_init
from ..logs import configure_logging
from .app import create_app


def build_handler(settings: Settings | None = None) -> Mangum:
    """The handler for `settings`, by default the environment's as on Lambda; the service logs JSON lines at their
    LOG_LEVEL. Raises ModelLoadError or InvalidSettingsError, already logged, when the service cannot start."""
    if settings is None:
        settings = settings_for_init()
    else:
        configure_logging(settings.log_level)
    # lifespan="off": Mangum would otherwise run the app's startup/shutdown on every invocation.
    return Mangum(create_app(settings, load_runtime(settings)), lifespan="off")
