"""Turns caller rows (lists in feature order, or objects keyed by feature name) into a model-ready numpy array.

Every value is checked against the manifest's feature specs here, once, so that prediction can skip
scikit-learn's own input checks. Nothing is coerced: a string that looks like a number, a boolean, or a null for a
feature that is not nullable is an error, never a value. What a value must be is looked up by its feature's type
(VALUE_CHECKS: one entry per type), and where a problem is reported comes from whoever decoded the body (a
RowLocation), so this module knows neither the request's format nor its envelope.

The array is the one packaging verified the model with (sklambda.dataframe.rows_to_array): float64 when every
feature is a number, else an object array holding the JSON values; a null becomes NaN, the missing value a
DataFrame-fitted model saw. A model whose input layout is "text" takes a 1-D array of its rows' strings.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from itertools import chain
from typing import Any

import numpy as np

from .config import DEFAULT_MAX_TEXT_CHARS
from .errors import InvalidInputError
from .manifest import FeatureSpec, InputLayout

# Stop collecting after this many problems: enough to fix a request, not enough to make a huge error body.
MAX_REPORTED_PROBLEMS = 20
MAX_ECHOED_NAME_CHARS = 64
MAX_ECHOED_NAMES = 10
# An unknown category's error lists at most this many of the allowed values (a fitted encoder can know thousands).
MAX_LISTED_CATEGORIES = 20

Location = list[str | int]
# Where row `index` of a request is, for error messages: given by whoever decoded the body, since only it knows the
# body's shape (["features"] for a single row, ["instances", 3] in a batch).
RowLocation = Callable[[int], Location]
# bool is a subclass of int but not the same type, so type-identity checks refuse true/false as numbers.
NUMBER_TYPES = frozenset({float, int})


def describe_json_type(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


def echoed_name(name: str) -> str:
    """A caller-supplied key made safe to put in an error: cut short, and with lone surrogates (valid in JSON
    escapes, not encodable as UTF-8) written as escapes instead of failing the response."""
    short = name if len(name) <= MAX_ECHOED_NAME_CHARS else name[:MAX_ECHOED_NAME_CHARS] + "..."
    return short.encode("utf-8", "backslashreplace").decode("utf-8")


class RowProblems:
    """Collects validation problems in pydantic's shape (loc, msg, type) and raises them as one error."""

    def __init__(self) -> None:
        self.items: list[dict[str, Any]] = []
        self.total = 0

    def add(self, loc: Location, msg: str, kind: str) -> None:
        self.total += 1
        if len(self.items) < MAX_REPORTED_PROBLEMS:
            self.items.append({"loc": loc, "msg": msg, "type": kind})

    def raise_if_any(self) -> None:
        if not self.items:
            return
        first = self.items[0]
        where = ".".join(str(part) for part in first["loc"])
        more = f" (and {self.total - 1} more problem{'s' if self.total > 2 else ''})" if self.total > 1 else ""
        raise InvalidInputError(f"Invalid input at {where}: {first['msg']}{more}", self.items)


def single_row_location(_index: int) -> Location:
    return ["features"]


def batch_row_location(index: int) -> Location:
    return ["instances", index]


# A value's problem as (message, kind), or None when the value is one the feature accepts.
Problem = tuple[str, str] | None
ValueCheck = Callable[[object], Problem]


def listed_categories(categories: list[Any]) -> str:
    """The allowed values for an error message, capped at MAX_LISTED_CATEGORIES (quoted when they are strings)."""
    more = len(categories) - MAX_LISTED_CATEGORIES
    return repr(categories[:MAX_LISTED_CATEGORIES]) + (f" and {more} more" if more > 0 else "")


def number_check(feature: FeatureSpec, _max_text_chars: int) -> ValueCheck:
    """A JSON number that fits a 64-bit float: no booleans, no strings that look like numbers, no NaN/Infinity."""
    name = feature.name

    def check(value: object) -> Problem:
        value_type = type(value)
        if value_type is float:
            if not math.isfinite(value):  # type: ignore[arg-type]
                return f"{name} must be a finite number, got {value}", "not_finite"
        elif value_type is int:
            if not -1e308 < value < 1e308:  # type: ignore[operator]
                return f"{name} is too large to be a 64-bit float", "not_finite"
        else:
            return f"{name} must be a number, got {describe_json_type(value)}", "not_a_number"
        return None

    return check


def category_check(feature: FeatureSpec, _max_text_chars: int) -> ValueCheck:
    """One of the categories the model was fitted with, of the same JSON type (strings, or numbers when the encoder
    was fitted on numbers); with `accepts_unknown`, any value of that type."""
    name = feature.name
    categories = list(feature.categories or [])
    # Keyed by JSON type as well as value: True == 1 in Python, but a boolean is not the category 1.
    allowed = frozenset((describe_json_type(value), value) for value in categories)
    json_types = sorted({json_type for json_type, _ in allowed}) or ["string"]
    kinds = " or ".join(f"{json_type}s" for json_type in json_types)
    listed = listed_categories(categories)

    def check(value: object) -> Problem:
        json_type = describe_json_type(value)
        if json_type not in json_types:
            return f"{name} must be one of the {kinds} {listed}, got {json_type}", "not_a_category"
        if type(value) is float and not math.isfinite(value):
            return f"{name} must be one of the {kinds} {listed}, got {value}", "not_a_category"
        if not feature.accepts_unknown and (json_type, value) not in allowed:
            return f"{name} must be one of {listed}, got an unknown category", "unknown_category"
        return None

    return check


def text_check(feature: FeatureSpec, max_text_chars: int) -> ValueCheck:
    """A string of at most MAX_TEXT_CHARS characters."""
    name = feature.name

    def check(value: object) -> Problem:
        if type(value) is not str:
            return f"{name} must be a string, got {describe_json_type(value)}", "not_a_string"
        if len(value) > max_text_chars:
            return (
                f"{name} is {len(value)} characters long, at most {max_text_chars} are accepted (MAX_TEXT_CHARS)",
                "text_too_long",
            )
        return None

    return check


# One entry per feature type of the manifest: what a value of that type must be, given MAX_TEXT_CHARS.
VALUE_CHECKS: dict[str, Callable[[FeatureSpec, int], ValueCheck]] = {
    "number": number_check,
    "category": category_check,
    "text": text_check,
}


def with_nulls(feature: FeatureSpec, check: ValueCheck) -> ValueCheck:
    """`check`, preceded by what null means for the feature: the missing value when it is nullable, else an error
    saying that the feature is required."""
    name = feature.name
    if feature.nullable:

        def nullable(value: object) -> Problem:
            return None if value is None else check(value)

        return nullable

    def required(value: object) -> Problem:
        if value is None:
            return f"{name} is required: this model does not accept a missing value (null) there", "missing_value"
        return check(value)

    return required


class DriftCounter:
    """Per request, per feature: how many numbers fall outside the range seen in training, and how many categories
    are unknown to a feature that accepts them. Only features with a range or accepting unknown values are looked
    at, so a model without either pays nothing."""

    def __init__(self, features: list[FeatureSpec]) -> None:
        self.ranges = [
            (index, feature.name, feature.range)
            for index, feature in enumerate(features)
            if feature.type == "number" and feature.range is not None
        ]
        self.known = [
            (index, feature.name, frozenset((describe_json_type(value), value) for value in feature.categories or []))
            for index, feature in enumerate(features)
            if feature.type == "category" and feature.accepts_unknown
        ]
        self.active = bool(self.ranges or self.known)

    def count(self, features: np.ndarray) -> tuple[dict[str, int], dict[str, int]]:
        """(out-of-range numbers, unknown categories) by feature name, features without any left out; `features`
        is the 2-D array `RowConverter.convert` built."""
        out_of_range: dict[str, int] = {}
        unknown: dict[str, int] = {}
        if not self.active or features.ndim != 2:
            return out_of_range, unknown
        for index, name, (low, high) in self.ranges:
            column = features[:, index].astype(np.float64)
            with np.errstate(invalid="ignore"):
                outside = int(np.count_nonzero((column < low) | (column > high)))
            if outside:
                out_of_range[name] = outside
        for index, name, known in self.known:
            count = sum(
                1
                for value in features[:, index]
                if not (isinstance(value, float) and math.isnan(value))
                and (describe_json_type(value), value) not in known
            )
            if count:
                unknown[name] = count
        return out_of_range, unknown


class RowConverter:
    """Validates rows for one model's feature specs; built once at load time so requests do no set-up work."""

    def __init__(
        self,
        features: list[FeatureSpec],
        input_layout: InputLayout = "table",
        max_text_chars: int = DEFAULT_MAX_TEXT_CHARS,
    ) -> None:
        self.features = features
        self.names = [feature.name for feature in features]
        self.n_features = len(features)
        self.position = {name: index for index, name in enumerate(self.names)}
        self.all_numeric = all(feature.type == "number" for feature in features)
        # The bulk path takes JSON numbers only: a nullable feature's null goes through the checks one by one.
        self.bulk_numeric = self.all_numeric and not any(feature.nullable for feature in features)
        self.text_layout = input_layout == "text"
        self.checks = [with_nulls(feature, VALUE_CHECKS[feature.type](feature, max_text_chars)) for feature in features]

    def to_array(self, rows: list[Any], field: str) -> np.ndarray:
        """`rows` sent as the JSON envelope's `field` ("features": one row, else a batch of "instances")."""
        return self.convert(rows, single_row_location if field == "features" else batch_row_location)

    def convert(self, rows: list[Any], row_location: RowLocation) -> np.ndarray:
        """`rows` is a non-empty list of lists or objects; a problem in row i is reported at `row_location(i)`."""
        if self.all_numeric:
            ready = self._numeric_list_rows(rows)
            if ready is not None:
                return ready
        return self._checked_rows(rows, row_location)

    def _array(self, ordered: list[list[Any]]) -> np.ndarray:
        if self.text_layout:
            texts = np.empty(len(ordered), dtype=object)
            texts[:] = [row[0] for row in ordered]
            return texts
        if self.all_numeric:
            return np.array([[np.nan if value is None else value for value in row] for row in ordered], np.float64)
        array = np.empty((len(ordered), self.n_features), dtype=object)
        for i, row in enumerate(ordered):
            for j, value in enumerate(row):
                array[i, j] = np.nan if value is None else value
        return array

    def _numeric_list_rows(self, rows: list[Any]) -> np.ndarray | None:
        """The common case, checked in bulk at C speed: every row a list of the right length holding only JSON
        numbers, all finite. Returns None (and the row-by-row path then explains what is wrong) otherwise."""
        if not self.bulk_numeric:
            return None
        if set(map(type, rows)) != {list} or set(map(len, rows)) != {self.n_features}:
            return None
        values = list(chain.from_iterable(rows))
        if not set(map(type, values)) <= NUMBER_TYPES:
            return None
        try:
            array = np.fromiter(values, dtype=np.float64, count=len(values))
        except OverflowError:  # an integer beyond float64's range
            return None
        if not np.isfinite(array).all():
            return None
        return array.reshape(len(rows), self.n_features)

    def _checked_rows(self, rows: list[Any], row_location: RowLocation) -> np.ndarray:
        problems = RowProblems()
        ordered: list[list[Any]] = []
        for index, row in enumerate(rows):
            row_loc = row_location(index)
            if type(row) is list:
                values = self._check_list_row(row, row_loc, problems)
            elif type(row) is dict:
                values = self._check_named_row(row, row_loc, problems)
            else:
                problems.add(
                    row_loc,
                    f"expected a row: an array of {self.n_features} values in feature order {self.names} "
                    f"or an object keyed by feature name, got {describe_json_type(row)}",
                    "row_type",
                )
                continue
            if values is not None:
                ordered.append(values)
        problems.raise_if_any()
        return self._array(ordered)

    def _check_list_row(self, row: list[Any], loc: Location, problems: RowProblems) -> list[Any] | None:
        if len(row) != self.n_features:
            problems.add(
                loc,
                f"expected {self.n_features} values in feature order {self.names}, got {len(row)}",
                "feature_count",
            )
            return None
        before = problems.total
        for position, value in enumerate(row):
            self._check_value(position, value, [*loc, position], problems)
        return row if problems.total == before else None

    def _check_named_row(self, row: dict[str, Any], loc: Location, problems: RowProblems) -> list[Any] | None:
        before = problems.total
        unknown = [name for name in row if name not in self.position]
        missing = [name for name in self.names if name not in row]
        if unknown:
            shown = [echoed_name(name) for name in unknown[:MAX_ECHOED_NAMES]]
            problems.add(loc, f"unknown feature name(s) {shown}; expected exactly {self.names}", "unknown_feature")
        if missing:
            problems.add(loc, f"missing feature(s) {missing}; expected exactly {self.names}", "missing_feature")
        if problems.total != before:
            return None
        for name, value in row.items():
            self._check_value(self.position[name], value, [*loc, name], problems)
        if problems.total != before:
            return None
        return [row[name] for name in self.names]

    def _check_value(self, position: int, value: object, loc: Location, problems: RowProblems) -> None:
        problem = self.checks[position](value)
        if problem is not None:
            problems.add(loc, *problem)
