"""`--runtime onnx`: convert a fitted scikit-learn model to ONNX at packaging time, and prove it predicts the same.

Conversion (skl2onnx):
- Inputs: one float tensor [N, n_features] when every feature is numeric, else one [N, 1] tensor per feature (float
  for numbers, string for categories): an ONNX tensor has one element type, and skl2onnx maps a ColumnTransformer's
  positional columns onto consecutive inputs, so pipelines from `sklambda train --csv` convert unchanged.
- Precision, tried in this order until one verifies (GRAPH_VARIANTS):
  1. float64 throughout, with every tree-based step behind a cast to float32 and back: scikit-learn's trees compare
     float32(x) with float64 thresholds, and this reproduces exactly that (a plain float64 graph splits differently
     on inputs such as 2.45 that sit on a threshold, and float32 sums over a forest break its exact ties);
  2. float64 inputs with the tree steps in float32 (onnxruntime runs some tree converters, e.g. gradient boosting
     and single trees, only in float32);
  3. float32 throughout, for converters that produce nothing else.
- Classifier outputs: the class index and the probability matrix as one tensor (zipmap=False); the runtime maps
  indexes to the manifest's classes so labels keep their scikit-learn type (int, str, bool, float). Options go only
  to converters that declare them, and where a converter declares the index option (nocl) without implementing it
  (ensembles of classifiers, calibration), the graph's label output is mapped to the class index by an ONNX
  LabelEncoder node appended to the graph (class_index_output).
- XGBoost and LightGBM estimators (XGB*/LGBM* Classifier/Regressor, also inside pipelines) convert through
  onnxmltools' converters when it is installed (register_boosting_converters), and are verified like the rest.
- Clusterers and outlier detectors answer integer labels (cluster number, 1/-1): the graph's int64 label output is
  served as integers, as scikit-learn's.
- Multi-output estimators (predict answering a matrix) are refused: the ONNX runtime serves one value per row.

Verification, on the example row plus generated rows within the training ranges (VERIFICATION_ROWS uniform ones,
the same rounded to 0-3 decimals as people type them, and for trees the split thresholds and their float32
neighbours), through the very OnnxRuntime code that serves the model: for every task the answers must have
scikit-learn's Python type (1 and 1.0 are different JSON); labels must be identical, probabilities within
PROBABILITY_TOLERANCE, regression values within PREDICTION_RTOL relative (float32 graphs cannot be bit-identical).

Where the generated rows come from (per numeric feature, first match wins):
1. the fitted model's own record of the training data, read from the step that sees the raw column: StandardScaler
   (mean ± 3 standard deviations), MinMaxScaler (data_min_..data_max_), RobustScaler (center ± 3 IQR), MaxAbsScaler
   (± max_abs_), the split thresholds of tree ensembles (their range widened by 10% on each side, so both sides of
   the outermost splits are exercised), HistGradientBoosting's bin thresholds (likewise);
2. otherwise around the example row: example ± 3 * (|example| / 2 + 1), the spread fastpath.verification_rows uses.
Categorical features draw uniformly from the manifest's categories.
"""

from __future__ import annotations

import functools
import hashlib
import importlib
import re
import traceback
import warnings
from dataclasses import dataclass
from importlib.metadata import version
from typing import Any, Literal

import numpy as np
import onnxruntime  # type: ignore[import-untyped]  # onnxruntime ships no type information
from onnx import ModelProto, TensorProto, helper
from predict_service.inputs import RowConverter
from predict_service.manifest import ModelManifest, OnnxArtifact, OnnxVerification
from predict_service.runtimes.onnx import OnnxRuntime, session_from_bytes
from skl2onnx import convert_sklearn  # type: ignore[import-untyped]
from skl2onnx._supported_operators import sklearn_operator_name_map  # type: ignore[import-untyped]
from skl2onnx.common._registration import get_converter  # type: ignore[import-untyped]
from skl2onnx.common.data_types import DoubleTensorType, FloatTensorType, StringTensorType  # type: ignore[import-untyped]
from skl2onnx.common.exceptions import MissingConverter, MissingShapeCalculator  # type: ignore[import-untyped]
from skl2onnx.sklapi import CastTransformer  # type: ignore[import-untyped]
from sklearn.pipeline import Pipeline

from .artifact import PackagingError, describe_estimator

VERIFICATION_ROWS = 4000
PROBABILITY_TOLERANCE = 1e-5
PREDICTION_RTOL = 1e-5
SEED = 0
# ONNX opset of the default domain; onnxruntime 1.2x executes it and skl2onnx 1.20 writes it.
TARGET_OPSET = 21

Precision = Literal["float64", "float32"]
# How many of the generated verification rows sit on (or one float32 step beside) a tree's split thresholds.
THRESHOLD_ROWS = 4000


@dataclass(frozen=True)
class GraphVariant:
    """One way to lay out the graph: the input float type and the float type tree-based steps compute in."""

    label: str
    inputs: Precision
    trees: Precision


GRAPH_VARIANTS = [
    GraphVariant("float64", inputs="float64", trees="float64"),
    GraphVariant("float64 with float32 trees", inputs="float64", trees="float32"),
    GraphVariant("float32", inputs="float32", trees="float32"),
]
SKLEARN_HINT = "nothing was written: package it without --runtime onnx to serve it with scikit-learn"


class OnnxExportError(PackagingError):
    """The model cannot be served by onnxruntime; the message names the step and what to do instead."""


@dataclass(frozen=True)
class OnnxExport:
    model_bytes: bytes
    artifact: OnnxArtifact


def final_estimator(model: Any) -> Any:
    steps = getattr(model, "steps", None)
    return steps[-1][1] if steps else model


def tree_members(estimator: Any) -> list[Any]:
    """The fitted trees of a tree or tree ensemble (forests, extra trees, gradient boosting); [] for anything else."""
    if hasattr(estimator, "tree_"):
        return [estimator]
    members = getattr(estimator, "estimators_", None)
    if members is None:
        return []
    return [tree for tree in np.ravel(np.asarray(members, dtype=object)) if hasattr(tree, "tree_")]


def with_float32_splits(model: Any, trees: Precision) -> Any:
    """`model` with its tree-based final step behind CastTransformer(float32) (and back to float64 when the trees run
    in float64), which is what scikit-learn does inside the trees; other models come back unchanged. Only for
    conversion: in scikit-learn the wrapped model predicts exactly as the original."""
    if tree_members(model):
        casts = [("to_float32", CastTransformer(dtype=np.float32))]
        if trees == "float64":
            casts.append(("to_float64", CastTransformer(dtype=np.float64)))
        return Pipeline([*casts, ("trees", model)])
    steps = getattr(model, "steps", None)
    if steps:
        last = steps[-1][1]
        wrapped = with_float32_splits(last, trees)
        if wrapped is not last:
            return Pipeline([*steps[:-1], (steps[-1][0], wrapped)])
    return model


def _class_name_in(message: str) -> str | None:
    # skl2onnx: "Unable to find a shape calculator for type '<class 'sklearn.svm._classes.NuSVC'>'."
    found = re.findall(r"<class '([\w.]+)'>", message)
    return found[-1].rsplit(".", 1)[-1] if found else None


def failing_step(error: BaseException, model: Any) -> str:
    """The scikit-learn class skl2onnx failed on: named in its message, else the deepest converter frame's
    `operator.raw_operator` (skl2onnx calls every converter as conv(scope, operator, container)), else the model."""
    named = _class_name_in(str(error))
    if named:
        return named
    raw_operator = None
    for frame, _ in traceback.walk_tb(error.__traceback__):
        candidate = getattr(frame.f_locals.get("operator"), "raw_operator", None)
        if candidate is not None:
            raw_operator = candidate
    if raw_operator is not None:
        return type(raw_operator).__name__
    return type(final_estimator(model)).__name__


def one_line(error: BaseException, limit: int = 200) -> str:
    """The first line of an error, cut short: skl2onnx and onnx put whole attribute arrays into their messages."""
    lines = str(error).strip().splitlines()
    text = " ".join(lines[0].split()) if lines else type(error).__name__
    # onnx's "Unable to create node 'X' with name='X' and attributes={...}" goes on with every tree's arrays.
    text = text.split(" and attributes=", 1)[0]
    return text if len(text) <= limit else text[: limit - 3] + "..."


# --- generated rows -------------------------------------------------------------------------------------------


def _tree_thresholds(estimator: Any, n_columns: int) -> tuple[np.ndarray, np.ndarray] | None:
    """Per-feature min/max split threshold over every tree of a tree or tree ensemble, or None."""
    per_feature = raw_thresholds(estimator, n_columns)
    low = np.array([values[0] if len(values) else np.nan for values in per_feature], dtype=np.float64)
    high = np.array([values[-1] if len(values) else np.nan for values in per_feature], dtype=np.float64)
    bin_mapper = getattr(estimator, "_bin_mapper", None)  # HistGradientBoosting*
    for column, thresholds in enumerate(getattr(bin_mapper, "bin_thresholds_", None) or []):
        if column < n_columns and len(thresholds):
            low[column], high[column] = np.nanmin(thresholds), np.nanmax(thresholds)
    if np.isnan(low).all():
        return None
    widen = (high - low) * 0.1 + 1e-3
    return low - widen, high + widen


def _step_ranges(step: Any, n_columns: int) -> tuple[np.ndarray, np.ndarray] | None:
    """(low, high) per input column of `step` from its fitted attributes; NaN where it does not say."""
    name = type(step).__name__
    if name == "StandardScaler" and getattr(step, "mean_", None) is not None:
        spread = 3 * (step.scale_ if step.scale_ is not None else np.sqrt(step.var_))
        return step.mean_ - spread, step.mean_ + spread
    if name == "MinMaxScaler":
        return step.data_min_, step.data_max_
    if name == "RobustScaler" and step.center_ is not None:
        spread = 3 * (step.scale_ if step.scale_ is not None else 1.0)
        return step.center_ - spread, step.center_ + spread
    if name == "MaxAbsScaler":
        return -step.max_abs_, step.max_abs_
    if name == "Pipeline":
        return _step_ranges(step.steps[0][1], n_columns)
    return _tree_thresholds(step, n_columns)


def training_ranges(model: Any, n_features: int) -> tuple[np.ndarray, np.ndarray]:
    """Per-feature (low, high) read from the step that sees the raw columns; NaN where the model does not say."""
    low, high = np.full(n_features, np.nan), np.full(n_features, np.nan)
    first = model.steps[0][1] if getattr(model, "steps", None) else model
    transformers = getattr(first, "transformers_", None)  # ColumnTransformer: each part sees some columns
    parts = (
        [(step, columns) for _, step, columns in transformers] if transformers else [(first, list(range(n_features)))]
    )
    for step, columns in parts:
        if isinstance(step, str) or isinstance(columns, slice):
            continue
        positions = np.atleast_1d(np.asarray(columns))
        if positions.dtype.kind not in "iu":  # columns selected by name: not the positional layout we serve
            continue
        try:
            found = _step_ranges(step, len(positions))
        except (AttributeError, TypeError, ValueError):
            found = None
        if found is not None:
            low[positions] = np.asarray(found[0], dtype=np.float64)[: len(positions)]
            high[positions] = np.asarray(found[1], dtype=np.float64)[: len(positions)]
    return low, high


def raw_thresholds(model: Any, n_features: int) -> list[np.ndarray]:
    """Per feature, the sorted distinct split thresholds of a tree or tree ensemble; empty for anything else. Used on
    the bare model: after a pipeline step, a tree's thresholds are in that step's output space, not the caller's."""
    thresholds: list[list[float]] = [[] for _ in range(n_features)]
    for tree in tree_members(model):
        split = tree.tree_.feature >= 0  # leaves have feature -2
        for feature, threshold in zip(tree.tree_.feature[split], tree.tree_.threshold[split], strict=True):
            if feature < n_features:
                thresholds[feature].append(float(threshold))
    return [np.unique(np.asarray(values, dtype=np.float64)) for values in thresholds]


def on_thresholds(thresholds: np.ndarray, rng: np.random.Generator, count: int) -> np.ndarray:
    """`count` values drawn from the thresholds, their float32 roundings and the float32 steps either side: where a
    float64 comparison and scikit-learn's float32 one part ways."""
    as_float32 = thresholds.astype(np.float32)
    candidates = np.concatenate(
        [
            thresholds,
            as_float32.astype(np.float64),
            np.nextafter(as_float32, np.float32(np.inf)).astype(np.float64),
            np.nextafter(as_float32, np.float32(-np.inf)).astype(np.float64),
            np.round(thresholds, 1),
            np.round(thresholds, 2),
        ]
    )
    return rng.choice(candidates, size=count)


def verification_rows(model: Any, manifest: ModelManifest, count: int = VERIFICATION_ROWS) -> list[list[Any]]:
    """The example row plus generated rows as JSON-like lists, the form requests arrive in: `count` uniform rows
    within the training ranges, the same rows rounded to 0-3 decimals (people send 5.1, not 5.0999999), and for a
    bare tree model THRESHOLD_ROWS rows whose values sit on or beside its split thresholds."""
    rng = np.random.default_rng(SEED)
    n_features = manifest.n_features
    low, high = training_ranges(model, n_features)
    thresholds = raw_thresholds(model, n_features)
    uniform: list[list[Any]] = []
    rounded: list[list[Any]] = []
    on_splits: list[list[Any]] = []
    decimals = rng.integers(0, 4, size=count)
    for index, feature in enumerate(manifest.features):
        if feature.type == "category":
            categories = np.asarray(feature.categories)
            for column in (uniform, rounded, on_splits):
                column.append(rng.choice(categories, size=count).tolist())
            continue
        if np.isfinite(low[index]) and np.isfinite(high[index]) and high[index] >= low[index]:
            lo, hi = float(low[index]), float(high[index])
        else:
            example = manifest.example[index]
            center = 0.0 if example is None else float(example)
            spread = 3 * (abs(center) / 2 + 1)
            lo, hi = center - spread, center + spread
        values = rng.uniform(lo, hi, size=count)
        uniform.append(values.tolist())
        rounded.append([round(float(value), int(places)) for value, places in zip(values, decimals, strict=True)])
        if len(thresholds[index]):
            on_splits.append(on_thresholds(thresholds[index], rng, count).tolist())
        else:
            on_splits.append(rng.uniform(lo, hi, size=count).tolist())
    rows: list[list[Any]] = [list(manifest.example)]
    rows.extend(list(values) for values in zip(*uniform, strict=True))
    rows.extend(list(values) for values in zip(*rounded, strict=True))
    if any(len(values) for values in thresholds):
        rows.extend(list(values) for values in zip(*on_splits, strict=True))
    return rows


# --- conversion and verification ----------------------------------------------------------------------------------


# What OnnxRuntime reads from a classifier's graph: the class index, and the probabilities as one matrix.
CLASSIFIER_OPTIONS: dict[str, object] = {"zipmap": False, "nocl": True}
# skl2onnx's words when a converter declares nocl but does not implement it (VotingClassifier,
# CalibratedClassifierCV, BaggingClassifier, AdaBoostClassifier, OneVsRestClassifier).
NOCL_NOT_IMPLEMENTED = "Option 'nocl' is not implemented"
LABEL_ENCODER_ML_OPSET = 2
# The estimators onnxmltools converts, by the skl2onnx alias they are registered under: (module, class).
BOOSTING_ESTIMATORS = {
    "XGBoostXGBClassifier": ("xgboost", "XGBClassifier"),
    "XGBoostXGBRegressor": ("xgboost", "XGBRegressor"),
    "LightGbmLGBMClassifier": ("lightgbm", "LGBMClassifier"),
    "LightGbmLGBMRegressor": ("lightgbm", "LGBMRegressor"),
}
# Classifier converters whose label output is the class itself, never the index (onnxmltools').
LABEL_OUTPUT_ALIASES = {alias for alias, (_, name) in BOOSTING_ESTIMATORS.items() if name.endswith("Classifier")}


def declared_options(estimator: Any) -> set[str]:
    """The options skl2onnx's converter for `estimator` declares (passing any other one is an error); none when
    skl2onnx has no converter for it (conversion then names the missing converter)."""
    alias = sklearn_operator_name_map.get(type(estimator))
    if alias is None:
        return set()
    try:
        allowed = get_converter(alias).get_allowed_options()
    except (KeyError, ValueError, AttributeError):
        return set()
    return set(allowed or {})


def class_index_output(onnx_model: ModelProto, classes: list[Any]) -> ModelProto:
    """The graph with its label output (the class itself) turned into the class index OnnxRuntime expects, by an
    ai.onnx.ml LabelEncoder appended to the graph; an unknown label maps to -1, which verification catches."""
    graph = onnx_model.graph
    label = graph.output[0]
    produced = f"{label.name}_class"
    for node in graph.node:
        for names in (node.output, node.input):
            for position, name in enumerate(names):
                if name == label.name:
                    names[position] = produced
    indexes = list(range(len(classes)))
    if label.type.tensor_type.elem_type == TensorProto.STRING:
        keys: dict[str, Any] = {"keys_strings": [str(value) for value in classes]}
    elif label.type.tensor_type.elem_type in (TensorProto.FLOAT, TensorProto.DOUBLE):
        keys = {"keys_floats": [float(value) for value in classes]}
    else:
        keys = {"keys_int64s": [int(value) for value in classes]}
    graph.node.append(
        helper.make_node(
            "LabelEncoder",
            [produced],
            [label.name],
            name="class_index",
            domain="ai.onnx.ml",
            values_int64s=indexes,
            default_int64=-1,
            **keys,
        )
    )
    label.type.tensor_type.elem_type = TensorProto.INT64
    # LabelEncoder takes int64 and float keys from ai.onnx.ml opset 2 on; a graph without other ML operators
    # imports opset 1.
    for opset in onnx_model.opset_import:
        if opset.domain == "ai.onnx.ml":
            opset.version = max(opset.version, LABEL_ENCODER_ML_OPSET)
            break
    else:
        onnx_model.opset_import.append(helper.make_opsetid("ai.onnx.ml", LABEL_ENCODER_ML_OPSET))
    return onnx_model


@functools.cache
def register_boosting_converters() -> None:
    """XGBoost and LightGBM estimators through onnxmltools' converters, registered with skl2onnx so they convert
    inside pipelines too. Without onnxmltools (or the library) nothing is registered and conversion refuses them as
    having no converter. Their converters answer the class label whatever nocl says (LABEL_OUTPUT_ALIASES), so
    class_index_output maps it to the index."""
    try:
        from onnxmltools.convert.lightgbm.operator_converters.LightGbm import (  # type: ignore[import-untyped]
            convert_lightgbm,
        )
        from onnxmltools.convert.xgboost.operator_converters.XGBoost import (  # type: ignore[import-untyped]
            convert_xgboost,
        )
        from skl2onnx import update_registered_converter
        from skl2onnx.common.shape_calculator import (  # type: ignore[import-untyped]
            calculate_linear_classifier_output_shapes,
            calculate_linear_regressor_output_shapes,
        )
    except ImportError:
        return
    converters = {"xgboost": convert_xgboost, "lightgbm": convert_lightgbm}
    # skl2onnx's classifier shape calculator reads nocl, so it must be declared; the converters ignore it.
    classifier_options = {"zipmap": [True, False, "columns"], "nocl": [False, True]}
    for alias, (module_name, class_name) in BOOSTING_ESTIMATORS.items():
        try:
            estimator_class = getattr(importlib.import_module(module_name), class_name)
        except ImportError:
            continue
        classifier = alias in LABEL_OUTPUT_ALIASES
        update_registered_converter(
            estimator_class,
            alias,
            calculate_linear_classifier_output_shapes if classifier else calculate_linear_regressor_output_shapes,
            converters[module_name],
            options=classifier_options if classifier else None,
        )


def convert(model: Any, manifest: ModelManifest, variant: GraphVariant) -> bytes:
    """skl2onnx conversion with the input layout and output options OnnxRuntime expects (see module docstring)."""
    number_type = DoubleTensorType if variant.inputs == "float64" else FloatTensorType
    if all(feature.type == "number" for feature in manifest.features):
        initial_types: list[tuple[str, Any]] = [("X", number_type([None, manifest.n_features]))]
    else:
        initial_types = [
            (f"x{index}", number_type([None, 1]) if feature.type == "number" else StringTensorType([None, 1]))
            for index, feature in enumerate(manifest.features)
        ]
    register_boosting_converters()
    wanted: dict[str, object] = {}
    estimator = final_estimator(model)
    answers_labels = sklearn_operator_name_map.get(type(estimator)) in LABEL_OUTPUT_ALIASES
    declared = declared_options(estimator) - ({"nocl"} if answers_labels else set())
    if manifest.task == "classification":
        wanted = {name: value for name, value in CLASSIFIER_OPTIONS.items() if name in declared}

    def run(options: dict[str, object]) -> ModelProto:
        with warnings.catch_warnings():
            # skl2onnx and onnx emit deprecation and conversion notices that say nothing about this model.
            warnings.simplefilter("ignore")
            converted: ModelProto = convert_sklearn(
                with_float32_splits(model, variant.trees),
                initial_types=initial_types,
                # Keyed by the classifier object itself, which the float32 wrapping keeps (it only adds casts).
                options={id(final_estimator(model)): options} if options else None,
                target_opset={"": TARGET_OPSET, "ai.onnx.ml": 3},
            )
        return converted

    classes = list(manifest.classes or [])
    try:
        onnx_model = run(wanted)
    except RuntimeError as error:
        if NOCL_NOT_IMPLEMENTED not in str(error) or not wanted.get("nocl"):
            raise
        without_index = {name: value for name, value in wanted.items() if name != "nocl"}
        onnx_model = class_index_output(run(without_index), classes)
    else:
        if manifest.task == "classification" and "nocl" not in declared:
            onnx_model = class_index_output(onnx_model, classes)
    model_bytes: bytes = onnx_model.SerializeToString()
    return model_bytes


def sklearn_outputs(model: Any, features: np.ndarray, manifest: ModelManifest) -> tuple[list[Any], np.ndarray | None]:
    with warnings.catch_warnings():
        # Models fitted on a DataFrame warn about plain arrays; the columns are already in the manifest's order.
        warnings.filterwarnings("ignore", message="X does not have valid feature names")
        labels = model.predict(features).tolist()
        matrix = np.asarray(model.predict_proba(features), dtype=np.float64) if manifest.has_predict_proba else None
    return labels, matrix


def verify(model: Any, manifest: ModelManifest, model_bytes: bytes) -> OnnxVerification:
    """Compare the ONNX graph, run by the serving code, with scikit-learn on the verification rows."""
    onnx_runtime = OnnxRuntime(session_from_bytes(model_bytes), manifest)
    features = onnx_runtime.rows.to_array(verification_rows(model, manifest), "instances")
    expected_labels, expected_matrix = sklearn_outputs(model, features, manifest)
    label_array, matrix = onnx_runtime.raw_predict(features, manifest.has_predict_proba)
    labels = label_array.tolist()
    # Type too, for every task: 1 and True, or 5 and 5.0, are equal in Python but different JSON.
    wrong_type = [type(got) is not type(want) for got, want in zip(labels, expected_labels, strict=True)]
    if manifest.task == "classification":
        mismatches = sum(
            different or got != want for different, got, want in zip(wrong_type, labels, expected_labels, strict=True)
        )
        max_probability = None
        if expected_matrix is not None and matrix is not None:
            max_probability = float(np.max(np.abs(np.asarray(matrix) - expected_matrix)))
        return OnnxVerification(
            rows=len(labels), label_mismatches=mismatches, max_probability_difference=max_probability
        )
    got, want = np.asarray(labels, dtype=np.float64), np.asarray(expected_labels, dtype=np.float64)
    difference = np.abs(got - want)
    outside = ~(difference <= PREDICTION_RTOL * np.maximum(1.0, np.abs(want)))
    mismatches = int(np.count_nonzero(outside | np.asarray(wrong_type)))
    return OnnxVerification(
        rows=len(labels), label_mismatches=mismatches, max_prediction_difference=float(np.max(difference))
    )


def problems_with(verification: OnnxVerification) -> str | None:
    if verification.label_mismatches:
        what = "labels" if verification.max_prediction_difference is None else "predictions"
        return (
            f"{what} differ from scikit-learn's on {verification.label_mismatches} of {verification.rows} "
            f"verification rows"
        )
    if (verification.max_probability_difference or 0.0) > PROBABILITY_TOLERANCE:
        return (
            f"probabilities differ from scikit-learn's by up to {verification.max_probability_difference:.2e} "
            f"(tolerance {PROBABILITY_TOLERANCE:.0e})"
        )
    return None


def refuse_unconvertible_features(manifest: ModelManifest) -> None:
    """The ONNX runtime takes numbers (a float tensor) and known categories (string tensors), verified on generated
    rows without missing values: text, categories without known values and nullable features are refused here, in
    one line, before any conversion."""
    for feature in manifest.features:
        if feature.type == "text":
            problem = "is a text feature, which the ONNX runtime does not take"
        elif feature.type == "category" and not feature.categories:
            problem = "is a category with no known values, on which the ONNX graph cannot be verified"
        elif feature.nullable:
            problem = "accepts missing values, and the ONNX graph is not verified with missing values"
        else:
            continue
        raise OnnxExportError(f"{feature.name} {problem}; {SKLEARN_HINT}")


def refuse_multi_output(model: Any, manifest: ModelManifest) -> None:
    """OnnxRuntime serves one value per row; a model whose predict answers a matrix (several targets, or a single
    target fitted as a column) is refused before any conversion."""
    row = RowConverter(manifest.features, manifest.input_layout).to_array([manifest.example], "features")
    labels, _ = sklearn_outputs(model, row, manifest.model_copy(update={"has_predict_proba": False}))
    shape = np.shape(labels)
    if len(shape) > 1:
        raise OnnxExportError(
            f"{describe_estimator(model)} predicts {shape[1]} value(s) per row as a matrix (a multi-output model), "
            f"and the ONNX runtime serves one value per row; {SKLEARN_HINT}"
        )


def export_onnx(model: Any, manifest: ModelManifest) -> OnnxExport:
    """model.onnx bytes and their manifest entry, or OnnxExportError naming the step that cannot be served."""
    refuse_unconvertible_features(manifest)
    refuse_multi_output(model, manifest)
    has_trees = bool(tree_members(final_estimator(model)))
    variants = [variant for variant in GRAPH_VARIANTS if has_trees or variant.inputs == variant.trees]
    failures: list[str] = []
    for variant in variants:
        try:
            model_bytes = convert(model, manifest, variant)
        except (MissingShapeCalculator, MissingConverter) as error:
            # No converter at all: another precision cannot help.
            raise OnnxExportError(
                f"skl2onnx has no ONNX converter for {failing_step(error, model)} (in {describe_estimator(model)}); "
                f"{SKLEARN_HINT}"
            ) from error
        except Exception as error:
            failures.append(f"{variant.label}: conversion failed at {failing_step(error, model)}: {one_line(error)}")
            continue
        try:
            verification = verify(model, manifest, model_bytes)
        except Exception as error:
            # Typically onnxruntime refusing a float64 graph whose converter emits float32 outputs.
            failures.append(f"{variant.label}: onnxruntime cannot run the graph: {one_line(error)}")
            continue
        problem = problems_with(verification)
        if problem is not None:
            failures.append(f"{variant.label}: {problem}")
            continue
        artifact = OnnxArtifact(
            sha256=hashlib.sha256(model_bytes).hexdigest(),
            onnxruntime=onnxruntime.__version__,
            skl2onnx=version("skl2onnx"),
            precision=variant.inputs,
            verification=verification,
        )
        return OnnxExport(model_bytes, artifact)
    # The same failure in every layout is one failure: say it once.
    reasons = list(dict.fromkeys(reason.split(": ", 1)[1] for reason in failures))
    said = reasons[0] if len(reasons) == 1 else "; ".join(failures)
    raise OnnxExportError(f"{describe_estimator(model)} cannot be served by onnxruntime: {said}; {SKLEARN_HINT}")
