"""The two ASGI middlewares: a request id and a JSON 500 for every request, and CORS whose refusals are JSON too."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from typing import Any

from starlette.datastructures import Headers
from starlette.middleware.cors import CORSMiddleware
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..inputs import MAX_ECHOED_NAMES, echoed_name
from ..telemetry import Telemetry
from .responses import JSONBody, error_body

SECURITY_HEADERS = [(b"x-content-type-options", b"nosniff")]


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
            self.telemetry.error(
                "InternalError",
                "unhandled error",
                logging.ERROR,
                exc_info=True,
                request_id=request_id,
                status=500,
                path=str(scope.get("path", ""))[:100],
            )
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
        self.telemetry.error(
            "CorsPreflightRefused",
            request_id=request_id,
            status=refused.status_code,
            refused=detail["refused"],
            path=str(scope.get("path", ""))[:100],
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
