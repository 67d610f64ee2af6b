"""Init-time loading: the settings and the configured model (layer directory or S3), each failure logged as one
clear CRITICAL line before it is raised, so that Lambda's init error comes with the reason in CloudWatch."""

from __future__ import annotations

import logging
from pathlib import Path

from .config import Settings, load_settings
from .errors import InvalidSettingsError, ModelLoadError
from .logs import configure_logging
from .predictions import PredictionRuntime, open_model_dir
from .runtimes import runtime_class

logger = logging.getLogger(__name__)


def settings_for_init() -> Settings:
    """The settings from the environment, with logging configured at their LOG_LEVEL."""
    try:
        settings = load_settings()
    except InvalidSettingsError as error:
        # LOG_LEVEL is itself a setting, so the line saying what is wrong goes out at the default level. Re-raised
        # so that Lambda reports a failed init instead of serving with settings nobody chose.
        configure_logging("INFO")
        logging.getLogger("predict_service.settings").critical(
            "settings not valid: %s", error.message, extra={"detail": error.detail}
        )
        raise
    configure_logging(settings.log_level)
    return settings


def resolve_model_dir(settings: Settings) -> Path:
    if not settings.model_s3_uri:
        return settings.model_dir
    if not settings.model_sha256:
        raise ModelLoadError.s3_sha256_not_set(settings.model_s3_uri)
    from .model_source import fetch_model_dir  # boto3 is only needed (and imported) on this path

    try:
        return fetch_model_dir(settings.model_s3_uri, settings.model_sha256, settings.model_cache_dir)
    except ModelLoadError:
        raise
    except Exception as error:
        raise ModelLoadError.s3_fetch_failed(settings.model_s3_uri, error) from error


def load_model_dir(model_dir: Path) -> PredictionRuntime:
    """The runtime model.json names, its implementation imported only now (see `runtimes`)."""
    manifest = open_model_dir(model_dir)
    return runtime_class(manifest.runtime, model_dir).load(model_dir, manifest)


def load_runtime(settings: Settings) -> PredictionRuntime:
    try:
        return load_model_dir(resolve_model_dir(settings))
    except ModelLoadError as error:
        logger.critical("model not loaded: %s", error.message, extra={"detail": error.detail})
        raise
