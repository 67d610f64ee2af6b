"""The HTTP API: `create_app` builds it around a loaded runtime; `handler.build_handler` puts it behind Mangum."""

from .app import create_app

__all__ = ["create_app"]
