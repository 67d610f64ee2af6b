"""Pydantic models of the HTTP API, used for the OpenAPI document.

The hot path parses and checks requests itself (payload.py, inputs.py) and serialises responses with orjson,
so these models describe the wire format without validating every request twice.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from .manifest import FeatureSpec, Lineage

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
    lineage: Lineage | None = None


def _value_schema(feature: FeatureSpec) -> dict[str, Any]:
    if feature.type == "category":
        return {"type": "string", "enum": list(feature.categories or [])}
    return {"type": "number"}


def row_schema(features: list[FeatureSpec]) -> dict[str, Any]:
    """One row of *this* model: exactly its features, in order as an array or by name as an object."""
    values = [_value_schema(feature) for feature in features]
    if all(feature.type == "number" for feature in features):
        as_array: dict[str, Any] = {"type": "array", "items": {"type": "number"}}
    else:
        as_array = {"type": "array", "prefixItems": values, "items": False}
    as_array.update(minItems=len(features), maxItems=len(features), title="Row in feature order")
    as_object = {
        "type": "object",
        "title": "Row by feature name",
        "properties": {feature.name: value for feature, value in zip(features, values, strict=True)},
        "required": [feature.name for feature in features],
        "additionalProperties": False,
    }
    return {"anyOf": [as_array, as_object]}


def predict_request_schema(features: list[FeatureSpec] | None, max_batch_rows: int) -> dict[str, Any]:
    """The request body as the loaded model accepts it, so /docs and schema-driven clients see the real rows.
    Without a model, the model-agnostic shape of the pydantic models above."""
    single = SinglePredictRequest.model_json_schema()
    batch = BatchPredictRequest.model_json_schema()
    if features is not None:
        row = row_schema(features)
        single["properties"]["features"] = row
        batch["properties"]["instances"] = {
            "type": "array",
            "items": row,
            "minItems": 1,
            "maxItems": max_batch_rows,
            "title": "Instances",
        }
    return {"anyOf": [single, batch]}
