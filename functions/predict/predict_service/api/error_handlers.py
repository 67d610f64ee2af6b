"""Exceptions to HTTP answers: each error's status, found along its class's `__mro__` as Starlette looks up its own
exception handlers, so a subclass of a mapped error gets its parent's status rather than a 500."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from ..errors import (
    BodyTooLargeError,
    InvalidInputError,
    MalformedBodyError,
    ModelNotReadyError,
    ServiceError,
    TooManyRowsError,
    UnsupportedMediaTypeError,
)
from ..schemas import ErrorResponse
from ..telemetry import Telemetry
from .middleware import request_id_of
from .responses import JSONBody, error_body

logger = logging.getLogger(__name__)

STATUS_BY_ERROR: dict[type[ServiceError], int] = {
    MalformedBodyError: 400,
    BodyTooLargeError: 413,
    TooManyRowsError: 413,
    UnsupportedMediaTypeError: 415,
    InvalidInputError: 422,
    ModelNotReadyError: 503,
}
# For the OpenAPI document: every status an error can be answered with.
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorResponse} for status in sorted({*STATUS_BY_ERROR.values(), 500})
}


def status_of(error: ServiceError) -> int:
    """The status of the nearest mapped class in the error's `__mro__`; 500 for a ServiceError nobody mapped."""
    for cls in type(error).__mro__:
        status = STATUS_BY_ERROR.get(cls)
        if status is not None:
            return status
    return 500


def add_error_handlers(app: FastAPI, telemetry: Telemetry, not_found_message: str) -> None:
    """Answer service errors, Starlette's HTTP errors (404, 405) and FastAPI's validation errors with the API's error
    body, each counted and logged as a rejection (what was wrong, never what was sent)."""

    def rejected(request: Request, status: int, kind: str) -> None:
        telemetry.error(kind, request_id=request_id_of(request.scope), status=status, path=request.url.path[:100])

    async def service_error(request: Request, error: Exception) -> Response:
        assert isinstance(error, ServiceError)
        status = status_of(error)
        rejected(request, status, type(error).__name__)
        if status == 500:
            logger.error("service error without a status", extra={"request_id": request_id_of(request.scope)})
            return JSONBody(error_body(request_id_of(request.scope), "Internal server error"), status_code=500)
        return JSONBody(error_body(request_id_of(request.scope), error.message, error.detail), status_code=status)

    async def http_error(request: Request, error: Exception) -> Response:
        assert isinstance(error, StarletteHTTPException)
        messages = {404: not_found_message, 405: f"Method {request.method} is not allowed on this path"}
        message = messages.get(error.status_code, str(error.detail))
        rejected(request, error.status_code, f"Http{error.status_code}")
        return JSONBody(
            error_body(request_id_of(request.scope), message, {"status": error.status_code}),
            status_code=error.status_code,
            headers=error.headers,
        )

    async def validation_error(request: Request, error: Exception) -> Response:
        assert isinstance(error, RequestValidationError)
        problems = [{"loc": list(item["loc"]), "msg": item["msg"], "type": item["type"]} for item in error.errors()]
        rejected(request, 422, "RequestValidationError")
        return JSONBody(error_body(request_id_of(request.scope), "Invalid request", problems), status_code=422)

    app.add_exception_handler(ServiceError, service_error)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(RequestValidationError, validation_error)
