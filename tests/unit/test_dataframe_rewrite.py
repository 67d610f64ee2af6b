"""DataFrame-fitted gallery pipelines rewritten to take plain rows: same answers, no pandas, no warnings."""

from __future__ import annotations

import copy
import functools
import subprocess
import sys
import textwrap
import warnings
from pathlib import Path

import joblib
import numpy as np
import pandas as pd
import pytest
from sklearn.compose import ColumnTransformer, make_column_transformer
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer, OneHotEncoder

from sklambda.dataframe import (
    DataFrameModelError,
    RewrittenModel,
    frame_rows,
    iter_estimators,
    pandas_objects_in_pickle,
    rewrite_and_verify,
    rows_to_array,
    verify_rewrite,
)
from tests.corpus import build, data, entry_params, is_dataframe_entry

DATAFRAME_ENTRIES = entry_params(is_dataframe_entry)


@functools.cache
def rewritten(name: str) -> RewrittenModel:
    entry = build(name)
    return rewrite_and_verify(entry.model, entry.X, entry.example)


def assert_same_answers(answered: object, expected: object) -> None:
    """Labels identical in value and type, numbers within 1e-9."""
    answered, expected = np.asarray(answered), np.asarray(expected)
    assert answered.dtype == expected.dtype
    if expected.dtype.kind == "f":
        np.testing.assert_allclose(answered, expected, rtol=0, atol=1e-9)
    else:
        assert answered.tolist() == expected.tolist()


@pytest.mark.parametrize("name", DATAFRAME_ENTRIES)
def test_rewrite_answers_like_the_original_on_its_dataframe(name: str) -> None:
    entry = build(name)
    result = rewritten(name)
    assert result.feature_names == [str(column) for column in entry.model.feature_names_in_]
    assert "predict" in result.methods_verified
    assert result.rows_verified > len(entry.example)
    # checked here again, independently of the verification inside rewrite_and_verify, on rows it did not see
    held_out = entry.X.iloc[-20:]
    rows = rows_to_array(frame_rows(held_out, result.feature_names), numeric_only=result.numeric_only)
    assert_same_answers(result.model.predict(rows), entry.model.predict(held_out))


@pytest.mark.parametrize("name", DATAFRAME_ENTRIES)
def test_rewritten_model_holds_no_pandas_and_no_column_names(name: str) -> None:
    model = rewritten(name).model
    assert pandas_objects_in_pickle(model) == []
    for estimator in iter_estimators(model):
        assert "feature_names_in_" not in vars(estimator), type(estimator).__name__
        # unfitted templates (a search's or an ensemble's `estimator` parameters) are never called at predict time
        if isinstance(estimator, ColumnTransformer) and hasattr(estimator, "transformers_"):
            for _, _, columns in estimator.transformers_:
                positions = columns if isinstance(columns, list) else [columns]
                assert all(type(position) is int for position in positions), columns


@pytest.mark.parametrize("name", DATAFRAME_ENTRIES)
def test_rewritten_model_serves_arrays_without_warnings(name: str) -> None:
    entry = build(name)
    result = rewritten(name)
    rows = rows_to_array(frame_rows(entry.example, result.feature_names), numeric_only=result.numeric_only)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result.model.predict(rows)
    assert [str(warning.message) for warning in caught] == []


def test_original_dataframe_model_warns_on_arrays() -> None:
    """The control for the test above: without the rewrite, arrays draw scikit-learn's feature-name warning."""
    entry = build("missing_values_imputation")
    rows = rows_to_array(frame_rows(entry.example, list(entry.X.columns)), numeric_only=True)
    with pytest.warns(UserWarning, match="does not have valid feature names"):
        entry.model.predict(rows)


def test_text_column_keeps_its_one_dimensional_selection() -> None:
    """A column named as a scalar reaches its vectorizer as a 1-D array of strings, so its position stays scalar."""
    model = rewritten("text_column_heterogeneous").model
    columns = {name: spec for name, _, spec in model.named_steps["union"].transformers_}
    assert columns["subject"] == 0
    assert columns["body_bow"] == 1


def test_rows_with_missing_values_answer_like_the_original() -> None:
    entry = build("mixed_types_by_name")
    result = rewritten("mixed_types_by_name")
    frame = entry.example.copy()
    frame.loc[0, "age"] = np.nan
    frame.loc[1, "embarked"] = np.nan
    rows = frame_rows(frame, result.feature_names)
    assert rows[0][result.feature_names.index("age")] is None
    array = rows_to_array(rows, numeric_only=False)
    np.testing.assert_allclose(result.model.predict_proba(array), entry.model.predict_proba(frame), rtol=0, atol=1e-9)


def test_a_changed_model_fails_verification() -> None:
    """verify_rewrite catches a model that answers differently (here its coefficients moved by 1e-3)."""
    entry = build("mixed_types_by_name")
    changed = copy.deepcopy(rewritten("mixed_types_by_name").model)
    changed.named_steps["classifier"].coef_ = changed.named_steps["classifier"].coef_ + 1e-3
    with pytest.raises(DataFrameModelError, match="differ"):
        verify_rewrite(entry.model, changed, entry.X.iloc[:50], numeric_only=False)


def fare_per_year(X: pd.DataFrame) -> pd.DataFrame:
    """A step the way pandas users write it: DataFrame methods, columns by name."""
    return X.assign(fare_per_year=X["fare"] / X["age"].fillna(30)).drop(columns=["age"])


def test_function_transformer_calling_dataframe_methods_is_refused() -> None:
    X, y = data.titanic()
    X = X[["age", "fare", "sex"]].fillna({"age": 30.0, "fare": 10.0})
    model = make_pipeline(
        FunctionTransformer(fare_per_year),
        make_column_transformer((OneHotEncoder(), ["sex"]), remainder="passthrough"),
        LogisticRegression(),
    ).fit(X, y)
    with pytest.raises(DataFrameModelError) as refused:
        rewrite_and_verify(model, X, X.iloc[:2])
    message = str(refused.value)
    assert "\n" not in message
    assert "FunctionTransformer calls fare_per_year" in message
    assert "numpy array" in message


def test_function_transformer_of_a_numpy_function_is_kept() -> None:
    """np.log1p works on arrays as well as DataFrames: the model does not need pandas and is rewritten."""
    X, y = data.diabetes_with_missing()
    X = X.fillna(0.0).abs()
    model = make_pipeline(FunctionTransformer(np.log1p), LinearRegression()).fit(X, y)
    result = rewrite_and_verify(model, X, X.iloc[:2])
    assert result.methods_verified == ["predict"]
    assert result.numeric_only


def test_model_not_fitted_on_a_dataframe_is_not_rewritten() -> None:
    entry = build("text_classification")
    with pytest.raises(DataFrameModelError, match="not fitted on a DataFrame"):
        rewrite_and_verify(entry.model, pd.DataFrame({"text": entry.X}), pd.DataFrame({"text": entry.example}))


BLOCK_PANDAS = textwrap.dedent(
    """
    import importlib.abc, sys

    class NoPandas(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name == "pandas" or name.startswith("pandas."):
                raise ModuleNotFoundError(f"No module named {name!r} (blocked: serving has no pandas)")
            return None

    sys.meta_path.insert(0, NoPandas())
    import joblib
    model = joblib.load(sys.argv[1])
    rows = joblib.load(sys.argv[2])
    joblib.dump(model.predict(rows), sys.argv[3])
    assert not any(name == "pandas" or name.startswith("pandas.") for name in sys.modules), "pandas was imported"
    """
)


def _predict_without_pandas(model_path: Path, rows: np.ndarray, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    rows_path, out_path = tmp_path / "rows.joblib", tmp_path / "out.joblib"
    joblib.dump(rows, rows_path)
    return subprocess.run(
        [sys.executable, "-c", BLOCK_PANDAS, str(model_path), str(rows_path), str(out_path)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.parametrize("name", ["gradient_boosting_ordinal_pandas_output", "mixed_types_by_dtype"])
def test_rewritten_model_loads_and_predicts_where_pandas_cannot_be_imported(name: str, tmp_path: Path) -> None:
    entry = build(name)
    result = rewritten(name)
    rows = rows_to_array(frame_rows(entry.example, result.feature_names), numeric_only=result.numeric_only)
    model_path = tmp_path / "model.joblib"
    joblib.dump(result.model, model_path)
    completed = _predict_without_pandas(model_path, rows, tmp_path)
    assert completed.returncode == 0, completed.stderr
    answered = joblib.load(tmp_path / "out.joblib")
    assert_same_answers(answered, entry.model.predict(entry.example))


def test_original_model_holding_a_pandas_index_cannot_load_without_pandas(tmp_path: Path) -> None:
    """The control for the test above: the blocked import does bite on a model that pickles pandas objects."""
    entry = build("gradient_boosting_ordinal_pandas_output")
    assert "pandas.Index" in pandas_objects_in_pickle(entry.model)
    model_path = tmp_path / "model.joblib"
    joblib.dump(entry.model, model_path)
    completed = _predict_without_pandas(model_path, np.zeros((1, 7)), tmp_path)
    assert completed.returncode != 0
    assert "blocked: serving has no pandas" in completed.stderr
