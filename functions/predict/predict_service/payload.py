"""Decodes the JSON body of POST /predict and checks its envelope (which keys, which types).

Row contents are checked by the runtime's RowConverter; this module only knows the request's outer shape.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import orjson

from .errors import InvalidInputError, MalformedBodyError, TooManyRowsError
from .inputs import MAX_ECHOED_NAMES, describe_json_type, echoed_name

ALLOWED_KEYS = frozenset({"features", "instances", "return_probabilities"})
_KEY_TOKENS = tuple(f'"{key}"'.encode() for key in ALLOWED_KEYS)


@dataclass(frozen=True, slots=True)
class PredictRequest:
    rows: list[Any]
    field: str  # "features" (one row, answered as "prediction") or "instances" (a batch, "predictions")
    return_probabilities: bool

    @property
    def is_batch(self) -> bool:
        return self.field == "instances"


def _reject_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result = dict(pairs)
    if len(result) != len(pairs):
        seen: set[str] = set()
        duplicate = next(key for key, _ in pairs if key in seen or seen.add(key))  # type: ignore[func-returns-value]
        shown = echoed_name(duplicate)
        raise MalformedBodyError(
            f"Malformed JSON: the key {json.dumps(shown)} appears more than once in one object",
            {"duplicate_key": shown},
        )
    return result


def _strict_loads(body: bytes) -> Any:
    """The slow, exact parser: finds duplicate keys and accepts NaN/Infinity so they can be reported as 422."""
    try:
        return json.loads(body, object_pairs_hook=_reject_duplicate_keys)
    except MalformedBodyError:
        raise
    except (ValueError, RecursionError) as error:
        # Besides syntax errors: invalid UTF-8, integers longer than Python's 4300-digit limit, deep nesting.
        reason = error.msg if isinstance(error, json.JSONDecodeError) else str(error)[:200] or "could not be decoded"
        position = {"line": error.lineno, "column": error.colno} if isinstance(error, json.JSONDecodeError) else {}
        raise MalformedBodyError(f"Malformed JSON: {reason}", {"reason": reason, **position}) from None


def decode_json(body: bytes) -> Any:
    if not body.strip():
        raise MalformedBodyError("Malformed JSON: the request body is empty", {"reason": "empty body"})
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError:
        # orjson refuses NaN, Infinity and 1e400; the exact parser accepts them so validation can answer
        # 422 "must be a finite number" instead of a vague 400.
        return _strict_loads(body)
    # orjson keeps the last of duplicate keys silently. Duplicates are only possible where the body has more
    # than one object, or repeats a top-level key token; only then pay for the exact parse.
    if body.count(b"{") > 1 or (
        isinstance(document, dict) and sum(body.count(token) for token in _KEY_TOKENS) > len(document)
    ):
        return _strict_loads(body)
    return document


def parse_predict_request(document: Any, max_batch_rows: int, has_predict_proba: bool) -> PredictRequest:
    if not isinstance(document, dict):
        raise InvalidInputError(
            f"The request body must be a JSON object with 'features' (one row) or 'instances' (a batch), "
            f"got {describe_json_type(document)}",
            [{"loc": [], "msg": "expected an object", "type": "body_type"}],
        )
    unknown = sorted(echoed_name(key) for key in document if key not in ALLOWED_KEYS)
    if unknown:
        more = f" and {len(unknown) - MAX_ECHOED_NAMES} more" if len(unknown) > MAX_ECHOED_NAMES else ""
        raise InvalidInputError(
            f"Unknown field(s) {unknown[:MAX_ECHOED_NAMES]}{more}: the request accepts only {sorted(ALLOWED_KEYS)}",
            [{"loc": [key], "msg": "unknown field", "type": "extra_forbidden"} for key in unknown[:MAX_ECHOED_NAMES]],
        )
    return_probabilities = document.get("return_probabilities", False)
    if type(return_probabilities) is not bool:
        raise InvalidInputError(
            f"return_probabilities must be true or false, got {describe_json_type(return_probabilities)}",
            [{"loc": ["return_probabilities"], "msg": "expected a boolean", "type": "bool_type"}],
        )
    if return_probabilities and not has_predict_proba:
        raise InvalidInputError(
            "This model cannot return probabilities (it has no predict_proba); leave return_probabilities out",
            [{"loc": ["return_probabilities"], "msg": "not supported by this model", "type": "unsupported"}],
        )
    if ("features" in document) == ("instances" in document):
        raise InvalidInputError(
            "Send exactly one of 'features' (one row) or 'instances' (a batch of rows)",
            [{"loc": [], "msg": "expected exactly one of features, instances", "type": "missing_or_ambiguous"}],
        )
    if "features" in document:
        row = document["features"]
        if isinstance(row, list) and row and isinstance(row[0], list | dict):
            raise InvalidInputError(
                "'features' holds one row; send several rows as 'instances': [[...], [...]]",
                [{"loc": ["features"], "msg": "nested rows in features", "type": "row_type"}],
            )
        if not isinstance(row, list | dict):
            raise InvalidInputError(
                f"'features' must be an array of values or an object keyed by feature name, "
                f"got {describe_json_type(row)}",
                [{"loc": ["features"], "msg": "expected an array or object", "type": "row_type"}],
            )
        return PredictRequest([row], "features", return_probabilities)
    rows = document["instances"]
    if not isinstance(rows, list):
        raise InvalidInputError(
            f"'instances' must be an array of rows, got {describe_json_type(rows)}",
            [{"loc": ["instances"], "msg": "expected an array", "type": "list_type"}],
        )
    if not rows:
        raise InvalidInputError(
            "'instances' is empty: send at least one row",
            [{"loc": ["instances"], "msg": "at least one row is required", "type": "too_short"}],
        )
    if len(rows) > max_batch_rows:
        raise TooManyRowsError(
            f"Too many rows: {len(rows)} sent, at most {max_batch_rows} per request (MAX_BATCH_ROWS)",
            {"rows": len(rows), "max_batch_rows": max_batch_rows},
        )
    return PredictRequest(rows, "instances", return_probabilities)
