"""POST /predict: a body decoded by its media type, rows checked against the model's features, then the model."""

from __future__ import annotations

import logging
import time
from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response

from ...errors import BodyTooLargeError
from ...payload import decoder_for
from ...schemas import BatchPredictResponse, SinglePredictResponse
from ..deps import RuntimeDep, ServiceDep
from ..middleware import request_id_of
from ..responses import NO_STORE, JSONBody

logger = logging.getLogger(__name__)

router = APIRouter()


async def read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise BodyTooLargeError(
            f"Request body too large: {declared} bytes, at most {limit} (MAX_BODY_BYTES)",
            {"bytes": int(declared), "max_body_bytes": limit},
        )
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise BodyTooLargeError(
                f"Request body too large: more than {limit} bytes (MAX_BODY_BYTES)",
                {"max_body_bytes": limit},
            )
        chunks.append(chunk)
    return b"".join(chunks)


# The request body's schema is the loaded model's (create_app writes it into the OpenAPI document), so the route
# declares none here.
@router.post(
    "/predict",
    summary="Predict one row (features) or a batch (instances)",
    responses={200: {"model": SinglePredictResponse | BatchPredictResponse}},
)
async def predict(request: Request, service: ServiceDep, model: RuntimeDep) -> Response:
    started = time.perf_counter()
    decode = decoder_for(request.headers.get("content-type"))
    settings = service.settings
    body = await read_body(request, settings.max_body_bytes)
    parsed = decode(body, settings.max_batch_rows, model.manifest.has_predict_proba)
    assert service.rows is not None and service.drift is not None  # there is a runtime, so create_app built them
    features = service.rows.convert(parsed.rows, parsed.row_location)
    if service.drift.active:
        service.telemetry.drift(*service.drift.count(features))
    result = model.predict(features, parsed.return_probabilities)
    content: dict[str, Any] = {"predictions" if parsed.is_batch else "prediction": result.labels}
    if result.probabilities is not None:
        content["probabilities"] = result.probabilities
    content["model_name"] = model.manifest.name
    content["model_version"] = model.manifest.version
    latency_ms = round((time.perf_counter() - started) * 1000, 3)
    classes = result.labels if model.manifest.task == "classification" else None
    service.telemetry.prediction(len(parsed.rows), latency_ms, classes)
    logger.info(
        "prediction",
        extra={
            "request_id": request_id_of(request.scope),
            "cold_start": request.scope["state"]["cold_start"],
            "rows": len(parsed.rows),
            "model_version": model.manifest.version,
            "latency_ms": latency_ms,
        },
    )
    return JSONBody(content, headers=NO_STORE)
