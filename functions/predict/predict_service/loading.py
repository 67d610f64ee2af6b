"""Init-time loading: the settings and the configured model (layer directory or S3), each failure logged as one
clear CRITICAL line before it is raised, so that Lambda's init error comes with the reason in CloudWatch.

This module imports nothing from the model layer (numpy, scikit-learn, onnxruntime) at import time: `lambda_handler`
configures logging first, so that a layer without its Python stack is named in a log line too.
"""

from __future__ import annotations

import logging
import platform
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from .config import Settings, load_settings
from .errors import InvalidSettingsError, ModelLoadError
from .logs import configure_logging, route_warnings_to_log
from .runtimes import runtime_class

if TYPE_CHECKING:
    from mangum import Mangum

    from .predictions import PredictionRuntime

logger = logging.getLogger(__name__)


def lambda_handler() -> Mangum:
    """Lambda's handler, built in its init phase. Whatever stops the init is logged as one CRITICAL line saying what
    is wrong and what to do, then re-raised for Lambda to report."""
    settings = settings_for_init()
    route_warnings_to_log()
    try:
        from .api.handler import build_handler
    except ImportError as error:
        failure = stack_not_importable(error)
        logger.critical("model layer not usable: %s", failure.message, extra={"detail": failure.detail})
        raise
    try:
        return build_handler(settings)
    except (InvalidSettingsError, ModelLoadError):
        raise  # logged where it was raised, with its own advice
    except Exception as error:
        logger.critical(
            "init failed: %s: %s. Check the model with `sklambda invoke` against the same model directory, and report "
            "this line (its traceback) if that passes",
            type(error).__name__,
            error,
            exc_info=True,
        )
        raise


def stack_not_importable(error: ImportError) -> ModelLoadError:
    """What an ImportError while importing the service means: its Python stack (numpy first) lives in the model
    layer, so the layer is missing, or was built for another Python version or architecture."""
    python = f"{sys.version_info.major}.{sys.version_info.minor}"
    machine = platform.machine()
    # numpy's own ImportError spans a dozen lines of advice; the log line is one line.
    said = " ".join(str(error).split())[:300]
    return ModelLoadError(
        f"the function cannot import {error.name or 'a module'} ({said}): the model layer, which provides numpy, "
        f"scikit-learn or onnxruntime, is missing from the function or was built for another Python or architecture "
        f"than this function's (Python {python}, {machine}). Build the function and its layer together with "
        f"`make build` (sam build) and deploy both with `sam deploy`, so that the function lists the model layer in "
        f"its Layers",
        {"module": error.name, "python": python, "architecture": machine, "sys_path": sys.path},
    )


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
    from .predictions import open_model_dir

    manifest = open_model_dir(model_dir)
    return runtime_class(manifest.runtime, model_dir).load(model_dir, manifest)


def load_runtime(settings: Settings) -> PredictionRuntime:
    try:
        return load_model_dir(resolve_model_dir(settings))
    except ModelLoadError as error:
        logger.critical("model not loaded: %s", error.message, extra={"detail": error.detail})
        raise
