"""The FastAPI app factory: routers, middlewares and error handlers around a loaded runtime. Knows nothing about
Lambda."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from fastapi import APIRouter, FastAPI
from fastapi.routing import APIRoute

from ..config import Settings
from ..errors import ModelLoadError
from ..inputs import DriftCounter, RowConverter
from ..predictions import PredictionRuntime
from ..schemas import predict_request_schema
from ..telemetry import Telemetry
from .deps import Service
from .error_handlers import ERROR_RESPONSES, add_error_handlers
from .middleware import JSONErrorCORSMiddleware, RequestContextMiddleware
from .routes import docs, model, predict

ROUTERS = (predict.router, model.router, docs.router)


def served_routes(routers: Iterable[APIRouter]) -> str:
    """The routes in words, for the 404 answer: "POST /predict, GET /model, GET /health and GET /docs"."""
    served = [
        f"{method} {route.path}"
        for router in routers
        for route in router.routes
        if isinstance(route, APIRoute)
        for method in sorted((route.methods or set()) - {"HEAD"})
    ]
    return ", ".join(served[:-1]) + " and " + served[-1] if len(served) > 1 else "".join(served)


def create_app(
    settings: Settings, runtime: PredictionRuntime | None, load_error: ModelLoadError | None = None
) -> FastAPI:
    """Build the API around a loaded runtime. With `runtime=None` (local serving of a broken model directory)
    the app still starts: /health answers 503 with the reason and /predict refuses, instead of a crash loop."""
    manifest = runtime.manifest if runtime else None
    telemetry = Telemetry(settings.metrics_namespace, manifest.version if manifest else None)
    app = FastAPI(
        title="sklambda prediction API",
        version=manifest.version if manifest else "unavailable",
        summary=f"Predictions from the scikit-learn model {manifest.name!r}" if manifest else None,
        responses=ERROR_RESPONSES,
        # The docs router serves Swagger UI from the app itself; FastAPI's own pages would load it from a CDN.
        docs_url=None,
        redoc_url=None,
    )
    app.state.service = Service(
        settings=settings,
        telemetry=telemetry,
        runtime=runtime,
        load_error=load_error,
        rows=RowConverter(manifest.features, manifest.input_layout, settings.max_text_chars) if manifest else None,
        drift=DriftCounter(manifest.features) if manifest else None,
    )
    for router in ROUTERS:
        app.include_router(router)
    add_error_handlers(app, telemetry, f"Not found: this API serves {served_routes(ROUTERS)}")
    app.add_middleware(RequestContextMiddleware, telemetry=telemetry)
    # Added last so it is outermost: even error responses carry the CORS headers the browser needs to read them.
    app.add_middleware(
        JSONErrorCORSMiddleware,
        telemetry=telemetry,
        allow_origins=list(settings.cors_allow_origins),
        allow_methods=["GET", "POST", "OPTIONS"],
        allow_headers=["content-type", "authorization"],
        expose_headers=["x-request-id"],
        max_age=600,
    )
    features = manifest.features if manifest else None
    document_model_rows(app, predict_request_schema(features, settings.max_batch_rows, settings.max_text_chars))
    return app


def document_model_rows(app: FastAPI, request_schema: dict[str, Any]) -> None:
    """Write the loaded model's request body into the OpenAPI document, so /docs and schema-driven clients see the
    real rows (the route is shared by every app and cannot name them)."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            document = FastAPI.openapi(app)
            operation = document["paths"]["/predict"]["post"]
            operation["requestBody"] = {"required": True, "content": {"application/json": {"schema": request_schema}}}
            app.openapi_schema = document
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
