"""The verified shortcuts must give exactly what scikit-learn gives, and step aside for anything else."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from predict_service.fastpath import build_fast_predictor, build_verified_fast_predictor
from predict_service.manifest import FeatureSpec
from predict_service.runtimes.sklearn import SklearnRuntime
from sklearn.datasets import load_diabetes, load_iris, make_classification
from sklearn.ensemble import ExtraTreesClassifier, GradientBoostingClassifier, RandomForestClassifier
from sklearn.linear_model import LinearRegression, LogisticRegression, Ridge, RidgeClassifier, SGDClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import MinMaxScaler, PolynomialFeatures, StandardScaler
from sklearn.svm import SVC, LinearSVC

from sklambda.artifact import write_model_dir

iris = load_iris()
diabetes = load_diabetes()
binary_x, binary_y = make_classification(n_samples=300, n_features=6, random_state=0)
string_labels = np.array(["setosa", "versicolor", "virginica"])[iris.target]

SUPPORTED: list[tuple[str, Any, np.ndarray, np.ndarray]] = [
    ("logreg-pipeline", make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)), iris.data, iris.target),
    ("logreg-binary", LogisticRegression(max_iter=1000), binary_x, binary_y),
    (
        "logreg-string-labels",
        make_pipeline(MinMaxScaler(), LogisticRegression(max_iter=1000)),
        iris.data,
        string_labels,
    ),
    ("sgd", make_pipeline(StandardScaler(), SGDClassifier(random_state=0)), binary_x, binary_y),
    ("linear-svc", LinearSVC(random_state=0), iris.data, iris.target),
    ("forest", RandomForestClassifier(n_estimators=25, random_state=0), iris.data, iris.target),
    ("extra-trees", ExtraTreesClassifier(n_estimators=25, random_state=0), binary_x, binary_y),
]
UNSUPPORTED: list[tuple[str, Any, np.ndarray, np.ndarray]] = [
    ("svc", SVC(), iris.data, iris.target),
    ("ridge-classifier", RidgeClassifier(), iris.data, iris.target),
    ("linear-regression", LinearRegression(), diabetes.data, diabetes.target),
    ("ridge-pipeline", make_pipeline(StandardScaler(with_mean=False), Ridge()), diabetes.data, diabetes.target),
    ("boosting", GradientBoostingClassifier(n_estimators=10), iris.data, iris.target),
    ("polynomial", make_pipeline(PolynomialFeatures(), LogisticRegression(max_iter=2000)), iris.data, iris.target),
]


def random_rows(data: np.ndarray, count: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    low, high = data.min(axis=0), data.max(axis=0)
    margin = (high - low) * 0.2
    return rng.uniform(low - margin, high + margin, size=(count, data.shape[1]))


@pytest.mark.parametrize(("name", "model", "x", "y"), SUPPORTED, ids=[case[0] for case in SUPPORTED])
def test_fast_path_reproduces_scikit_learn_exactly(name: str, model: Any, x: np.ndarray, y: np.ndarray) -> None:
    model.fit(x, y)
    fast = build_verified_fast_predictor(model, x[:1].astype(np.float64))
    assert fast is not None, f"{name} should have a verified fast path"
    # Probabilities are shortcut where the estimator's own predict_proba is reproduced: logistic regression and
    # forests; SGDClassifier (hinge loss) and LinearSVC have no predict_proba at all.
    assert fast.has_predict_proba == name.startswith(("logreg", "forest", "extra-trees")), name
    for seed in range(3):
        rows = random_rows(x, 3000, seed)
        assert np.array_equal(fast.predict(rows), model.predict(rows))
        assert fast.predict(rows).dtype == model.predict(rows).dtype
        if fast.has_predict_proba:
            assert np.array_equal(fast.predict_proba(rows), model.predict_proba(rows))
    one_row = rows[:1]
    assert np.array_equal(fast.predict(one_row), model.predict(one_row))


@pytest.mark.parametrize(("name", "model", "x", "y"), UNSUPPORTED, ids=[case[0] for case in UNSUPPORTED])
def test_other_estimators_use_scikit_learn(name: str, model: Any, x: np.ndarray, y: np.ndarray) -> None:
    model.fit(x, y)
    assert build_fast_predictor(model) is None


def test_subclass_overriding_predict_is_not_shortcut() -> None:
    class ShiftedLogisticRegression(LogisticRegression):  # type: ignore[misc]
        def predict(self, X: Any) -> Any:
            return super().predict(X) + 1

    model = ShiftedLogisticRegression(max_iter=1000).fit(iris.data, iris.target)
    assert build_fast_predictor(model) is None


@pytest.mark.parametrize(
    ("expect_fast", "name", "model", "x", "y"),
    [(True, *SUPPORTED[0]), (False, *UNSUPPORTED[0])],
    ids=["fast", "sklearn"],
)
def test_runtime_answers_equal_model_predict_either_way(
    tmp_path: Any, expect_fast: bool, name: str, model: Any, x: np.ndarray, y: np.ndarray
) -> None:
    model.fit(x, y)
    features = [FeatureSpec(name=f"x{i}") for i in range(x.shape[1])]
    write_model_dir(model, tmp_path / "m", name=name, version="1", features=features, example=x[0].tolist())
    runtime = SklearnRuntime.load(tmp_path / "m")
    assert (runtime.fast is not None) == expect_fast
    rows = random_rows(x, 2000, seed=5)
    answer = runtime.predict(runtime.rows.to_array(rows.tolist(), "instances"), with_probabilities=False)
    assert answer.labels == model.predict(rows).tolist()
