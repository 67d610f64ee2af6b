"""What the routes depend on, as typed FastAPI dependencies: the service's state and the loaded model.

The dependencies are `async def` although they never wait: FastAPI runs a plain `def` dependency in a worker thread,
which under Mangum multiplied the time of a one-row prediction by about seven.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from ..config import Settings
from ..errors import ModelLoadError, ModelNotReadyError
from ..inputs import DriftCounter, RowConverter
from ..predictions import PredictionRuntime
from ..telemetry import Telemetry


@dataclass(frozen=True, slots=True)
class Service:
    """Everything the routes share, built once by create_app and kept on `app.state.service`."""

    settings: Settings
    telemetry: Telemetry
    runtime: PredictionRuntime | None
    load_error: ModelLoadError | None
    rows: RowConverter | None  # the loaded model's rows -> array, None without a model
    drift: DriftCounter | None  # counts values outside what the model saw in training, None without a model


async def get_service(request: Request) -> Service:
    service: Service = request.app.state.service
    return service


ServiceDep = Annotated[Service, Depends(get_service)]


async def get_runtime(service: ServiceDep) -> PredictionRuntime:
    """The loaded model, or 503 saying why there is none (the app still starts on a broken model directory)."""
    if service.runtime is None:
        raise ModelNotReadyError(
            "The model is not loaded; see the service log for why",
            {"reason": type(service.load_error).__name__ if service.load_error else "not loaded"},
        )
    return service.runtime


RuntimeDep = Annotated[PredictionRuntime, Depends(get_runtime)]
