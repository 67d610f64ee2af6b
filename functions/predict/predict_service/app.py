"""The FastAPI app factory: routes, validation and error mapping. Knows nothing about Lambda."""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Sequence
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.cors import CORSMiddleware
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .config import Settings
from .errors import (
    BodyTooLargeError,
    InvalidInputError,
    MalformedBodyError,
    ModelLoadError,
    ModelNotReadyError,
    ServiceError,
    TooManyRowsError,
    UnsupportedMediaTypeError,
)
from .inputs import MAX_ECHOED_NAMES, echoed_name
from .payload import decode_json, parse_predict_request
from .predictions import PredictionRuntime
from .schemas import (
    BatchPredictResponse,
    ErrorResponse,
    HealthResponse,
    ModelInfoResponse,
    SinglePredictResponse,
    predict_request_schema,
)
from .telemetry import Telemetry

logger = logging.getLogger(__name__)

STATUS_BY_ERROR: dict[type[ServiceError], int] = {
    MalformedBodyError: 400,
    BodyTooLargeError: 413,
    TooManyRowsError: 413,
    UnsupportedMediaTypeError: 415,
    InvalidInputError: 422,
    ModelNotReadyError: 503,
}
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorResponse} for status in (400, 413, 415, 422, 500, 503)
}
SECURITY_HEADERS = [(b"x-content-type-options", b"nosniff")]
NO_STORE = {"cache-control": "no-store"}


class JSONBody(Response):
    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


def error_body(request_id: str, message: str, detail: Any = None) -> dict[str, Any]:
    return {"error": message, "detail": detail, "request_id": request_id}


def assign_request_id(scope: Scope) -> str:
    """Lambda's own request id when there is one (so a response can be matched to its CloudWatch lines), else a
    fresh one; kept in the request's state for the handlers and the log lines."""
    lambda_context = scope.get("aws.context")
    request_id: str = getattr(lambda_context, "aws_request_id", None) or uuid.uuid4().hex
    scope.setdefault("state", {})["request_id"] = request_id
    return request_id


def request_id_of(scope: Scope) -> str:
    state: dict[str, Any] = scope.setdefault("state", {})
    request_id: str = state["request_id"]
    return request_id


class RequestContextMiddleware:
    """Gives every request an id (Lambda's own when there is one), puts it on the response, and turns any
    unexpected exception into a JSON 500 that names the id and nothing else, logging the traceback."""

    def __init__(self, app: ASGIApp, telemetry: Telemetry) -> None:
        self.app = app
        self.telemetry = telemetry
        self.cold = True

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = assign_request_id(scope)
        # The first request this process serves: on Lambda, the one that paid for the cold start.
        cold_start, self.cold = self.cold, False
        scope["state"]["cold_start"] = cold_start
        id_header = (b"x-request-id", request_id.encode())
        response_started = False

        async def send_with_headers(message: Message) -> None:
            nonlocal response_started
            if message["type"] == "http.response.start":
                response_started = True
                message["headers"] = [*message.get("headers", []), id_header, *SECURITY_HEADERS]
            await send(message)

        try:
            await self.app(scope, receive, send_with_headers)
        except Exception:
            logger.exception("unhandled error", extra={"request_id": request_id, "path": scope.get("path")})
            self.telemetry.error("InternalError")
            if response_started:
                raise
            response = JSONBody(
                error_body(request_id, f"Internal server error; quote request id {request_id} when reporting it"),
                status_code=500,
            )
            await response(scope, receive, send_with_headers)


class JSONErrorCORSMiddleware(CORSMiddleware):
    """Starlette's CORS middleware, except that a preflight it refuses is answered like every other error (JSON
    body naming what was refused, request id, nosniff) instead of a bare `400 text/plain "Disallowed CORS origin"`.
    Starlette still makes every decision and writes every CORS header; allowed preflights and the CORS headers of
    ordinary requests are untouched."""

    def __init__(
        self,
        app: ASGIApp,
        telemetry: Telemetry,
        allow_origins: Sequence[str],
        allow_methods: Sequence[str],
        allow_headers: Sequence[str],
        expose_headers: Sequence[str],
        max_age: int,
    ) -> None:
        super().__init__(
            app,
            allow_origins=allow_origins,
            allow_methods=allow_methods,
            allow_headers=allow_headers,
            expose_headers=expose_headers,
            max_age=max_age,
        )
        self.telemetry = telemetry

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "OPTIONS":
            headers = Headers(scope=scope)
            # Starlette's own test for a preflight (see CORSMiddleware.__call__).
            if "origin" in headers and "access-control-request-method" in headers:
                response = self.preflight_response(request_headers=headers)
                if response.status_code >= 400:
                    response = self.refused_preflight(scope, headers, response)
                await response(scope, receive, send)
                return
        await super().__call__(scope, receive, send)

    def refused_preflight(self, scope: Scope, headers: Headers, refused: Response) -> Response:
        request_id = assign_request_id(scope)
        reasons, detail = self.refusals(headers)
        self.telemetry.error("CorsPreflightRefused")
        logger.info(
            "request rejected",
            extra={
                "request_id": request_id,
                "status": refused.status_code,
                "error_kind": "CorsPreflightRefused",
                "refused": detail["refused"],
                "path": str(scope.get("path", ""))[:100],
            },
        )
        # Starlette's preflight headers (Vary, allowed methods and headers, max age) stay as it wrote them; only the
        # plain-text body and its content headers are replaced.
        cors_headers = {
            name: value for name, value in refused.headers.items() if name not in {"content-length", "content-type"}
        }
        message = "CORS preflight refused: " + "; ".join(reasons)
        return JSONBody(
            error_body(request_id, message, detail),
            status_code=refused.status_code,
            headers={**cors_headers, "x-request-id": request_id, "x-content-type-options": "nosniff"},
        )

    def refusals(self, headers: Headers) -> tuple[list[str], dict[str, Any]]:
        """What Starlette refused, in words and as detail. Every value is the caller's: it is cut short and only
        ever sent back inside a JSON string."""
        reasons: list[str] = []
        detail: dict[str, Any] = {"refused": []}
        origin = headers["origin"]
        if not self.is_allowed_origin(origin=origin):
            detail["refused"].append("origin")
            detail["origin"] = echoed_name(origin)
            reasons.append(f"the origin {detail['origin']!r} is not allowed (CORS_ALLOW_ORIGINS)")
        method = headers["access-control-request-method"]
        if method not in self.allow_methods:
            detail["refused"].append("method")
            detail["method"] = echoed_name(method)
            reasons.append(f"the method {detail['method']!r} is not allowed (allowed: {', '.join(self.allow_methods)})")
        requested = headers.get("access-control-request-headers")
        # Split and compared exactly as Starlette does, so the names listed are the ones it refused.
        unknown = [
            name.strip() for name in (requested or "").lower().split(",") if name.strip() not in self.allow_headers
        ]
        if requested is not None and unknown:
            shown = [echoed_name(name) for name in unknown[:MAX_ECHOED_NAMES]]
            detail["refused"].append("headers")
            detail["headers"] = shown
            allowed = ", ".join(sorted(set(self.allow_headers)))
            reasons.append(f"the request header(s) {shown} are not allowed (allowed: {allowed})")
        if "access-control-request-private-network" in headers and not self.allow_private_network:
            detail["refused"].append("private-network")
            reasons.append("private network access is not allowed")
        return reasons or ["not allowed by this API's CORS settings"], detail


def is_json_content_type(value: str | None) -> bool:
    """JSON or absent. Absent is allowed because API Gateway test events and bare clients often omit it, and
    FastAPI treats a body without a content type as JSON too; a declared non-JSON type is refused."""
    if not value:
        return True
    media_type = value.split(";", 1)[0].strip().lower()
    return media_type == "application/json" or (media_type.startswith("application/") and media_type.endswith("+json"))


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
    )
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

    def rejected(request: Request, status: int, kind: str) -> None:
        # What was wrong, never what was sent: the message can quote the caller's keys.
        telemetry.error(kind)
        logger.info(
            "request rejected",
            extra={
                "request_id": request_id_of(request.scope),
                "status": status,
                "error_kind": kind,
                "path": request.url.path[:100],
            },
        )

    @app.exception_handler(ServiceError)
    async def service_error(request: Request, error: ServiceError) -> Response:
        status = STATUS_BY_ERROR.get(type(error), 500)
        rejected(request, status, type(error).__name__)
        if status == 500:
            logger.error("service error without a status", extra={"request_id": request_id_of(request.scope)})
            return JSONBody(error_body(request_id_of(request.scope), "Internal server error"), status_code=500)
        return JSONBody(error_body(request_id_of(request.scope), error.message, error.detail), status_code=status)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, error: StarletteHTTPException) -> Response:
        messages = {
            404: "Not found: this API serves POST /predict, GET /model, GET /health and GET /docs",
            405: f"Method {request.method} is not allowed on this path",
        }
        message = messages.get(error.status_code, str(error.detail))
        rejected(request, error.status_code, f"Http{error.status_code}")
        return JSONBody(
            error_body(request_id_of(request.scope), message, {"status": error.status_code}),
            status_code=error.status_code,
            headers=error.headers,
        )

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, error: RequestValidationError) -> Response:
        problems = [{"loc": list(item["loc"]), "msg": item["msg"], "type": item["type"]} for item in error.errors()]
        rejected(request, 422, "RequestValidationError")
        return JSONBody(error_body(request_id_of(request.scope), "Invalid request", problems), status_code=422)

    def ready_runtime() -> PredictionRuntime:
        if runtime is None:
            raise ModelNotReadyError(
                "The model is not loaded; see the service log for why",
                {"reason": type(load_error).__name__ if load_error else "not loaded"},
            )
        return runtime

    request_schema = predict_request_schema(manifest.features if manifest else None, settings.max_batch_rows)

    @app.post(
        "/predict",
        summary="Predict one row (features) or a batch (instances)",
        openapi_extra={"requestBody": {"required": True, "content": {"application/json": {"schema": request_schema}}}},
        responses={200: {"model": SinglePredictResponse | BatchPredictResponse}},
    )
    async def predict(request: Request) -> Response:
        started = time.perf_counter()
        model = ready_runtime()
        if not is_json_content_type(request.headers.get("content-type")):
            raise UnsupportedMediaTypeError(
                "Send the body as JSON with the header 'Content-Type: application/json'",
                {"content_type": (request.headers.get("content-type") or "")[:100]},
            )
        body = await read_body(request, settings.max_body_bytes)
        parsed = parse_predict_request(decode_json(body), settings.max_batch_rows, model.manifest.has_predict_proba)
        features = model.rows.to_array(parsed.rows, parsed.field)
        result = model.predict(features, parsed.return_probabilities)
        content: dict[str, Any] = {"predictions" if parsed.is_batch else "prediction": result.labels}
        if result.probabilities is not None:
            content["probabilities"] = result.probabilities
        content["model_name"] = model.manifest.name
        content["model_version"] = model.manifest.version
        latency_ms = round((time.perf_counter() - started) * 1000, 3)
        telemetry.prediction(len(parsed.rows), latency_ms, result.labels if model.manifest.classes else None)
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

    @app.get("/model", summary="The public model manifest", response_model=ModelInfoResponse)
    async def model_info() -> Response:
        model = ready_runtime()
        return JSONBody({**model.manifest.public(), "max_batch_rows": settings.max_batch_rows})

    @app.get(
        "/health",
        summary="Readiness: 200 with the model version when the model is loaded",
        response_model=HealthResponse,
    )
    async def health() -> Response:
        model = ready_runtime()
        return JSONBody({"status": "ok", "model_name": model.manifest.name, "model_version": model.manifest.version})

    return app
