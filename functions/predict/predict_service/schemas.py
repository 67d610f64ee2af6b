"""Pydantic models of the HTTP API, used for the OpenAPI document.

The hot path parses and checks requests itself (payload.py, inputs.py) and serialises responses with orjson,
so these models describe the wire format without validating every request twice.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from .manifest import FeatureSpec, InputLayout, Lineage, TaskKind

FeatureValue = float | str | None
Row = list[FeatureValue] | dict[str, FeatureValue]
Label = int | float | str | bool
# One row's answer: a label or value; for the multi-output tasks, one per output.
Prediction = Label | list[Label]
# One row's probabilities: {class: probability}; for multi-output classification, one such object per output.
RowProbabilities = dict[str, float] | list[dict[str, float]]
PREDICTION_DESCRIPTION = (
    "Per row: the class (classification), the value (regression), the cluster number (clustering), 1 for an inlier "
    "or -1 for an outlier (outlier_detection), or a list with one of these per output (multioutput_*); GET /model "
    "names the task"
)
PROBABILITIES_DESCRIPTION = (
    "Per row, the probability of each class keyed by class label (a list of such objects, one per output, for "
    "multioutput_classification); only when asked for"
)


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
    prediction: list[Prediction] = Field(
        description=f"One row's answer, in a list as the seed API did. {PREDICTION_DESCRIPTION}"
    )
    probabilities: list[RowProbabilities] | None = Field(default=None, description=PROBABILITIES_DESCRIPTION)
    model_name: str
    model_version: str


class BatchPredictResponse(BaseModel):
    predictions: list[Prediction] = Field(description=PREDICTION_DESCRIPTION)
    probabilities: list[RowProbabilities] | None = Field(default=None, description=PROBABILITIES_DESCRIPTION)
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
    type: str = Field(description="number, category or text")
    categories: list[Label] | None = Field(default=None, description="category: the values the model knows")
    accepts_unknown: bool = Field(default=False, description="category: other values are accepted too")
    nullable: bool = Field(default=False, description="null is accepted (a missing value)")
    range: list[float] | None = Field(default=None, description="number: [min, max] seen in training")


class ModelInfoResponse(BaseModel):
    """The public manifest: what a front end needs to build a form."""

    model_config = ConfigDict(extra="allow")

    name: str
    version: str
    task: TaskKind
    feature_names: list[str]
    features: list[FeatureInfo]
    n_features: int
    classes: list[Label] | list[list[Label]] | None = Field(
        default=None, description="classification: the classes; multioutput_classification: one list per output"
    )
    class_names: list[str] | None = None
    outputs: list[str] | None = Field(default=None, description="multioutput_*: the name of each output")
    input_layout: InputLayout = "table"
    has_predict_proba: bool
    example: list[FeatureValue]
    versions: dict[str, str]
    metrics: dict[str, float]
    sha256: str
    created_at: str
    max_batch_rows: int
    lineage: Lineage | None = Field(
        default=None, description="Packaged from MLflow: the source, run, registry name, version and alias, metrics"
    )


JSON_TYPES = {bool: "boolean", int: "number", float: "number", str: "string"}


def _value_schema(feature: FeatureSpec, max_text_chars: int) -> dict[str, Any]:
    schema: dict[str, Any]
    if feature.type == "category":
        categories = list(feature.categories or [])
        if feature.accepts_unknown:
            kinds = sorted({JSON_TYPES[type(value)] for value in categories}) or ["string"]
            schema = {"type": kinds[0] if len(kinds) == 1 else kinds, "examples": categories}
        else:
            schema = {"enum": categories}
    elif feature.type == "text":
        schema = {"type": "string", "maxLength": max_text_chars}
    else:
        schema = {"type": "number"}
    if feature.nullable:
        return {"anyOf": [schema, {"type": "null"}]}
    return schema


def row_schema(features: list[FeatureSpec], max_text_chars: int) -> dict[str, Any]:
    """One row of *this* model: exactly its features, in order as an array or by name as an object."""
    values = [_value_schema(feature, max_text_chars) for feature in features]
    if all(feature.type == "number" and not feature.nullable for feature in features):
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


def predict_request_schema(
    features: list[FeatureSpec] | None, max_batch_rows: int, max_text_chars: int
) -> dict[str, Any]:
    """The request body as the loaded model accepts it, so /docs and schema-driven clients see the real rows.
    Without a model, the model-agnostic shape of the pydantic models above."""
    single = SinglePredictRequest.model_json_schema()
    batch = BatchPredictRequest.model_json_schema()
    if features is not None:
        row = row_schema(features, max_text_chars)
        single["properties"]["features"] = row
        batch["properties"]["instances"] = {
            "type": "array",
            "items": row,
            "minItems": 1,
            "maxItems": max_batch_rows,
            "title": "Instances",
        }
    return {"anyOf": [single, batch]}
