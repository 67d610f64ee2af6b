"""Rows to the model's array: one value check per feature type, problems reported where the caller says rows are."""

from __future__ import annotations

from typing import get_args

import numpy as np
import pytest
from predict_service.errors import InvalidInputError
from predict_service.inputs import VALUE_CHECKS, RowConverter, batch_row_location
from predict_service.manifest import FeatureSpec

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
