"""`sklambda serve`: the same app as on Lambda, under uvicorn."""

from __future__ import annotations

import logging

import uvicorn
from predict_service.api import create_app
from predict_service.config import Settings
from predict_service.errors import ModelLoadError
from predict_service.loading import load_runtime
from predict_service.logs import configure_logging
from predict_service.predictions import PredictionRuntime

logger = logging.getLogger("predict_service.serve")


def serve(settings: Settings, host: str, port: int) -> None:
    configure_logging(settings.log_level)
    runtime: PredictionRuntime | None = None
    load_error: ModelLoadError | None = None
    try:
        runtime = load_runtime(settings)
    except ModelLoadError as error:
        # Keep serving so /health can say what is wrong; load_runtime already logged the reason.
        load_error = error
    app = create_app(settings, runtime, load_error)
    uvicorn.run(app, host=host, port=port, log_level=settings.log_level.lower(), server_header=False)
