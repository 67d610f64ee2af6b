"""Decodes the body of POST /predict and checks its envelope (which keys, which types).

Decoders are looked up by the body's media type (BODY_DECODERS; JSON is the one format today). Row contents are
checked by inputs.RowConverter, at the row locations the decoded request names; this module only knows the
request's outer shape.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NoReturn

import orjson

from .errors import InvalidInputError, MalformedBodyError, TooManyRowsError, UnsupportedMediaTypeError
from .inputs import (
    MAX_ECHOED_NAMES,
    MAX_REPORTED_PROBLEMS,
    Location,
    RowLocation,
    batch_row_location,
    describe_json_type,
    echoed_name,
    single_row_location,
)

ALLOWED_KEYS = frozenset({"features", "instances", "return_probabilities"})
_KEY_TOKENS = tuple(f'"{key}"'.encode() for key in ALLOWED_KEYS)


@dataclass(frozen=True, slots=True)
class PredictRequest:
    rows: list[Any]
    is_batch: bool  # a batch is answered as "predictions", one row as "prediction"
    return_probabilities: bool
    row_location: RowLocation  # where row i is in the body, for error messages


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


def _malformed(error: ValueError | RecursionError) -> MalformedBodyError:
    if isinstance(error, json.JSONDecodeError):
        return MalformedBodyError(
            f"Malformed JSON: {error.msg}", {"reason": error.msg, "line": error.lineno, "column": error.colno}
        )
    # Invalid UTF-8, nesting deeper than the recursion limit, an integer longer than the int-string limit.
    reason = str(error)[:200] or "could not be decoded"
    return MalformedBodyError(f"Malformed JSON: {reason}", {"reason": reason})


class _OversizedInteger:
    """Stands in for an integer literal too long for int() while the body is re-parsed to find where it is."""

    __slots__ = ("digits",)

    def __init__(self, digits: int) -> None:
        self.digits = digits


def _report_oversized_integers(body: bytes, original: ValueError) -> NoReturn:
    """Python refuses to read integers longer than sys.get_int_max_str_digits() (4300 by default, a guard against
    quadratic-time conversion). Such a body is still valid JSON, so instead of a 400 "Malformed JSON" the caller
    gets a 422 naming where each such number is. Only runs after the exact parse failed, so the hook below
    costs nothing on any other request."""
    limit = sys.get_int_max_str_digits()

    def parse_int(text: str) -> int | _OversizedInteger:
        digits = len(text) - text.startswith("-")
        return _OversizedInteger(digits) if limit and digits > limit else int(text)

    try:
        document = json.loads(body, object_pairs_hook=_reject_duplicate_keys, parse_int=parse_int)
    except (ValueError, RecursionError) as error:  # the body has another fault past the long number
        raise _malformed(error) from None
    found: list[tuple[Location, int]] = []
    # Iterative: the document can be as deep as the parser allowed, which is Python's recursion limit.
    pending: list[tuple[Any, Location]] = [(document, [])]
    while pending:
        value, loc = pending.pop()
        if isinstance(value, _OversizedInteger):
            found.append((loc, value.digits))
        elif isinstance(value, dict):
            pending.extend((item, [*loc, echoed_name(key)]) for key, item in reversed(value.items()))
        elif isinstance(value, list):
            pending.extend((item, [*loc, index]) for index, item in reversed(list(enumerate(value))))
    if not found:
        raise _malformed(original) from None  # the ValueError was something else after all
    loc, digits = found[0]
    where = ".".join(map(str, loc)) or "the top level"
    more = f" (and {len(found) - 1} more)" if len(found) > 1 else ""
    raise InvalidInputError(
        f"Invalid input at {where}: the number is too large ({digits} digits; Python reads integers of at most "
        f"{limit} digits, its int-string limit){more}",
        [
            {"loc": loc, "msg": f"integer with {digits} digits, limit {limit}", "type": "number_too_large"}
            for loc, digits in found[:MAX_REPORTED_PROBLEMS]
        ],
    )


def _strict_loads(body: bytes) -> Any:
    """The slow, exact parser: finds duplicate keys and accepts NaN/Infinity so they can be reported as 422."""
    try:
        return json.loads(body, object_pairs_hook=_reject_duplicate_keys)
    except (json.JSONDecodeError, UnicodeError, RecursionError) as error:
        raise _malformed(error) from None
    except ValueError as error:
        # What is left is int()'s refusal of an over-long integer literal.
        _report_oversized_integers(body, error)


def _duplicates_ruled_out(body: bytes, document: Any) -> bool:
    """Whether orjson's result can be trusted: it keeps the last of duplicate keys silently. Cheap byte scans
    prove a body free of duplicates in the common case (one object, keys written literally, only known keys);
    any other body is parsed again exactly."""
    if type(document) is not dict:
        return False  # rejected (422) anyway; the exact parse reports a duplicate inside it first
    # A backslash may be a key escape ("feature\u0073" is "features"), which the token count below cannot see.
    if b"\\" in body or body.count(b"{") != 1:
        return False
    if not document.keys() <= ALLOWED_KEYS:
        return False  # an unknown field is an error anyway; a duplicate in the same body is reported first
    # One object whose keys are all known and literal: each key's token occurs at least once per occurrence of
    # the key (string values may add more, which only costs the exact parse), so equal counts mean no repeats.
    return sum(body.count(token) for token in _KEY_TOKENS) == len(document)


def decode_json(body: bytes) -> Any:
    if not body.strip():
        raise MalformedBodyError("Malformed JSON: the request body is empty", {"reason": "empty body"})
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError:
        # orjson refuses NaN, Infinity and 1e400; the exact parser accepts them so validation can answer
        # 422 "must be a finite number" instead of a vague 400.
        return _strict_loads(body)
    if _duplicates_ruled_out(body, document):
        return document
    return _strict_loads(body)


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
        return PredictRequest([row], False, return_probabilities, single_row_location)
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
    return PredictRequest(rows, True, return_probabilities, batch_row_location)


def parse_json_request(body: bytes, max_batch_rows: int, has_predict_proba: bool) -> PredictRequest:
    return parse_predict_request(decode_json(body), max_batch_rows, has_predict_proba)


BodyDecoder = Callable[[bytes, int, bool], PredictRequest]
# Media type -> the decoder of a POST /predict body of that type (body, MAX_BATCH_ROWS, has_predict_proba).
BODY_DECODERS: dict[str, BodyDecoder] = {"application/json": parse_json_request}
# API Gateway test events and bare clients often send no content type; FastAPI reads such a body as JSON too.
DEFAULT_MEDIA_TYPE = "application/json"


def decoder_for(content_type: str | None) -> BodyDecoder:
    """The decoder for a Content-Type header value; a structured-syntax suffix (application/problem+json) counts as
    its base format. UnsupportedMediaTypeError for any other declared type."""
    media_type = content_type.split(";", 1)[0].strip().lower() if content_type else DEFAULT_MEDIA_TYPE
    decoder = BODY_DECODERS.get(media_type)
    if decoder is None and media_type.startswith("application/") and "+" in media_type:
        decoder = BODY_DECODERS.get("application/" + media_type.rsplit("+", 1)[1])
    if decoder is None:
        raise UnsupportedMediaTypeError(
            "Send the body as JSON with the header 'Content-Type: application/json'",
            {"content_type": (content_type or "")[:100]},
        )
    return decoder
