"""The ONNX model runtime: runs model.onnx with onnxruntime. Same interface as runtime.ModelRuntime.

Imports only numpy and onnxruntime (plus our own modules that need neither scikit-learn nor scipy): the ONNX layer
ships without them, and not importing them is most of the cold-start saving. The graph was produced and checked
against the scikit-learn model by `sklambda package/train --runtime onnx` (sklambda.onnx_export), which fixes the
graph's interface that this module relies on:

- inputs: one float tensor [N, n_features] when every feature is numeric; otherwise one [N, 1] tensor per feature
  in feature order (float for numbers, string for categories), because an ONNX tensor holds a single type;
- outputs, classifiers: the class *index* (skl2onnx option nocl) then, when there is predict_proba, the
  probability matrix (zipmap=False). Indexes are mapped to the manifest's classes here, so labels keep the type
  they have in scikit-learn (int, str, bool, float) whatever ONNX can store;
- outputs, regressors: the predicted values, [N] or [N, 1]; clusterers and outlier detectors: their int64
  labels (cluster number, 1/-1), served as integers as scikit-learn answers them.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime  # type: ignore[import-untyped]  # onnxruntime ships no type information

from .errors import ModelLoadError
from .inputs import RowConverter
from .manifest import ONNX_FILENAME, ModelManifest
from .predictions import Predictions, finite_predictions, open_model_dir, verify_sha256, warm_up

logger = logging.getLogger(__name__)

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
    if len(inputs) == 1 and inputs[0].type in FLOAT_TYPES and all(f.type == "number" for f in manifest.features):
        name, dtype = inputs[0].name, FLOAT_TYPES[inputs[0].type]

        def one_matrix(features: np.ndarray) -> dict[str, np.ndarray]:
            return {name: features.astype(dtype, copy=False)}

        return one_matrix
    allowed = [set(FLOAT_TYPES) if feature.type == "number" else {STRING_TYPE} for feature in manifest.features]
    if len(inputs) != n_features or any(node.type not in ok for node, ok in zip(inputs, allowed, strict=True)):
        raise ModelLoadError(
            f"{ONNX_FILENAME} takes inputs {[(node.name, node.type) for node in inputs]}, which do not fit the "
            f"manifest's {n_features} features; re-package the model with `sklambda package --runtime onnx`",
            {"inputs": [node.name for node in inputs]},
        )
    columns = [(node.name, FLOAT_TYPES.get(node.type, object)) for node in inputs]

    def per_feature(features: np.ndarray) -> dict[str, np.ndarray]:
        return {name: features[:, [index]].astype(dtype) for index, (name, dtype) in enumerate(columns)}

    return per_feature


class OnnxRuntime:
    """A verified, warmed-up ONNX session plus everything per-request work needs, computed once."""

    def __init__(self, session: onnxruntime.InferenceSession, manifest: ModelManifest) -> None:
        self.session = session
        self.manifest = manifest
        self.rows = RowConverter(manifest.features)
        self.class_keys = [str(label) for label in manifest.classes or []]
        # The manifest's classes came through JSON as Python values; as an array they keep that type on the way
        # out (take -> tolist), exactly as scikit-learn's classes_.take(...) does.
        self.classes = np.asarray(manifest.classes) if manifest.classes else None
        self._feeds = _feeds_for(session, manifest)
        outputs = [node.name for node in session.get_outputs()]
        wanted = 2 if manifest.has_predict_proba else 1
        if len(outputs) < wanted:
            raise ModelLoadError(
                f"{ONNX_FILENAME} has outputs {outputs}; a {manifest.task} model "
                f"{'with' if manifest.has_predict_proba else 'without'} probabilities needs {wanted}",
                {"outputs": outputs},
            )
        self._label_output = outputs[0]
        self._probability_output = outputs[1] if manifest.has_predict_proba else None

    @classmethod
    def load(cls, model_dir: Path, manifest: ModelManifest | None = None) -> OnnxRuntime:
        """Verify the sha256 of model.onnx and the onnxruntime version, then load and warm up on the example row.
        `manifest`: the directory's model.json when the caller has already read it."""
        started = time.perf_counter()
        manifest = manifest or open_model_dir(model_dir)
        if manifest.onnx is None:
            raise ModelLoadError(
                f"{model_dir} holds a scikit-learn model (runtime {manifest.runtime!r}), not an ONNX one: re-package "
                f"it with `sklambda package MODEL.joblib --runtime onnx`, or serve it with the scikit-learn layer",
                {"model_dir": str(model_dir), "runtime": manifest.runtime},
            )
        model_path = model_dir / ONNX_FILENAME
        if not model_path.is_file():
            raise ModelLoadError(
                f"No {ONNX_FILENAME} in {model_dir} (model.json is there and names the onnx runtime): copy the file "
                f"that was packaged, or re-create the directory with `sklambda package MODEL.joblib --runtime onnx`",
                {"model_dir": str(model_dir)},
            )
        # Hash the very bytes that are then loaded: the file cannot change between the check and the load.
        model_bytes = model_path.read_bytes()
        verify_sha256(model_path, hashlib.sha256(model_bytes).hexdigest(), manifest.onnx.sha256, "load")
        checked_with = manifest.onnx.onnxruntime
        if checked_with != onnxruntime.__version__:
            # The graph's agreement with scikit-learn was measured with that onnxruntime; another one may compute
            # differently (operator implementations change), so the figures in the manifest would not hold.
            raise ModelLoadError(
                f"Model was exported and verified with onnxruntime {checked_with} but onnxruntime "
                f"{onnxruntime.__version__} is installed: re-package it with onnxruntime {onnxruntime.__version__}, "
                f"or pin onnxruntime=={checked_with} in layers/model/requirements-onnx.txt and requirements-dev.txt",
                {"model_onnxruntime": checked_with, "installed_onnxruntime": onnxruntime.__version__},
            )
        try:
            session = session_from_bytes(model_bytes)
        except Exception as error:
            raise ModelLoadError(
                f"onnxruntime could not load {model_path}: {type(error).__name__}: {error}",
                {"model_dir": str(model_dir)},
            ) from error
        runtime = cls(session, manifest)
        warm_up(runtime)
        logger.info(
            "model loaded",
            extra={
                "model_name": manifest.name,
                "model_version": manifest.version,
                "runtime": "onnx",
                "load_ms": round((time.perf_counter() - started) * 1000, 1),
            },
        )
        return runtime

    def predict(self, features: np.ndarray, with_probabilities: bool) -> Predictions:
        """Predict on rows already validated by `self.rows` (finite, right width, right types)."""
        labels, matrix = self.raw_predict(features, with_probabilities)
        return finite_predictions(labels, matrix, self.class_keys)

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
            labels = first
        else:
            labels = first.astype(np.float64, copy=False)
        matrix = np.asarray(outputs[1], dtype=np.float64) if with_probabilities else None
        return labels, matrix
