"""Service settings, read once from the environment."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from .errors import InvalidSettingsError

LAMBDA_MODEL_DIR = Path("/opt/model")
# functions/predict/predict_service/config.py -> repository root
REPO_MODEL_DIR = Path(__file__).resolve().parents[3] / "layers" / "model" / "model"
DEFAULT_CORS_ORIGINS = ("http://localhost:5173", "http://127.0.0.1:5173")
# Lambda's synchronous invocation payload limit is 6 MB; anything bigger could never reach the function there.
DEFAULT_MAX_BODY_BYTES = 6 * 1024 * 1024
MAX_SHOWN_VALUE_CHARS = 100


def default_model_dir() -> Path:
    """`/opt/model` (the model layer) on Lambda, the repository's built model everywhere else."""
    return LAMBDA_MODEL_DIR if os.environ.get("AWS_LAMBDA_FUNCTION_NAME") else REPO_MODEL_DIR


class Settings(BaseSettings):
    """Everything the service can be told from outside. Env vars are upper case (MODEL_DIR, ...)."""

    model_config = SettingsConfigDict(env_prefix="", case_sensitive=False, extra="ignore")

    model_dir: Path = Field(default_factory=default_model_dir)
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


def load_settings() -> Settings:
    """Settings from the environment, or InvalidSettingsError with one line naming each bad variable, its value and
    what it accepts (pydantic's own report spans several lines per problem and names fields, not variables)."""
    try:
        return Settings()
    except ValidationError as error:
        problems = []
        for item in error.errors():
            name = str(item["loc"][0]).upper() if item["loc"] else "settings"
            value = item.get("input")
            text = value if isinstance(value, str) else str(value)
            if len(text) > MAX_SHOWN_VALUE_CHARS:
                text = text[:MAX_SHOWN_VALUE_CHARS] + "..."
            # Our validators' messages already say what is accepted; pydantic prefixes them with "Value error, ".
            problems.append({"setting": name, "value": text, "problem": item["msg"].removeprefix("Value error, ")})
        summary = "; ".join(f"{p['setting']}={p['value']!r} is not valid: {p['problem']}" for p in problems)
        raise InvalidSettingsError(summary, problems) from None
