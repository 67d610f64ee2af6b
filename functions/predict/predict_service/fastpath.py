"""Verified shortcuts around scikit-learn's per-call overhead for the most common small models.

For a one-row request, scikit-learn spends most of `predict` re-validating its input (dtype and namespace
checks, `check_is_fitted`, dataframe detection) rather than computing. The runtime has already validated the
rows, so for a few estimator shapes we compute the same arithmetic directly from the fitted attributes:

- Pipeline steps: StandardScaler, MinMaxScaler (dense).
- Final step: a linear classifier that uses LinearClassifierMixin's own predict and decision_function
  (LogisticRegression, SGDClassifier, LinearSVC, ...; not RidgeClassifier, which overrides predict), with
  LogisticRegression's own predict_proba (expit for two classes, softmax otherwise), or a
  single-output RandomForestClassifier / ExtraTreesClassifier (per-tree predict_proba, summed in estimator order
  as scikit-learn does when it runs sequentially). Regressors are not shortcut: scikit-learn 1.9 overrides
  predict in its linear regressors.

A shortcut is only used after it reproduced `model.predict` exactly on the example row and on generated rows
around it (see `build_verified_fast_predictor`); anything else uses scikit-learn itself.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from typing import Any

import numpy as np

logger = logging.getLogger(__name__)

Array = np.ndarray


def loaded_class(module: str, name: str) -> Any:
    """The class if its module is already imported, else None. Unpickling imported every module the model
    uses, so a class whose module is not loaded cannot be in the model, and importing it would only add cold-start
    time (scikit-learn's ensemble module alone costs about 0.1 s)."""
    return getattr(sys.modules.get(module), name, None)


Transform = Callable[[Array], Array]
VERIFICATION_ROWS = 512


class FastPredictor:
    def __init__(
        self,
        transforms: list[Transform],
        predict: Callable[[Array], Array],
        predict_proba: Callable[[Array], Array] | None,
        description: str,
    ) -> None:
        self._transforms = transforms
        self._predict = predict
        self._predict_proba = predict_proba
        self.description = description
        self.has_predict_proba = predict_proba is not None

    def _prepare(self, features: Array) -> Array:
        for transform in self._transforms:
            features = transform(features)
        return features

    def predict(self, features: Array) -> Array:
        return self._predict(self._prepare(features))

    def predict_proba(self, features: Array) -> Array:
        assert self._predict_proba is not None
        return self._predict_proba(self._prepare(features))


def _standard_scaler(step: Any) -> Transform | None:
    mean = step.mean_ if step.with_mean else None
    scale = step.scale_ if step.with_std else None

    def transform(features: Array) -> Array:
        # Same operations and order as StandardScaler.transform: subtract, then divide.
        if mean is not None:
            features = features - mean
        if scale is not None:
            features = features / scale
        return features

    return transform


def _min_max_scaler(step: Any) -> Transform | None:
    if step.clip:
        return None
    scale, offset = step.scale_, step.min_

    def transform(features: Array) -> Array:
        features = features * scale
        features += offset
        return features

    return transform


def _linear_classifier(model: Any) -> tuple[Callable[[Array], Array], Callable[[Array], Array] | None] | None:
    mixin = loaded_class("sklearn.linear_model._base", "LinearClassifierMixin")
    cls = type(model)
    if mixin is None or not isinstance(model, mixin):
        return None
    if cls.predict is not mixin.predict or cls.decision_function is not mixin.decision_function:
        return None
    coef_t = model.coef_.T if model.coef_.ndim == 2 else model.coef_
    intercept, classes = model.intercept_, model.classes_

    def decision_function(features: Array) -> Array:
        scores = features @ coef_t + intercept
        if scores.ndim > 1 and scores.shape[1] == 1:
            scores = scores.reshape(-1)
        return scores  # type: ignore[no-any-return]

    def predict(features: Array) -> Array:
        scores = decision_function(features)
        indices = (scores > 0).astype(np.intp) if scores.ndim == 1 else scores.argmax(axis=1)
        return classes.take(indices, axis=0)  # type: ignore[no-any-return]

    logistic = loaded_class("sklearn.linear_model._logistic", "LogisticRegression")
    if logistic is None or getattr(cls, "predict_proba", None) is not logistic.predict_proba:
        return predict, None
    # scikit-learn's own expit (through its array-API wrapper) for two classes; imported by the model's module.
    special = sys.modules.get("scipy.special")
    if special is None:
        return predict, None

    def predict_proba(features: Array) -> Array:
        # LogisticRegression.predict_proba's arithmetic, in its order: expit, or softmax with the row maximum
        # subtracted first, in place as sklearn.utils.extmath.softmax does.
        scores = decision_function(features)
        if scores.ndim == 1:
            positive: Array = special.expit(scores)
            return np.stack([1 - positive, positive], axis=1)
        shifted: Array = scores - scores.max(axis=1).reshape(-1, 1)
        np.exp(shifted, out=shifted)
        shifted /= shifted.sum(axis=1).reshape(-1, 1)
        return shifted

    return predict, predict_proba


def _forest_classifier(model: Any) -> tuple[Callable[[Array], Array], Callable[[Array], Array]] | None:
    forests = {loaded_class("sklearn.ensemble._forest", name) for name in FOREST_CLASSIFIERS} - {None}
    if type(model) not in forests or model.n_outputs_ != 1:
        return None
    trees = list(model.estimators_)
    classes, n_classes = model.classes_, int(model.n_classes_)

    def predict_proba(features: Array) -> Array:
        # Trees read float32, C-ordered input (what the forest's own input check would produce).
        as_float32 = np.ascontiguousarray(features, dtype=np.float32)
        total = np.zeros((as_float32.shape[0], n_classes), dtype=np.float64)
        for tree in trees:
            total += tree.predict_proba(as_float32, check_input=False)
        total /= len(trees)
        return total

    def predict(features: Array) -> Array:
        return classes.take(np.argmax(predict_proba(features), axis=1), axis=0)  # type: ignore[no-any-return]

    return predict, predict_proba


FOREST_CLASSIFIERS = ("RandomForestClassifier", "ExtraTreesClassifier")
TRANSFORMS: dict[str, Callable[[Any], Transform | None]] = {
    "StandardScaler": _standard_scaler,
    "MinMaxScaler": _min_max_scaler,
}
FINAL_STEPS: list[Callable[[Any], tuple[Callable[[Array], Array], Callable[[Array], Array] | None] | None]] = [
    _linear_classifier,
    _forest_classifier,
]


def build_fast_predictor(model: Any) -> FastPredictor | None:
    pipeline = loaded_class("sklearn.pipeline", "Pipeline")
    steps = [step for _, step in model.steps] if pipeline is not None and type(model) is pipeline else [model]
    steps = [step for step in steps if step != "passthrough" and step is not None]
    transforms: list[Transform] = []
    for step in steps[:-1]:
        make = TRANSFORMS.get(type(step).__name__)
        is_scikit_learn_class = type(step) is loaded_class("sklearn.preprocessing._data", type(step).__name__)
        transform = make(step) if make and is_scikit_learn_class else None
        if transform is None:
            return None
        transforms.append(transform)
    for make_final in FINAL_STEPS:
        final = make_final(steps[-1])
        if final is not None:
            names = ", ".join(type(step).__name__ for step in steps)
            return FastPredictor(transforms, final[0], final[1], names)
    return None


def verification_rows(example: Array, rows: int = VERIFICATION_ROWS, seed: int = 0) -> Array:
    """The example row plus rows scattered around it, on scales from its own magnitude."""
    rng = np.random.default_rng(seed)
    spread = np.abs(example) * 0.5 + 1.0
    return np.vstack([example[None, :], example + rng.normal(size=(rows, example.shape[0])) * spread])


def build_verified_fast_predictor(model: Any, example: Array) -> FastPredictor | None:
    """A shortcut only when it reproduces model.predict (and predict_proba) on the verification rows."""
    if example.dtype != np.float64:
        return None
    try:
        fast = build_fast_predictor(model)
    except AttributeError:
        return None
    if fast is None:
        return None
    rows = verification_rows(example[0])
    if not np.array_equal(fast.predict(rows), model.predict(rows)):
        logger.warning("fast path disabled: it disagreed with model.predict", extra={"estimator": fast.description})
        return None
    if fast.has_predict_proba and not np.array_equal(fast.predict_proba(rows), model.predict_proba(rows)):
        logger.warning("fast path disabled: it disagreed with predict_proba", extra={"estimator": fast.description})
        return None
    return fast
