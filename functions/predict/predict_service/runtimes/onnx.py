"""The ONNX runtime: runs model.onnx with onnxruntime.

Imports only numpy and onnxruntime (plus our own modules that need neither scikit-learn nor scipy): the ONNX layer
ships without them, and not importing them is most of the cold-start saving. The graph was produced and checked
against the scikit-learn model by `sklambda package/train --runtime onnx` (sklambda.onnx_export), which fixes the
graph's interface that this module relies on:

- inputs: one float tensor [N, n_features] when every feature is numeric; otherwise one [N, 1] tensor per feature
  in feature order (float for numbers, string for categories and texts), because an ONNX tensor holds a single
  type; a text model (input layout "text") takes its strings as one [N, 1] string tensor. A null reaches a float
  input as NaN; a string input has no missing value, so nullable categories are refused at load;
- outputs, classifiers: the class *index* (skl2onnx option nocl) then, when there is predict_proba, the
  probability matrix (zipmap=False). Indexes are mapped to the manifest's classes here, so labels keep the type
  they have in scikit-learn (int, str, bool, float) whatever ONNX can store;
- outputs, regressors: the predicted values, [N] or [N, 1]; clusterers and outlier detectors: their int64
  labels (cluster number, 1/-1), served as integers as scikit-learn answers them.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, Self

import numpy as np
import onnxruntime  # type: ignore[import-untyped]  # onnxruntime ships no type information

from ..errors import ModelLoadError
from ..manifest import ModelManifest, ShippedFile
from . import ONNX_FILENAME, runtime_spec
from .base import ModelRuntimeBase

FLOAT_TYPES: dict[str, type[np.floating[Any]]] = {"tensor(double)": np.float64, "tensor(float)": np.float32}
STRING_TYPE = "tensor(string)"
# onnxruntime's own warnings (e.g. about unused initializers) go to stderr, not through logging: errors only.
ORT_LOG_SEVERITY_ERROR = 3

Feeds = Callable[[np.ndarray], dict[str, np.ndarray]]


def session_from_bytes(model_bytes: bytes) -> onnxruntime.InferenceSession:
    """One session per process. A single intra-op thread: requests are one row or a small batch, for which
    onnxruntime's thread pool costs more (start-up at cold start, hand-offs per call) than it saves, and a Lambda
    function at the usual memory sizes has one or two vCPUs anyway."""
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.log_severity_level = ORT_LOG_SEVERITY_ERROR
    return onnxruntime.InferenceSession(model_bytes, sess_options=options, providers=["CPUExecutionProvider"])


def _feeds_for(session: onnxruntime.InferenceSession, manifest: ModelManifest) -> Feeds:
    """How validated rows become the graph's inputs; refuses a graph whose inputs do not fit the manifest."""
    inputs = session.get_inputs()
    n_features = manifest.n_features
    missing_strings = [f.name for f in manifest.features if f.type != "number" and f.nullable]
    if missing_strings:
        raise ModelLoadError.missing_strings_unsupported(ONNX_FILENAME, missing_strings)
    if manifest.input_layout == "text" and len(inputs) == 1 and inputs[0].type == STRING_TYPE:
        text_name = inputs[0].name

        def one_text_column(texts: np.ndarray) -> dict[str, np.ndarray]:
            # The converter gives a text model a 1-D array of strings; the graph takes them as one column.
            return {text_name: texts.reshape(-1, 1)}

        return one_text_column
    if len(inputs) == 1 and inputs[0].type in FLOAT_TYPES and all(f.type == "number" for f in manifest.features):
        name, dtype = inputs[0].name, FLOAT_TYPES[inputs[0].type]

        def one_matrix(features: np.ndarray) -> dict[str, np.ndarray]:
            return {name: features.astype(dtype, copy=False)}

        return one_matrix
    allowed = [set(FLOAT_TYPES) if feature.type == "number" else {STRING_TYPE} for feature in manifest.features]
    if len(inputs) != n_features or any(node.type not in ok for node, ok in zip(inputs, allowed, strict=True)):
        raise ModelLoadError.graph_mismatch(
            ONNX_FILENAME,
            "inputs",
            [f"{node.name} ({node.type})" for node in inputs],
            f"the manifest's {n_features} features",
        )
    columns = [(node.name, FLOAT_TYPES.get(node.type, object)) for node in inputs]

    def per_feature(features: np.ndarray) -> dict[str, np.ndarray]:
        return {name: features[:, [index]].astype(dtype) for index, (name, dtype) in enumerate(columns)}

    return per_feature


class OnnxRuntime(ModelRuntimeBase):
    """A verified, warmed-up ONNX session plus everything per-request work needs, computed once."""

    name = "onnx"

    def __init__(self, session: onnxruntime.InferenceSession, manifest: ModelManifest) -> None:
        super().__init__(manifest)
        self.session = session
        # The manifest's classes came through JSON as Python values; as an array they keep that type on the way
        # out (take -> tolist), exactly as scikit-learn's classes_.take(...) does.
        self.classes = np.asarray(manifest.classes) if manifest.task == "classification" else None
        self._feeds = _feeds_for(session, manifest)
        outputs = [node.name for node in session.get_outputs()]
        wanted = 2 if manifest.has_predict_proba else 1
        if len(outputs) < wanted:
            probabilities = "with" if manifest.has_predict_proba else "without"
            raise ModelLoadError.graph_mismatch(
                ONNX_FILENAME, "outputs", outputs, f"a {manifest.task} model {probabilities} probabilities ({wanted})"
            )
        self._label_output = outputs[0]
        self._probability_output = outputs[1] if manifest.has_predict_proba else None

    @classmethod
    def model_file(cls, manifest: ModelManifest, model_dir: Path) -> ShippedFile:
        if manifest.onnx is None:
            held = runtime_spec(manifest.runtime)
            raise ModelLoadError.other_runtime(model_dir, (held.name, held.title), (cls.name, cls.spec().title))
        return super().model_file(manifest, model_dir)

    @classmethod
    def check_versions(cls, manifest: ModelManifest) -> None:
        # The graph's agreement with scikit-learn was measured with that onnxruntime; another one may compute
        # differently (operator implementations change), so the figures in the manifest would not hold.
        checked_with = manifest.onnx.onnxruntime if manifest.onnx else ""
        if checked_with != onnxruntime.__version__:
            raise ModelLoadError.version_mismatch(
                "onnxruntime",
                "exported and verified with",
                checked_with,
                onnxruntime.__version__,
                "re-package it",
                cls.spec().requirements,
            )

    @classmethod
    def from_bytes(cls, model_bytes: bytes, model_path: Path, manifest: ModelManifest) -> Self:
        try:
            session = session_from_bytes(model_bytes)
        except Exception as error:
            raise ModelLoadError.unreadable(model_path, "onnxruntime", error) from error
        return cls(session, manifest)

    def raw_predict(self, features: np.ndarray, with_probabilities: bool) -> tuple[np.ndarray, np.ndarray | None]:
        """Labels and probability rows as arrays, unchecked (the packaging-time verification compares these)."""
        with_probabilities = with_probabilities and self._probability_output is not None
        names = [self._label_output, self._probability_output] if with_probabilities else [self._label_output]
        # Casting a finite 1e308 to float32 overflows to inf, as scikit-learn's trees do when they cast; the
        # outputs are checked for finiteness afterwards, so numpy's overflow warning is noise here.
        with np.errstate(all="ignore"):
            outputs = self.session.run(names, self._feeds(features))
        first = np.asarray(outputs[0]).reshape(-1)
        if self.classes is not None:
            labels = self.classes.take(first.astype(np.intp, copy=False))
        elif first.dtype.kind in "iu":
            # Clusterers and outlier detectors answer int64 labels (cluster number, 1/-1), as scikit-learn does.
            labels = first
        else:
            labels = first.astype(np.float64, copy=False)
        matrix = np.asarray(outputs[1], dtype=np.float64) if with_probabilities else None
        return labels, matrix
