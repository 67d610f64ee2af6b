"""Domain errors. They carry a human-readable message and structured detail; none of them knows about HTTP."""

from __future__ import annotations

from typing import Any


class ServiceError(Exception):
    """Base of every error the service raises on purpose."""

    def __init__(self, message: str, detail: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.detail = detail


class ModelLoadError(ServiceError):
    """Raise when the model directory cannot become a ready model (missing, corrupt, tampered, wrong version)."""


class InvalidInputError(ServiceError):
    """Raise when a request's rows do not match what the model expects (shape, names, types, finiteness)."""


class TooManyRowsError(ServiceError):
    """Raise when a request carries more rows than MAX_BATCH_ROWS."""


class MalformedBodyError(ServiceError):
    """Raise when a request body is not a JSON document we can read unambiguously."""


class UnsupportedMediaTypeError(ServiceError):
    """Raise when a request body is not declared as JSON."""


class BodyTooLargeError(ServiceError):
    """Raise when a request body exceeds MAX_BODY_BYTES."""


class ModelNotReadyError(ServiceError):
    """Raise when a request arrives but the model could not be loaded."""


class InvalidSettingsError(ServiceError):
    """Raise when the service's environment settings (MAX_BATCH_ROWS, CORS_ALLOW_ORIGINS, ...) are not valid."""
