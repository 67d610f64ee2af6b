"""Models fitted on a pandas DataFrame, turned into models that take plain numpy rows in feature order.

Lambda serves without pandas (about 84 MB unzipped, against a 250 MB limit shared with scikit-learn), so a model
whose columns are chosen by name, by dtype or by a `make_column_selector` is rewritten at packaging time:

- every fitted `ColumnTransformer` gets the integer positions scikit-learn resolved at fit time
  (`_transformer_to_input_indices`) in place of its column specs (`transformers_`, `transformers`, `_columns`,
  `_remainder`), keeping a scalar spec scalar so a text column still reaches its vectorizer as a 1-D array;
- `set_output(transform="pandas")` is switched back to numpy output: the next step then receives the same values in
  the same column order, and a nested `ColumnTransformer` is rewritten to positions in that order too;
- `feature_names_in_` is dropped from every estimator inside: scikit-learn uses it only to check or select columns of
  a DataFrame (and to name output columns), and keeping it makes every array input warn "X does not have valid
  feature names". The served feature names live in the manifest, taken from the original model;
- pandas objects held in attributes or parameters (an `Index` of column names, a boolean `Series` of categorical
  columns) become plain lists and numpy arrays.

The rewritten model is kept only if it answers exactly like the original on DataFrame input (`verify_rewrite`), and
only if its pickle references no pandas object at all (`check_no_pandas`). pandas is imported lazily: it is needed
on the packaging machine, never where the model is served.
"""

from __future__ import annotations

import copy
import io
import math
import pickle
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.compose import ColumnTransformer
from sklearn.preprocessing import FunctionTransformer

ABS_TOLERANCE = 1e-9
"""Largest difference allowed between a number the original model returns and the rewritten model's."""

OUTPUT_METHODS = ("predict", "predict_proba", "decision_function", "transform")
"""The methods compared between the original and the rewritten model, where the original has them and they work."""


class DataFrameModelError(ValueError):
    """Raised when a DataFrame model cannot be served from plain rows; the message is one line saying what to do."""


@dataclass(frozen=True)
class RewrittenModel:
    """A DataFrame-fitted model turned into one that takes rows in `feature_names` order, and how that was checked."""

    model: Any
    feature_names: list[str]
    numeric_only: bool
    """True when every feature is a number: the model then takes a float64 array, else an object array."""
    rows_verified: int
    methods_verified: list[str]

    def record(self) -> dict[str, Any]:
        """What the manifest records about the rewrite: that it happened, and how it was verified."""
        return {
            "rewritten_from_dataframe": True,
            "input": "float64" if self.numeric_only else "object",
            "rows_verified": self.rows_verified,
            "methods_verified": list(self.methods_verified),
            "tolerance": ABS_TOLERANCE,
        }


def fitted_on_dataframe(model: Any) -> bool:
    """Whether the model recorded column names at fit time (it was fitted on a DataFrame)."""
    return hasattr(model, "feature_names_in_")


def _is_pandas_object(value: Any) -> bool:
    return type(value).__module__.split(".")[0] == "pandas"


def _plain(value: Any) -> Any:
    """The value with pandas containers replaced by what a numpy-only environment can unpickle."""
    if _is_pandas_object(value):
        type_name = type(value).__name__
        if type_name.endswith("Index"):
            return value.tolist()
        if type_name in ("Series", "DataFrame"):
            return value.to_numpy()
        return value
    if isinstance(value, list):
        return [_plain(item) for item in value]
    if isinstance(value, tuple):
        return tuple(_plain(item) for item in value)
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    return value


def _is_sklearn_object(value: Any) -> bool:
    """Estimators and the helper objects scikit-learn keeps inside them (e.g. CalibratedClassifierCV's calibrators)."""
    return isinstance(value, BaseEstimator) or (
        hasattr(value, "__dict__") and type(value).__module__.split(".")[0] == "sklearn"
    )


def iter_estimators(model: Any) -> Iterator[Any]:
    """Every scikit-learn object reachable from the model through attributes, lists, tuples and dicts, once each."""
    seen: set[int] = set()
    stack = [model]
    while stack:
        value = stack.pop()
        if isinstance(value, (list, tuple)):
            stack.extend(value)
            continue
        if isinstance(value, dict):
            stack.extend(value.values())
            continue
        if not _is_sklearn_object(value) or id(value) in seen:
            continue
        seen.add(id(value))
        yield value
        stack.extend(vars(value).values())


def _column_positions(columns: Any, indices: Sequence[int]) -> Any:
    """The fit-time positions in the shape of the spec they replace: a scalar spec selects a 1-D column."""
    positions = [int(index) for index in indices]
    if isinstance(columns, (str, int, np.integer)):
        return positions[0]
    return positions


def _rewrite_column_transformer(transformer: ColumnTransformer) -> None:
    if not hasattr(transformer, "_transformer_to_input_indices"):
        return
    positions = transformer._transformer_to_input_indices
    transformer.transformers_ = [
        (name, trans, _column_positions(columns, positions[name])) for name, trans, columns in transformer.transformers_
    ]
    transformer.transformers = [
        (name, trans, _column_positions(columns, positions[name]))
        for (name, trans, _), columns in zip(transformer.transformers, transformer._columns, strict=True)
    ]
    transformer._columns = [columns for _, _, columns in transformer.transformers]
    name, remainder, _ = transformer._remainder
    transformer._remainder = (name, remainder, [int(index) for index in positions["remainder"]])
    transformer._transformer_to_input_indices = {
        name: [int(index) for index in indices] for name, indices in positions.items()
    }


def rewrite_for_arrays(model: Any) -> Any:
    """A deep copy of the model that takes rows in feature order as a numpy array (see the module docstring).

    Not verified: `rewrite_and_verify` is the one to package with."""
    rewritten = copy.deepcopy(model)
    for estimator in iter_estimators(rewritten):
        for attribute, value in list(vars(estimator).items()):
            plain = _plain(value)
            if plain is not value:
                setattr(estimator, attribute, plain)
        if isinstance(estimator, ColumnTransformer):
            _rewrite_column_transformer(estimator)
        output_config = getattr(estimator, "_sklearn_output_config", None)
        if isinstance(output_config, dict) and output_config.get("transform") not in (None, "default"):
            output_config["transform"] = "default"
        if "feature_names_in_" in vars(estimator):
            del estimator.feature_names_in_
    return rewritten


class _PandasFindingPickler(pickle.Pickler):
    def __init__(self, file: io.BytesIO) -> None:
        super().__init__(file, protocol=pickle.HIGHEST_PROTOCOL)
        self.found: list[str] = []

    def reducer_override(self, obj: Any) -> Any:
        if isinstance(obj, type) and obj.__module__.split(".")[0] == "pandas":
            self.found.append(f"{obj.__module__}.{obj.__qualname__}")
        elif _is_pandas_object(obj):
            self.found.append(f"{type(obj).__module__}.{type(obj).__qualname__}")
        return NotImplemented


def pandas_objects_in_pickle(model: Any) -> list[str]:
    """The types of the pandas objects the model's pickle would reference (empty when it unpickles without pandas)."""
    pickler = _PandasFindingPickler(io.BytesIO())
    pickler.dump(model)
    return sorted(set(pickler.found))


def check_no_pandas(model: Any) -> None:
    """Raise when unpickling the model would need pandas."""
    found = pandas_objects_in_pickle(model)
    if found:
        raise DataFrameModelError(
            f"the model still holds pandas objects ({', '.join(found)}), which cannot load where it is served "
            "without pandas: convert them to lists or numpy arrays before saving the model"
        )


def frame_rows(frame: Any, feature_names: Sequence[str]) -> list[list[Any]]:
    """The DataFrame's rows as JSON would bring them: numbers as int/float, strings as str, missing as None."""
    rows: list[list[Any]] = []
    for record in frame[list(feature_names)].itertuples(index=False, name=None):
        row: list[Any] = []
        for value in record:
            if value is None or (isinstance(value, float) and math.isnan(value)) or _is_pandas_missing(value):
                row.append(None)
            elif isinstance(value, np.generic):
                row.append(value.item())
            else:
                row.append(value)
        rows.append(row)
    return rows


def _is_pandas_missing(value: Any) -> bool:
    return _is_pandas_object(value) and type(value).__name__ in ("NAType", "NaTType")


def rows_to_array(rows: Sequence[Sequence[Any]], *, numeric_only: bool) -> np.ndarray:
    """The array a rewritten model takes: float64 when every feature is a number, else object; None becomes NaN.

    NaN, not None, is the missing value a DataFrame-fitted model saw: pandas hands missing numbers, strings and
    categories to scikit-learn as NaN, and `SimpleImputer`'s default `missing_values=np.nan` does not match None."""
    if numeric_only:
        return np.array([[np.nan if value is None else value for value in row] for row in rows], dtype=np.float64)
    array = np.empty((len(rows), len(rows[0]) if rows else 0), dtype=object)
    for i, row in enumerate(rows):
        for j, value in enumerate(row):
            array[i, j] = np.nan if value is None else value
    return array


def is_numeric_frame(frame: Any, feature_names: Sequence[str]) -> bool:
    """Whether every feature column is a number (booleans count as numbers)."""
    import pandas as pd

    return all(
        pd.api.types.is_numeric_dtype(frame[name]) and not isinstance(frame[name].dtype, pd.CategoricalDtype)
        for name in feature_names
    )


def verification_frame(model: Any, frame: Any, example: Any, *, max_rows: int = 64, max_categories: int = 50) -> Any:
    """The example rows plus generated rows: each numeric column's range and quantiles, every category of each
    non-numeric column (up to `max_categories`: a free-text column has one per row), and a missing value in each
    column where the original model accepts one."""
    import pandas as pd

    names = [str(name) for name in model.feature_names_in_]
    frame = frame[names]
    base = pd.concat([example[names], frame.head(max_rows // 4)], ignore_index=True)
    generated: list[Any] = [base]
    # generated rows start from the user's example row: a training row may hold values the model refuses (NaN)
    first = example[names].iloc[[0]]
    template = first.iloc[[0] * 5].reset_index(drop=True)
    for name in names:
        column = frame[name]
        if pd.api.types.is_numeric_dtype(column) and not isinstance(column.dtype, pd.CategoricalDtype):
            values = column.dropna()
            if values.empty:
                continue
            probe = template.copy()
            probe[name] = values.quantile([0.0, 0.25, 0.5, 0.75, 1.0], interpolation="nearest").to_numpy()
            generated.append(probe)
        else:
            categories = column.dropna().unique()[:max_categories]
            probe = first.iloc[[0] * len(categories)].reset_index(drop=True)
            probe[name] = categories
            generated.append(probe)
    for name in names:
        probe = first.reset_index(drop=True)
        probe[name] = np.nan
        if predicts(model, probe):
            generated.append(probe)
    return pd.concat(generated, ignore_index=True)


def predicts(model: Any, frame: Any) -> bool:
    """Whether the model predicts on these rows without raising (how missing values are found to be accepted)."""
    try:
        model.predict(frame)
    except Exception:  # whatever the model raises on the value, it does not accept it
        return False
    return True


def _same_output(original: Any, rewritten: Any) -> str | None:
    """None when the two outputs are identical (labels) or within ABS_TOLERANCE (numbers), else what differs."""
    if isinstance(original, list):
        # one array per output (multi-output predict_proba), each compared on its own: their shapes may differ
        if not isinstance(rewritten, list) or len(rewritten) != len(original):
            return "a different number of outputs"
        for index, (left, right) in enumerate(zip(original, rewritten, strict=True)):
            difference = _same_output(left, right)
            if difference is not None:
                return f"output {index}: {difference}"
        return None
    original = np.asarray(original)
    rewritten = np.asarray(rewritten)
    if original.shape != rewritten.shape:
        return f"shape {rewritten.shape} instead of {original.shape}"
    if original.dtype.kind in "fc" and rewritten.dtype.kind in "fc":
        if not np.allclose(original, rewritten, rtol=0.0, atol=ABS_TOLERANCE, equal_nan=True):
            worst = float(np.nanmax(np.abs(original - rewritten)))
            return f"values differ by up to {worst:.3g}"
        return None
    if original.dtype != rewritten.dtype:
        return f"dtype {rewritten.dtype} instead of {original.dtype}"
    original_list, rewritten_list = original.ravel().tolist(), rewritten.ravel().tolist()
    for left, right in zip(original_list, rewritten_list, strict=True):
        if type(left) is not type(right) or left != right:
            return f"label {right!r} ({type(right).__name__}) instead of {left!r} ({type(left).__name__})"
    return None


def _pandas_functions(model: Any) -> list[str]:
    """The user functions inside FunctionTransformers: what can call DataFrame methods at predict time."""
    names = []
    for estimator in iter_estimators(model):
        if isinstance(estimator, FunctionTransformer):
            for func in (estimator.func, estimator.inverse_func):
                module = getattr(func, "__module__", None) or ""
                if func is not None and module.split(".")[0] not in ("sklearn", "numpy"):
                    names.append(getattr(func, "__qualname__", repr(func)))
    return names


def _needs_pandas_error(model: Any, cause: str) -> DataFrameModelError:
    functions = _pandas_functions(model)
    if functions:
        return DataFrameModelError(
            f"the model needs pandas at predict time: its FunctionTransformer calls {', '.join(functions)} on a "
            f"DataFrame ({cause}); serving has no pandas: rewrite the function to take and return a 2-D numpy array "
            "and fit the model again"
        )
    return DataFrameModelError(
        f"the model fitted on a DataFrame does not predict the same from plain rows ({cause}); serving has no "
        "pandas: fit it on a numpy array (columns in feature order) and package that"
    )


def verify_rewrite(original: Any, rewritten: Any, frame: Any, *, numeric_only: bool) -> list[str]:
    """Compare every output method of the two models on the frame; return the methods compared.

    The original gets the DataFrame, the rewritten model the same rows as the service builds them from JSON."""
    names = [str(name) for name in original.feature_names_in_]
    rows = rows_to_array(frame_rows(frame, names), numeric_only=numeric_only)
    compared = []
    for method in OUTPUT_METHODS:
        if not callable(getattr(original, method, None)):
            continue
        try:
            expected = getattr(original, method)(frame[names])
        except Exception as error:  # a method the fitted model cannot answer is not compared, but predict must be
            if method == "predict":
                raise DataFrameModelError(
                    f"the model does not predict its own rows ({type(error).__name__}: {error}): check that the "
                    "DataFrame and the example rows are the ones it was fitted for"
                ) from error
            continue
        try:
            answered = getattr(rewritten, method)(rows)
        except Exception as error:  # any failure here is the rewritten model's, reported as the reason to refuse
            raise _needs_pandas_error(original, f"{method} raised {type(error).__name__}: {error}") from error
        difference = _same_output(expected, answered)
        if difference is not None:
            raise _needs_pandas_error(original, f"{method}: {difference}")
        compared.append(method)
    return compared


def rewrite_and_verify(model: Any, frame: Any, example: Any) -> RewrittenModel:
    """The model rewritten for plain rows, verified on the example plus generated rows and free of pandas.

    `frame` is the training DataFrame (or a sample of it), `example` a DataFrame of one or more example rows."""
    if not fitted_on_dataframe(model):
        raise DataFrameModelError("the model was not fitted on a DataFrame: it takes rows as they are")
    names = [str(name) for name in model.feature_names_in_]
    missing = [name for name in names if name not in frame.columns]
    if missing:
        raise DataFrameModelError(f"the DataFrame lacks the model's columns {missing}: give the one it was fitted on")
    numeric_only = is_numeric_frame(frame, names)
    rewritten = rewrite_for_arrays(model)
    check_no_pandas(rewritten)
    rows = verification_frame(model, frame, example)
    methods = verify_rewrite(model, rewritten, rows, numeric_only=numeric_only)
    return RewrittenModel(
        model=rewritten,
        feature_names=names,
        numeric_only=numeric_only,
        rows_verified=len(rows),
        methods_verified=methods,
    )
