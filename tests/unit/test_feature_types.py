"""Feature types and task kinds read from the fitted gallery pipelines."""

from __future__ import annotations

import functools

import numpy as np
import pytest
from sklearn.compose import make_column_transformer
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OrdinalEncoder, StandardScaler

from sklambda.dataframe import frame_rows, rewrite_and_verify, rows_to_array
from sklambda.feature_types import (
    FeatureType,
    FeatureTypeError,
    detect_feature_types,
    row_missing_check,
    task_kind,
)
from tests.corpus import TEXT_ENTRIES, build, data, entry_params

TITANIC_CATEGORIES = {"sex", "embarked"}
AMES_CATEGORIES = {"Neighborhood", "ExterCond", "GarageType"}

EXPECTED: dict[str, tuple[str, set[str], set[str], str]] = {
    # entry: (task, category features, text features, nullable features: "all", "none" or names)
    "mixed_types_by_name": ("classification", TITANIC_CATEGORIES | {"pclass", "name"}, set(), "all"),
    "mixed_types_by_dtype": ("classification", TITANIC_CATEGORIES, set(), "all"),
    "mixed_types_grid_search": ("classification", TITANIC_CATEGORIES | {"pclass", "name"}, set(), "all"),
    "gradient_boosting_native_categorical": ("regression", AMES_CATEGORIES, set(), "all"),
    "gradient_boosting_ordinal_pandas_output": ("regression", AMES_CATEGORIES, set(), "all"),
    "gradient_boosting_one_hot": ("regression", AMES_CATEGORIES, set(), "all"),
    "stack_predictors": ("regression", AMES_CATEGORIES, set(), "all"),
    "missing_values_imputation": ("regression", set(), set(), "all"),
    "missing_values_knn": ("regression", set(), set(), "all"),
    "missing_indicator_union": ("regression", set(), set(), "all"),
    "text_classification": ("classification", set(), {"text"}, "none"),
    "text_column_heterogeneous": ("classification", set(), {"subject", "body"}, "none"),
    "transformed_target": ("regression", set(), set(), "none"),
    "kmeans_clustering": ("clustering", set(), set(), "none"),
    "isolation_forest": ("outlier_detection", set(), set(), "all"),
    "multioutput_regression": ("multioutput_regression", set(), set(), "all"),
    "multioutput_classification": ("multioutput_classification", TITANIC_CATEGORIES, set(), "all"),
    # sex has no missing value in training: OneHotEncoder(handle_unknown="infrequent_if_exist") takes NaN as unknown
    "calibrated_classifier": ("classification", TITANIC_CATEGORIES, set(), "all"),
    "voting_classifier": ("classification", set(), set(), "none"),
    "hist_gradient_boosting_classifier_missing": ("classification", TITANIC_CATEGORIES, set(), "all"),
}


@functools.cache
def detected(name: str) -> tuple[list[FeatureType], str]:
    """Types and task as packaging reads them: from the rewritten model, on the example row as JSON brings it."""
    entry = build(name)
    if name in TEXT_ENTRIES:
        return detect_feature_types(entry.model), task_kind(entry.model, np.asarray(entry.example, dtype=object))
    rewritten = rewrite_and_verify(entry.model, entry.X, entry.example)
    row = frame_rows(entry.example, rewritten.feature_names)[0]
    types = detect_feature_types(
        rewritten.model,
        names=rewritten.feature_names,
        frame=entry.X,
        nullable_check=row_missing_check(rewritten.model, row, numeric_only=rewritten.numeric_only),
    )
    example_input = rows_to_array([row], numeric_only=rewritten.numeric_only)
    return types, task_kind(rewritten.model, example_input)


def test_every_entry_has_expectations() -> None:
    names = {param.values[0] for param in entry_params()}
    assert names == set(EXPECTED)
    assert len(names) >= 15


@pytest.mark.parametrize("name", entry_params())
def test_task_kind(name: str) -> None:
    assert detected(name)[1] == EXPECTED[name][0]


@pytest.mark.parametrize("name", entry_params())
def test_feature_kinds(name: str) -> None:
    types, _ = detected(name)
    _, categories, texts, _ = EXPECTED[name]
    assert {feature.name for feature in types if feature.kind == "category"} == categories
    assert {feature.name for feature in types if feature.kind == "text"} == texts


@pytest.mark.parametrize("name", entry_params())
def test_nullable_features(name: str) -> None:
    types, _ = detected(name)
    expected = EXPECTED[name][3]
    names = {feature.name for feature in types}
    nullable = {feature.name for feature in types if feature.nullable}
    assert nullable == (names if expected == "all" else set() if expected == "none" else expected)


@pytest.mark.parametrize("name", entry_params(lambda name: name not in TEXT_ENTRIES))
def test_categories_are_the_fitted_values(name: str) -> None:
    """Every category an encoder saw, mapped back to its input column: the column's values in the training data."""
    entry = build(name)
    for feature in detected(name)[0]:
        if feature.kind == "category" and feature.categories is not None:
            assert set(feature.categories) == set(entry.X[feature.name].dropna().unique().tolist()), feature.name
            assert feature.accepts_unknown, feature.name


def test_strict_encoder_lists_its_categories_and_refuses_unknowns() -> None:
    X, y = data.titanic()
    X = X[["sex", "embarked", "fare"]].dropna()
    model = make_pipeline(
        make_column_transformer((OrdinalEncoder(), ["sex", "embarked"]), remainder=StandardScaler()),
        LogisticRegression(),
    ).fit(X, y.loc[X.index])
    types = {feature.name: feature for feature in detect_feature_types(model)}
    assert types["sex"].categories == ("female", "male")
    assert not types["sex"].accepts_unknown
    assert types["fare"].kind == "number"
    rewritten = rewrite_and_verify(model, X, X.iloc[:1])
    with pytest.raises(ValueError, match="unknown categor"):
        rewritten.model.predict(rows_to_array([["other", "S", 10.0]], numeric_only=False))


def test_hist_gradient_boosting_categorical_mask_on_numbers() -> None:
    """Categories given to HistGradientBoosting as a mask over already-encoded numbers: the values it saw."""
    rng = np.random.default_rng(0)
    X = np.column_stack([rng.integers(0, 4, 200), rng.normal(size=200)])
    y = (X[:, 0] == 2) | (X[:, 1] > 1)
    model = HistGradientBoostingClassifier(categorical_features=[True, False], max_iter=5).fit(X, y)
    types = detect_feature_types(model, nullable_check=row_missing_check(model, [1, 0.5], numeric_only=True))
    assert types[0].kind == "category"
    assert types[0].categories == (0.0, 1.0, 2.0, 3.0)
    assert types[0].accepts_unknown
    assert types[1].kind == "number"
    assert all(feature.nullable for feature in types)


def test_scaled_linear_model_takes_numbers_without_nulls() -> None:
    X, y = data.wine_frame()
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=500)).fit(X.to_numpy(), y)
    row = X.iloc[0].tolist()
    types = detect_feature_types(model, nullable_check=row_missing_check(model, row, numeric_only=True))
    assert [feature.name for feature in types] == [f"x{index}" for index in range(X.shape[1])]
    assert {(feature.kind, feature.nullable) for feature in types} == {("number", False)}


def test_overrides_win_over_detection() -> None:
    model = build("mixed_types_by_dtype").model
    types = {
        feature.name: feature
        for feature in detect_feature_types(model, categorical=["pclass"], nullable=["sex"], text=["embarked"])
    }
    assert types["pclass"].kind == "category"
    assert types["pclass"].categories is None
    assert types["sex"].nullable
    assert types["embarked"].kind == "text"


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"categorical": ["cabin"]}, "no feature named cabin: the model's features are embarked, sex"),
        ({"categorical": ["age"], "text": ["age"]}, "age cannot be both categorical and text"),
    ],
)
def test_bad_overrides_are_refused_in_one_line(overrides: dict[str, list[str]], message: str) -> None:
    with pytest.raises(FeatureTypeError, match=message) as refused:
        detect_feature_types(build("mixed_types_by_dtype").model, **overrides)  # type: ignore[arg-type]
    assert "\n" not in str(refused.value)


def test_clustering_predicts_integer_labels_and_outlier_detection_one_or_minus_one() -> None:
    kmeans = build("kmeans_clustering")
    labels = np.asarray(kmeans.model.predict(kmeans.X))
    assert labels.dtype.kind == "i"
    forest = build("isolation_forest")
    assert set(np.asarray(forest.model.predict(forest.X)).tolist()) == {1, -1}
