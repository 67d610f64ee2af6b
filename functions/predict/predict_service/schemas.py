"""Pydantic models of the HTTP API, used for the OpenAPI document.

The hot path parses and checks requests itself (payload.py, inputs.py) and serialises responses with orjson,
so these models describe the wire format without validating every request twice.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

FeatureValue = float | str
Row = list[FeatureValue] | dict[str, FeatureValue]
Label = int | float | str | bool


class SinglePredictRequest(BaseModel):
    """One row: values in feature order, or an object keyed by feature name."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"features": [5.1, 3.5, 1.4, 0.2]}]},
    )

    features: Row
    return_probabilities: bool = False


class BatchPredictRequest(BaseModel):
    """Several rows (at most MAX_BATCH_ROWS), each an array or an object."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"instances": [[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3]]}]},
    )

    instances: list[Row] = Field(min_length=1)
    return_probabilities: bool = False


class SinglePredictResponse(BaseModel):
    prediction: list[Label] = Field(description="One label (or value, for regression), in a list as the seed API did")
    probabilities: list[dict[str, float]] | None = Field(
        default=None, description="Per-class probabilities keyed by class label; only when asked for"
    )
    model_name: str
    model_version: str


class BatchPredictResponse(BaseModel):
    predictions: list[Label]
    probabilities: list[dict[str, float]] | None = None
    model_name: str
    model_version: str


class ErrorResponse(BaseModel):
    error: str = Field(description="A human-readable sentence saying what went wrong and what was expected")
    detail: Any = Field(default=None, description="Structured detail, e.g. a list of {loc, msg, type}")
    request_id: str


class HealthResponse(BaseModel):
    status: str
    model_name: str
    model_version: str


class FeatureInfo(BaseModel):
    name: str
    type: str
    categories: list[str] | None = None


class ModelInfoResponse(BaseModel):
    """The public manifest: what a front end needs to build a form."""

    model_config = ConfigDict(extra="allow")

    name: str
    version: str
    task: str
    feature_names: list[str]
    features: list[FeatureInfo]
    n_features: int
    classes: list[Label] | None = None
    class_names: list[str] | None = None
    has_predict_proba: bool
    example: list[FeatureValue]
    versions: dict[str, str]
    metrics: dict[str, float]
    sha256: str
    created_at: str
    max_batch_rows: int


# Inlined (the request models hold no nested models, so their schemas have no $defs to carry along).
PREDICT_REQUEST_SCHEMA: dict[str, Any] = {
    "anyOf": [SinglePredictRequest.model_json_schema(), BatchPredictRequest.model_json_schema()]
}
