"""Rows to the model's array: one value check per feature type, problems reported where the caller says rows are."""

from __future__ import annotations

from typing import get_args

import numpy as np
import pytest
from predict_service.errors import InvalidInputError
from predict_service.inputs import MAX_LISTED_CATEGORIES, VALUE_CHECKS, DriftCounter, RowConverter, batch_row_location
from predict_service.manifest import FeatureSpec

from sklambda.dataframe import rows_to_array

NUMBERS = [FeatureSpec(name="a"), FeatureSpec(name="b")]
MIXED = [FeatureSpec(name="size"), FeatureSpec(name="color", type="category", categories=["red", "blue"])]


def problems(converter: RowConverter, rows: list[object]) -> list[dict[str, object]]:
    with pytest.raises(InvalidInputError) as raised:
        converter.convert(rows, lambda index: ["at", index])
    detail: list[dict[str, object]] = raised.value.detail
    return detail


def test_every_feature_type_of_the_manifest_has_a_value_check() -> None:
    assert set(VALUE_CHECKS) == set(get_args(FeatureSpec.model_fields["type"].annotation))


def test_problems_are_located_where_the_decoder_says_the_rows_are() -> None:
    converter = RowConverter(NUMBERS)
    found = problems(converter, [[1, 2], [1, "x"], {"a": 1, "b": True}])
    assert [(item["loc"], item["type"]) for item in found] == [
        (["at", 1, 1], "not_a_number"),
        (["at", 2, "b"], "not_a_number"),
    ]


def test_the_envelope_field_gives_the_json_locations() -> None:
    converter = RowConverter(NUMBERS)
    with pytest.raises(InvalidInputError) as single:
        converter.to_array([[1, None]], "features")
    with pytest.raises(InvalidInputError) as batch:
        converter.to_array([[1, 2], [1, None]], "instances")
    assert single.value.detail[0]["loc"] == ["features", 1]
    assert batch.value.detail[0]["loc"] == [*batch_row_location(1), 1]


@pytest.mark.parametrize(
    ("value", "kind"),
    [(True, "not_a_number"), ("1.5", "not_a_number"), (float("nan"), "not_finite"), (10**400, "not_finite")],
)
def test_numbers_are_never_coerced(value: object, kind: str) -> None:
    assert problems(RowConverter(NUMBERS), [[1, value]])[0]["type"] == kind


@pytest.mark.parametrize(("value", "kind"), [("green", "unknown_category"), (1, "not_a_category")])
def test_categories_must_be_known_strings(value: object, kind: str) -> None:
    assert problems(RowConverter(MIXED), [[1.0, value]])[0]["type"] == kind


def test_bulk_and_row_by_row_paths_give_the_same_array() -> None:
    converter = RowConverter(NUMBERS)
    bulk = converter.convert([[1, 2.5], [3, 4]], batch_row_location)
    # An object row sends the whole request down the row-by-row path.
    checked = converter.convert([{"b": 2.5, "a": 1}, [3, 4]], batch_row_location)
    assert bulk.dtype == checked.dtype == np.float64
    assert np.array_equal(bulk, checked)


def test_mixed_rows_keep_their_values_in_feature_order() -> None:
    array = RowConverter(MIXED).convert([{"color": "red", "size": 2}], batch_row_location)
    assert array.dtype == object and array.tolist() == [[2, "red"]]


NULLABLE_NUMBERS = [FeatureSpec(name="a", nullable=True), FeatureSpec(name="b")]
NULLABLE_MIXED = [
    FeatureSpec(name="size", nullable=True),
    FeatureSpec(name="color", type="category", categories=["red", "blue"], nullable=True),
]


def test_null_is_the_missing_value_of_a_nullable_number() -> None:
    array = RowConverter(NULLABLE_NUMBERS).convert([[None, 2], {"a": 1.5, "b": 3}], batch_row_location)
    assert array.dtype == np.float64
    assert np.isnan(array[0, 0]) and array[0, 1] == 2 and array[1].tolist() == [1.5, 3]


def test_null_in_an_object_row_becomes_nan_as_rows_to_array_builds_it() -> None:
    rows: list[list[object]] = [[None, "red"], [2, None]]
    array = RowConverter(NULLABLE_MIXED).convert(list(rows), batch_row_location)
    expected = rows_to_array(rows, numeric_only=False)
    assert array.dtype == expected.dtype == object
    assert [[type(value) for value in row] for row in array] == [[type(value) for value in row] for row in expected]
    assert np.isnan(array[0, 0]) and np.isnan(array[1, 1]) and array[0, 1] == "red" and array[1, 0] == 2


def test_null_for_a_feature_that_is_not_nullable_says_it_is_required() -> None:
    found = problems(RowConverter(NULLABLE_NUMBERS), [[1, None]])
    assert found == [
        {
            "loc": ["at", 0, 1],
            "msg": "b is required: this model does not accept a missing value (null) there",
            "type": "missing_value",
        }
    ]


def test_unknown_category_lists_the_allowed_values_capped() -> None:
    many = [FeatureSpec(name="code", type="category", categories=[f"c{index}" for index in range(30)])]
    [found] = problems(RowConverter(many), [["zz"]])
    assert found["type"] == "unknown_category"
    shown = ", ".join(f'"c{index}"' for index in range(MAX_LISTED_CATEGORIES))
    assert found["msg"] == f"code must be one of [{shown}] and 10 more, got an unknown category"


def test_a_category_accepting_unknown_values_takes_any_value_of_its_type() -> None:
    open_ended = [FeatureSpec(name="city", type="category", categories=["Paris"], accepts_unknown=True)]
    converter = RowConverter(open_ended)
    assert converter.convert([["Lyon"]], batch_row_location).tolist() == [["Lyon"]]
    assert problems(converter, [[3]])[0]["type"] == "not_a_category"


@pytest.mark.parametrize(
    ("value", "kind"),
    [
        ("2", "not_a_category"),
        (True, "not_a_category"),
        (4, "unknown_category"),
        (10**400, "unknown_category"),
        (float("nan"), "not_a_category"),
    ],
)
def test_categories_fitted_on_numbers_are_numbers(value: object, kind: str) -> None:
    grades = [FeatureSpec(name="grade", type="category", categories=[1, 2, 3])]
    assert problems(RowConverter(grades), [[value]])[0]["type"] == kind
    assert RowConverter(grades).convert([[2]], batch_row_location).tolist() == [[2]]


def test_text_layout_gives_the_model_a_1d_array_of_strings() -> None:
    converter = RowConverter([FeatureSpec(name="text", type="text")], "text")
    array = converter.convert([["a b c"], {"text": "d e"}], batch_row_location)
    assert array.shape == (2,) and array.tolist() == ["a b c", "d e"]


@pytest.mark.parametrize(("value", "kind"), [(5, "not_a_string"), (None, "missing_value"), ("x" * 11, "text_too_long")])
def test_text_values_are_strings_up_to_the_limit(value: object, kind: str) -> None:
    converter = RowConverter([FeatureSpec(name="text", type="text")], "text", max_text_chars=10)
    assert problems(converter, [[value]])[0]["type"] == kind
    assert converter.convert([["x" * 10]], batch_row_location).tolist() == ["x" * 10]


def test_drift_counts_numbers_out_of_range_and_unknown_categories_per_feature() -> None:
    features = [
        FeatureSpec(name="age", range=(0.0, 100.0), nullable=True),
        FeatureSpec(name="city", type="category", categories=["Paris", "Lyon"], accepts_unknown=True, nullable=True),
        FeatureSpec(name="color", type="category", categories=["red"]),
    ]
    rows: list[object] = [[-1, "Nice", "red"], [50, "Paris", "red"], [101, None, "red"], [None, "Brest", "red"]]
    array = RowConverter(features).convert(rows, batch_row_location)
    assert DriftCounter(features).count(array) == ({"age": 2}, {"city": 2})
    assert not DriftCounter(NUMBERS).active
