"""GET /model (the public manifest) and GET /health (readiness)."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.responses import Response

from ...schemas import HealthResponse, ModelInfoResponse
from ..deps import RuntimeDep, ServiceDep
from ..responses import JSONBody

router = APIRouter()


@router.get("/model", summary="The public model manifest", response_model=ModelInfoResponse)
async def model_info(service: ServiceDep, model: RuntimeDep) -> Response:
    return JSONBody({**model.manifest.public(), "max_batch_rows": service.settings.max_batch_rows})


@router.get(
    "/health",
    summary="Readiness: 200 with the model version when the model is loaded",
    response_model=HealthResponse,
)
async def health(model: RuntimeDep) -> Response:
    return JSONBody({"status": "ok", "model_name": model.manifest.name, "model_version": model.manifest.version})
