"""Finds the configured model (layer directory or S3) and loads it, with one clear log line when that fails."""

from __future__ import annotations

import logging
from pathlib import Path

from .config import Settings
from .errors import ModelLoadError
from .runtime import ModelRuntime

logger = logging.getLogger(__name__)


def resolve_model_dir(settings: Settings) -> Path:
    if not settings.model_s3_uri:
        return settings.model_dir
    if not settings.model_sha256:
        raise ModelLoadError(
            "MODEL_S3_URI is set but MODEL_SHA256 is not: give the expected sha256 of model.joblib "
            "(it is in model.json) so the download can be verified before unpickling",
            {"model_s3_uri": settings.model_s3_uri},
        )
    from .model_source import fetch_model_dir  # boto3 is only needed (and imported) on this path

    try:
        return fetch_model_dir(settings.model_s3_uri, settings.model_sha256, settings.model_cache_dir)
    except ModelLoadError:
        raise
    except Exception as error:
        raise ModelLoadError(
            f"Could not fetch the model from {settings.model_s3_uri}: {type(error).__name__}: {error}",
            {"model_s3_uri": settings.model_s3_uri},
        ) from error


def load_runtime(settings: Settings) -> ModelRuntime:
    try:
        return ModelRuntime.load(resolve_model_dir(settings))
    except ModelLoadError as error:
        logger.critical("model not loaded: %s", error.message, extra={"detail": error.detail})
        raise
