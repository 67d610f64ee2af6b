"""Init-time loading: the settings and the configured model (layer directory or S3), each failure logged as one
clear CRITICAL line before it is raised, so that Lambda's init error comes with the reason in CloudWatch."""

from __future__ import annotations

import logging
from pathlib import Path

from .config import Settings, load_settings
from .errors import InvalidSettingsError, ModelLoadError
from .logs import configure_logging
from .predictions import PredictionRuntime, open_model_dir

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
        raise ModelLoadError(
            "MODEL_S3_URI is set but MODEL_SHA256 is not: give the expected sha256 of the model file (model.json's "
            "sha256, or its onnx.sha256 for an ONNX model) so the download can be verified before it is loaded",
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


def load_model_dir(model_dir: Path) -> PredictionRuntime:
    """The runtime model.json names. Each runtime module is imported only once chosen: the ONNX layer has no
    scikit-learn, the scikit-learn layer no onnxruntime, and importing the unused stack would only cost cold start."""
    manifest = open_model_dir(model_dir)
    if manifest.runtime == "onnx":
        try:
            from .onnx_runtime import OnnxRuntime
        except ImportError as error:
            raise ModelLoadError(
                f"The model in {model_dir} is an ONNX model but onnxruntime cannot be imported ({error}): build the "
                f"model layer from this model directory (`make build` installs onnxruntime for an ONNX model), or "
                f"`pip install -r layers/model/requirements-onnx.txt` to serve it locally",
                {"model_dir": str(model_dir), "runtime": "onnx"},
            ) from error
        return OnnxRuntime.load(model_dir, manifest)
    try:
        from .runtime import ModelRuntime
    except ImportError as error:
        raise ModelLoadError(
            f"The model in {model_dir} is a scikit-learn model but scikit-learn cannot be imported ({error}): "
            f"build the model layer from this model directory (`make build` installs scikit-learn for it), or "
            f"re-package it with --runtime onnx",
            {"model_dir": str(model_dir), "runtime": "sklearn"},
        ) from error
    return ModelRuntime.load(model_dir, manifest)


def load_runtime(settings: Settings) -> PredictionRuntime:
    try:
        return load_model_dir(resolve_model_dir(settings))
    except ModelLoadError as error:
        logger.critical("model not loaded: %s", error.message, extra={"detail": error.detail})
        raise
