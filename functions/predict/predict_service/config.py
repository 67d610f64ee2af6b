"""Service settings, read once from the environment."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from .errors import InvalidSettingsError

# Where the model layer puts the model directory on Lambda. Run elsewhere, MODEL_DIR says where it is (the CLI
# passes its own default).
LAMBDA_MODEL_DIR = Path("/opt/model")
DEFAULT_CORS_ORIGINS = ("http://localhost:5173", "http://127.0.0.1:5173")
# Lambda's synchronous invocation payload limit is 6 MB; anything bigger could never reach the function there.
DEFAULT_MAX_BODY_BYTES = 6 * 1024 * 1024
# The longest text value accepted (MAX_TEXT_CHARS). Kept here, not in inputs.py: settings are read before numpy can
# be imported, so that a layer without its stack is reported by name (loading.lambda_handler).
DEFAULT_MAX_TEXT_CHARS = 10_000


class Settings(BaseSettings):
    """Everything the service can be told from outside. Env vars are upper case (MODEL_DIR, ...)."""

    model_config = SettingsConfigDict(env_prefix="", case_sensitive=False, extra="ignore")

    model_dir: Path = LAMBDA_MODEL_DIR
    """Directory holding model.json and the model file it names (model.joblib, model.skops or model.onnx)."""

    model_s3_uri: str | None = None
    """Optional s3://bucket/prefix holding a model directory, fetched to /tmp at cold start."""

    model_sha256: str | None = None
    """Expected sha256 of the model file when MODEL_S3_URI is used (required with it): model.json's sha256, or its
    onnx.sha256 for an ONNX model."""

    model_cache_dir: Path = Path("/tmp/sklambda-model")
    """Where a MODEL_S3_URI model is downloaded (Lambda's writable /tmp)."""

    cors_allow_origins: Annotated[tuple[str, ...], NoDecode] = DEFAULT_CORS_ORIGINS
    """Origins allowed by the app's CORS middleware (comma-separated in the environment). `*` is refused."""

    max_batch_rows: int = Field(default=1000, ge=1)
    """Most rows one request may carry."""

    max_body_bytes: int = Field(default=DEFAULT_MAX_BODY_BYTES, ge=1024)
    """Largest request body accepted."""

    max_text_chars: int = Field(default=DEFAULT_MAX_TEXT_CHARS, ge=1)
    """Longest value accepted for a text feature, in characters (a longer one is answered 422). The default holds a
    few pages of prose; a text model's cost grows with its input, and the whole body is capped by MAX_BODY_BYTES."""

    log_level: str = "INFO"

    metrics_namespace: str = "sklambda"
    """CloudWatch namespace of the EMF metrics (predictions, rows, latency, errors by kind, predicted classes)."""

    @field_validator("cors_allow_origins", mode="before")
    @classmethod
    def _split_origins(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(origin.strip() for origin in value.split(",") if origin.strip())
        return value

    @field_validator("cors_allow_origins")
    @classmethod
    def _no_wildcard(cls, origins: tuple[str, ...]) -> tuple[str, ...]:
        for origin in origins:
            if origin == "*" or not origin.startswith(("http://", "https://")):
                raise ValueError(
                    f"CORS origin {origin!r} must be an explicit http(s)://host[:port] origin, not a wildcard"
                )
            if origin.endswith("/"):
                raise ValueError(f"CORS origin {origin!r} must not end with '/': browsers send origins without it")
        return origins

    @field_validator("log_level")
    @classmethod
    def _known_level(cls, level: str) -> str:
        level = level.upper()
        if level not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
            raise ValueError(f"LOG_LEVEL must be one of DEBUG, INFO, WARNING, ERROR, CRITICAL, not {level!r}")
        return level


def load_settings(**overrides: object) -> Settings:
    """Settings from the environment (`overrides` win over it), or InvalidSettingsError with one line naming each
    bad variable, its value and what it accepts (pydantic's own report spans several lines per problem and names
    fields, not variables)."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]  # checked by the model itself
    except ValidationError as error:
        raise InvalidSettingsError.from_validation(error) from None
