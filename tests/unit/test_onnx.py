"""The ONNX runtime: export verified at packaging, refusals that name the step, load-time checks, predictions equal
to scikit-learn's, and the same API answers as the scikit-learn runtime (the API suite itself runs on both runtimes
through the parametrized `demo_runtime` fixture in tests/conftest.py)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import onnxruntime  # type: ignore[import-untyped]  # onnxruntime ships no type information
import pytest
from fastapi.testclient import TestClient
from lightgbm import LGBMClassifier, LGBMRegressor
from onnx import ModelProto, TensorProto, helper
from predict_service.errors import ModelLoadError
from predict_service.loading import load_model_dir
from predict_service.manifest import MANIFEST_FILENAME, MODEL_FILENAME, ONNX_FILENAME, OnnxVerification
from predict_service.runtimes.onnx import OnnxRuntime
from predict_service.runtimes.sklearn import SklearnRuntime
from sklearn.calibration import CalibratedClassifierCV
from sklearn.cluster import KMeans
from sklearn.datasets import load_diabetes, load_iris
from sklearn.ensemble import (
    GradientBoostingClassifier,
    GradientBoostingRegressor,
    HistGradientBoostingClassifier,
    IsolationForest,
    RandomForestClassifier,
    RandomForestRegressor,
    VotingClassifier,
)
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.multioutput import MultiOutputRegressor
from sklearn.neighbors import KNeighborsClassifier, NearestCentroid
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer, StandardScaler
from sklearn.svm import SVC, LinearSVC
from sklearn.tree import DecisionTreeClassifier
from xgboost import XGBClassifier, XGBRegressor

from sklambda.artifact import PackagingError
from sklambda.onnx_export import PROBABILITY_TOLERANCE, OnnxExportError, problems_with, verify
from sklambda.packaging import package_model
from sklambda.training import train_csv
from tests.support.data import REPO_ROOT, iris_rows, model_input

IRIS_X, IRIS_Y = load_iris(return_X_y=True)
IRIS_NAMES = np.array(["setosa", "versicolor", "virginica"])[IRIS_Y]
DIABETES_X, DIABETES_Y = load_diabetes(return_X_y=True)

# Pipelines users bring, by family: linear (float64 graph), trees and boosting (float32 graph), string labels,
# regressors.
SUPPORTED: list[tuple[str, Any, np.ndarray]] = [
    (
        "scaler+logreg",
        make_pipeline(StandardScaler(), LogisticRegression(max_iter=500)).fit(IRIS_X, IRIS_Y),
        IRIS_X,
    ),
    ("forest-100", RandomForestClassifier(n_estimators=100, random_state=0).fit(IRIS_X, IRIS_Y), IRIS_X),
    ("tree", DecisionTreeClassifier(random_state=0).fit(IRIS_X, IRIS_Y), IRIS_X),
    ("forest-string-labels", RandomForestClassifier(n_estimators=20, random_state=0).fit(IRIS_X, IRIS_NAMES), IRIS_X),
    ("gradient-boosting", GradientBoostingClassifier(n_estimators=50, random_state=0).fit(IRIS_X, IRIS_Y), IRIS_X),
    ("svc", make_pipeline(StandardScaler(), SVC()).fit(IRIS_X, IRIS_Y), IRIS_X),
    ("k-neighbours", KNeighborsClassifier().fit(IRIS_X, IRIS_Y), IRIS_X),
    ("ridge", Ridge().fit(DIABETES_X, DIABETES_Y), DIABETES_X),
    (
        "gradient-boosting-regressor",
        GradientBoostingRegressor(n_estimators=50, random_state=0).fit(DIABETES_X, DIABETES_Y),
        DIABETES_X,
    ),
    # Converters that take no zipmap option (LinearSVC) or declare nocl without implementing it (ensembles of
    # classifiers, calibration): their graphs still answer class indexes.
    ("linear-svc", make_pipeline(StandardScaler(), LinearSVC()).fit(IRIS_X, IRIS_Y), IRIS_X),
    (
        "calibrated",
        CalibratedClassifierCV(LogisticRegression(max_iter=500)).fit(IRIS_X, IRIS_Y),
        IRIS_X,
    ),
    (
        "calibrated-string-labels",
        make_pipeline(StandardScaler(), CalibratedClassifierCV(LogisticRegression(max_iter=500))).fit(
            IRIS_X, IRIS_NAMES
        ),
        IRIS_X,
    ),
    (
        "voting-soft",
        VotingClassifier(
            [("linear", LogisticRegression(max_iter=500)), ("tree", DecisionTreeClassifier(random_state=0))],
            voting="soft",
            flatten_transform=False,
        ).fit(IRIS_X, IRIS_Y + 3),
        IRIS_X,
    ),
    # XGBoost and LightGBM through onnxmltools' converters (float32 graphs).
    ("xgboost-classifier", XGBClassifier(n_estimators=30, max_depth=3).fit(IRIS_X, IRIS_Y), IRIS_X),
    ("xgboost-regressor", XGBRegressor(n_estimators=30, max_depth=3).fit(DIABETES_X, DIABETES_Y), DIABETES_X),
    (
        "lightgbm-regressor",
        make_pipeline(StandardScaler(), LGBMRegressor(n_estimators=30, verbose=-1)).fit(DIABETES_X, DIABETES_Y),
        DIABETES_X,
    ),
]


def package_onnx(model: Any, tmp_path: Path, example: Sequence[float]) -> Path:
    """`sklambda package MODEL.joblib --runtime onnx`, minus the argument parsing (tests/integration covers that)."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    model_file = tmp_path / "model-in.joblib"
    joblib.dump(model, model_file)
    model_dir = tmp_path / "model"
    package_model(
        model_file,
        model_dir,
        feature_names=None,
        name="m",
        version="1",
        example=list(example),
        class_names=None,
        runtime="onnx",
    )
    return model_dir


def rows_around(data: np.ndarray, count: int, seed: int) -> np.ndarray:
    """Rows over (and 10% beyond) the data's range, half of them rounded to 1 or 2 decimals as people type values:
    not the rows packaging verified on, so this checks the export independently. Rounded values land on tree split
    thresholds (midpoints of rounded training values), where a float64 graph and scikit-learn's float32 splits
    disagree."""
    rng = np.random.default_rng(seed)
    low, high = data.min(axis=0), data.max(axis=0)
    margin = (high - low) * 0.1
    rows = rng.uniform(low - margin, high + margin, size=(count, data.shape[1]))
    half = count // 2
    rows[:half] = np.round(rows[:half], rng.integers(1, 3))
    return rows


@pytest.mark.parametrize(("name", "model", "data"), SUPPORTED, ids=[case[0] for case in SUPPORTED])
def test_onnx_predictions_equal_scikit_learn(name: str, model: Any, data: np.ndarray, tmp_path: Path) -> None:
    model_dir = package_onnx(model, tmp_path, [float(value) for value in data[0]])
    runtime = load_model_dir(model_dir)
    assert isinstance(runtime, OnnxRuntime)
    manifest = runtime.manifest
    assert manifest.runtime == "onnx" and manifest.onnx is not None
    assert manifest.onnx.onnxruntime == onnxruntime.__version__
    assert manifest.onnx.verification.rows > 4000 and manifest.onnx.verification.label_mismatches == 0

    rows = rows_around(data, 3000, seed=7)
    features = model_input(runtime, rows.tolist())
    answer = runtime.predict(features, with_probabilities=manifest.has_predict_proba)
    expected = model.predict(rows)
    if manifest.task == "classification":
        # Identical labels, of the same Python type (an int stays an int, a string a string, in the JSON).
        assert answer.labels == expected.tolist()
        assert [type(label) for label in answer.labels] == [type(label) for label in expected.tolist()]
        assert (answer.probabilities is not None) == hasattr(model, "predict_proba")
        if answer.probabilities is not None:
            got = np.array([[row[str(label)] for label in model.classes_] for row in answer.probabilities])
            assert np.max(np.abs(got - model.predict_proba(rows))) <= PROBABILITY_TOLERANCE
    else:
        np.testing.assert_allclose(answer.labels, expected, rtol=1e-5, atol=1e-5)


def test_csv_pipeline_with_categories_converts_and_predicts_like_scikit_learn(tmp_path: Path) -> None:
    """`sklambda train --csv --runtime onnx`: ColumnTransformer(one-hot + scaling) into one string/float input per
    column; the served labels equal the pipeline's own."""
    rng = np.random.default_rng(3)
    plans = rng.choice(["basic", "pro", "team"], size=300)
    tenure = rng.integers(0, 60, size=300)
    monthly = np.round(rng.uniform(5, 120, size=300), 2)
    churn = np.where(((tenure < 12) & (plans == "basic")) | (monthly > 100), "yes", "no")
    csv_file = tmp_path / "churn.csv"
    lines = ["plan,tenure,monthly,churn"] + [
        f"{p},{t},{m},{c}" for p, t, m, c in zip(plans, tenure, monthly, churn, strict=True)
    ]
    csv_file.write_text("\n".join(lines) + "\n")
    model_dir = tmp_path / "model"
    manifest = train_csv(csv_file, "churn", model_dir, task="auto", name=None, version=None, runtime="onnx")
    assert manifest.onnx is not None and manifest.onnx.verification.label_mismatches == 0

    onnx_runtime = load_model_dir(model_dir)
    pipeline = joblib.load(model_dir / MODEL_FILENAME)
    requests = [
        {"plan": str(p), "tenure": int(t), "monthly": float(m)} for p, t, m in zip(plans, tenure, monthly, strict=True)
    ]
    features = model_input(onnx_runtime, requests)
    answer = onnx_runtime.predict(features, with_probabilities=True)
    assert answer.labels == SklearnRuntime.load(model_dir).predict(features, with_probabilities=False).labels
    assert answer.labels == pipeline.predict(features).tolist()


# Unsupervised models answer integers (cluster number; 1 inlier, -1 outlier), not floats.
INTEGER_LABELS: list[tuple[str, Any]] = [
    ("k-means", KMeans(n_clusters=6, n_init=3, random_state=0).fit(IRIS_X)),
    ("isolation-forest", IsolationForest(n_estimators=20, random_state=0).fit(IRIS_X)),
]


@pytest.mark.parametrize(("name", "model"), INTEGER_LABELS, ids=[case[0] for case in INTEGER_LABELS])
def test_clusterers_and_outlier_detectors_answer_integers(name: str, model: Any, tmp_path: Path) -> None:
    model_dir = package_onnx(model, tmp_path, [float(value) for value in IRIS_X[0]])
    runtime = load_model_dir(model_dir)
    assert isinstance(runtime, OnnxRuntime)
    rows = rows_around(IRIS_X, 1000, seed=5)
    answer = runtime.predict(model_input(runtime, rows.tolist()), with_probabilities=False)
    expected = model.predict(rows).tolist()
    assert answer.labels == expected
    assert {type(label) for label in answer.labels} == {type(label) for label in expected} == {int}


def with_float_labels(model_bytes: bytes) -> bytes:
    """The graph with its label output cast to float: the same numbers, the wrong JSON type."""
    graph_model = ModelProto.FromString(model_bytes)
    label = graph_model.graph.output[0]
    for node in graph_model.graph.node:
        node.output[:] = [f"{name}_int" if name == label.name else name for name in node.output]
    graph_model.graph.node.append(helper.make_node("Cast", [f"{label.name}_int"], [label.name], to=TensorProto.DOUBLE))
    label.type.tensor_type.elem_type = TensorProto.DOUBLE
    serialized: bytes = graph_model.SerializeToString()
    return serialized


def test_verification_compares_the_type_of_unsupervised_labels(tmp_path: Path) -> None:
    """5.0 where scikit-learn answers 5 is a wrong answer even though the numbers are equal."""
    model = KMeans(n_clusters=6, n_init=3, random_state=0).fit(IRIS_X)
    model_dir = package_onnx(model, tmp_path, [float(value) for value in IRIS_X[0]])
    manifest = load_model_dir(model_dir).manifest
    verification = verify(model, manifest, with_float_labels((model_dir / ONNX_FILENAME).read_bytes()))
    assert verification.label_mismatches == verification.rows
    assert verification.max_prediction_difference == 0.0
    assert problems_with(verification) is not None


UNSUPPORTED: list[tuple[str, Any, str]] = [
    ("no-converter", NearestCentroid().fit(IRIS_X, IRIS_Y), "NearestCentroid"),
    (
        "python-function-step",
        make_pipeline(FunctionTransformer(np.log1p), LogisticRegression(max_iter=500)).fit(IRIS_X, IRIS_Y),
        "FunctionTransformer",
    ),
    # skl2onnx 1.20's converter builds node attributes that onnx 1.23 refuses for scikit-learn 1.9's trees.
    ("converter-fails", HistGradientBoostingClassifier(max_iter=5, random_state=0).fit(IRIS_X, IRIS_Y), "HistGradient"),
    # The ONNX runtime serves one value per row.
    ("multi-output-ridge", Ridge().fit(IRIS_X, IRIS_X[:, :3] * 2), "multi-output"),
    (
        "multi-output-forest",
        RandomForestRegressor(n_estimators=5, random_state=0).fit(IRIS_X, IRIS_X[:, 1:3]),
        "multi-output",
    ),
    # LightGBM sums its trees in float64, onnxruntime in float32: a few labels flip where two classes nearly tie.
    (
        "lightgbm-classifier-float32-ties",
        make_pipeline(StandardScaler(), LGBMClassifier(n_estimators=20, verbose=-1)).fit(IRIS_X, IRIS_NAMES),
        "labels differ from scikit-learn's",
    ),
    (
        "multi-output-wrapper",
        MultiOutputRegressor(Ridge()).fit(IRIS_X, IRIS_X[:, :2]),
        "MultiOutputRegressor",
    ),
]


@pytest.mark.parametrize(("name", "model", "step"), UNSUPPORTED, ids=[case[0] for case in UNSUPPORTED])
def test_unsupported_models_are_refused_naming_the_step(name: str, model: Any, step: str, tmp_path: Path) -> None:
    with pytest.raises(OnnxExportError) as raised:
        package_onnx(model, tmp_path, [float(value) for value in IRIS_X[0]])
    message = str(raised.value)
    assert step in message
    assert "without --runtime onnx" in message
    # One readable line: no multi-kilobyte attribute dumps from the converter.
    assert "\n" not in message and len(message) < 600
    # Nothing written where the server or the layer build would pick it up.
    assert not (tmp_path / "model").exists()


def test_a_graph_that_disagrees_with_the_model_is_refused(tmp_path: Path) -> None:
    """Verification compares the served graph with scikit-learn; a graph of another model must fail it."""
    served = make_pipeline(StandardScaler(), LogisticRegression(max_iter=500)).fit(IRIS_X, IRIS_Y)
    other = make_pipeline(StandardScaler(), LogisticRegression(max_iter=500)).fit(IRIS_X, np.roll(IRIS_Y, 50))
    other_dir = package_onnx(other, tmp_path / "other", [float(value) for value in IRIS_X[0]])
    # Same features and classes, so the other model's manifest describes the served one's interface too.
    manifest = load_model_dir(other_dir).manifest
    verification = verify(served, manifest, (other_dir / ONNX_FILENAME).read_bytes())
    assert verification.label_mismatches > 1000
    problem = problems_with(verification)
    assert problem is not None and "labels differ from scikit-learn's" in problem


def test_probability_drift_beyond_tolerance_is_a_problem() -> None:
    drifted = OnnxVerification(rows=10, label_mismatches=0, max_probability_difference=PROBABILITY_TOLERANCE * 10)
    within = OnnxVerification(rows=10, label_mismatches=0, max_probability_difference=PROBABILITY_TOLERANCE / 10)
    assert problems_with(drifted) is not None and "tolerance" in (problems_with(drifted) or "")
    assert problems_with(within) is None


@pytest.fixture
def onnx_model_copy(demo_onnx_model_dir: Path, tmp_path: Path) -> Path:
    target = tmp_path / "model"
    shutil.copytree(demo_onnx_model_dir, target)
    return target


def edit_onnx_section(model_dir: Path, **changes: object) -> None:
    path = model_dir / MANIFEST_FILENAME
    manifest = json.loads(path.read_text())
    manifest["onnx"].update(changes)
    path.write_text(json.dumps(manifest))


def test_load_refuses_a_tampered_graph(onnx_model_copy: Path) -> None:
    graph = onnx_model_copy / ONNX_FILENAME
    graph.write_bytes(graph.read_bytes() + b"\x00")
    with pytest.raises(ModelLoadError, match=r"Refusing to load .*model\.onnx: its sha256 .* does not match"):
        OnnxRuntime.load(onnx_model_copy)


def test_load_refuses_another_onnxruntime_naming_both(onnx_model_copy: Path) -> None:
    edit_onnx_section(onnx_model_copy, onnxruntime="1.17.0")
    with pytest.raises(ModelLoadError) as raised:
        OnnxRuntime.load(onnx_model_copy)
    assert "1.17.0" in raised.value.message and onnxruntime.__version__ in raised.value.message
    assert "requirements-onnx.txt" in raised.value.message


def test_load_without_the_graph_says_how_to_make_it(onnx_model_copy: Path) -> None:
    (onnx_model_copy / ONNX_FILENAME).unlink()
    with pytest.raises(ModelLoadError, match=r"No model\.onnx in .*--runtime onnx"):
        load_model_dir(onnx_model_copy)


def test_onnx_runtime_refuses_a_scikit_learn_model_dir(demo_model_dir: Path) -> None:
    with pytest.raises(ModelLoadError, match="holds a scikit-learn model"):
        OnnxRuntime.load(demo_model_dir)


def test_the_manifest_picks_the_runtime(demo_model_dir: Path, demo_onnx_model_dir: Path) -> None:
    assert isinstance(load_model_dir(demo_model_dir), SklearnRuntime)
    assert isinstance(load_model_dir(demo_onnx_model_dir), OnnxRuntime)


def test_the_onnx_layer_needs_no_pickle(onnx_model_copy: Path) -> None:
    """The ONNX layer ships model.onnx + model.json only (layers/model/Makefile): loading must not need
    model.joblib."""
    (onnx_model_copy / MODEL_FILENAME).unlink()
    runtime = load_model_dir(onnx_model_copy)
    assert isinstance(runtime, OnnxRuntime)


def test_onnx_handler_cold_start_imports_no_scikit_learn(demo_onnx_model_dir: Path) -> None:
    """The cold-start saving: the handler on an ONNX model imports neither scikit-learn nor scipy (the ONNX layer
    does not even contain them; the deploy tests run the built layer)."""
    script = (
        "import json, sys\n"
        "import handler\n"
        f"event = json.load(open({str(REPO_ROOT / 'events' / 'http-api-predict.json')!r}))\n"
        "answer = handler.handler(event, None)\n"
        "loaded = sorted({name.split('.')[0] for name in sys.modules} & {'sklearn', 'scipy', 'joblib', 'skl2onnx'})\n"
        "print(json.dumps({'status': answer['statusCode'], 'body': json.loads(answer['body']), 'loaded': loaded}))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO_ROOT / "functions" / "predict",
        env={**os.environ, "MODEL_DIR": str(demo_onnx_model_dir), "PYTHONPATH": str(REPO_ROOT / "functions/predict")},
        check=False,
    )
    assert result.returncode == 0, result.stderr
    answer = json.loads(result.stdout.strip().splitlines()[-1])
    assert answer["status"] == 200 and answer["body"]["prediction"] == [0], answer
    assert answer["loaded"] == [], answer


def test_both_runtimes_answer_the_same(
    make_client: Callable[..., TestClient], demo_model_dir: Path, demo_onnx_model_dir: Path
) -> None:
    """Same bodies, same answers: labels, probability keys (to within the verified tolerance), model version, and
    the same errors for bad input."""
    scikit = make_client(SklearnRuntime.load(demo_model_dir))
    onnx = make_client(OnnxRuntime.load(demo_onnx_model_dir))
    rows = iris_rows(200, seed=11).tolist()
    bodies: list[dict[str, Any]] = [
        {"features": rows[0]},
        {"features": dict(zip(["petal_width", "sepal_length", "petal_length", "sepal_width"], rows[1], strict=True))},
        {"instances": rows, "return_probabilities": True},
        {"features": [1, 2, 3]},
        {"features": [1, 2, "3", 4]},
        {"instances": [[1e308, 1e308, 1e308, 1e308]], "return_probabilities": True},
    ]
    for body in bodies:
        expected, got = scikit.post("/predict", json=body), onnx.post("/predict", json=body)
        assert got.status_code == expected.status_code, (body, got.text, expected.text)
        want, have = expected.json(), got.json()
        want.pop("request_id", None)
        have.pop("request_id", None)
        want_probabilities, have_probabilities = want.pop("probabilities", None), have.pop("probabilities", None)
        assert have == want, body
        if want_probabilities is not None:
            assert have_probabilities is not None
            for want_row, have_row in zip(want_probabilities, have_probabilities, strict=True):
                assert want_row.keys() == have_row.keys()
                assert all(abs(want_row[key] - have_row[key]) <= PROBABILITY_TOLERANCE for key in want_row)


def test_onnxruntime_failure_is_500_without_internals(
    make_client: Callable[..., TestClient],
    demo_onnx_model_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
    service_log: pytest.LogCaptureFixture,
) -> None:
    runtime = OnnxRuntime.load(demo_onnx_model_dir)
    client = make_client(runtime)

    def explode(*_: object) -> object:
        raise RuntimeError("secret onnxruntime internal detail /opt/model")

    # The fault goes into the onnxruntime session (a real failure mode: a graph that cannot run), not our code.
    monkeypatch.setattr(runtime, "session", _FailingSession(runtime.session, explode))
    response = client.post("/predict", json={"features": [1, 2, 3, 4]})
    assert response.status_code == 500
    assert "secret" not in response.text and "RuntimeError" not in response.text
    assert response.json()["error"] and response.json()["request_id"] == response.headers["x-request-id"]
    assert any("secret onnxruntime internal detail" in (record.exc_text or "") for record in service_log.records)


class _FailingSession:
    """The real session with `run` replaced: onnxruntime's InferenceSession is a C++ object whose methods cannot be
    patched in place."""

    def __init__(self, session: Any, run: Callable[..., object]) -> None:
        self._session = session
        self.run = run

    def __getattr__(self, name: str) -> Any:
        return getattr(self._session, name)


def test_packaging_refusal_keeps_the_existing_model(tmp_path: Path, demo_onnx_model_dir: Path) -> None:
    """A failed `--runtime onnx` export leaves the model directory that was there untouched."""
    model_dir = tmp_path / "model"
    shutil.copytree(demo_onnx_model_dir, model_dir)
    before = {path.name: path.read_bytes() for path in model_dir.iterdir()}
    model_file = tmp_path / "centroid.joblib"
    joblib.dump(NearestCentroid().fit(IRIS_X, IRIS_Y), model_file)
    with pytest.raises(PackagingError):
        package_model(
            model_file,
            model_dir,
            feature_names=None,
            name=None,
            version=None,
            example=None,
            class_names=None,
            runtime="onnx",
        )
    assert {path.name: path.read_bytes() for path in model_dir.iterdir()} == before


def test_nullable_category_is_refused_by_the_onnx_runtime(tmp_path: Path) -> None:
    """A string input holds no missing value: such a model is served by the scikit-learn runtime, never answered
    wrongly or with a 500 by onnxruntime."""
    rng = np.random.default_rng(4)
    plans = rng.choice(["basic", "pro"], size=80)
    tenure = rng.integers(0, 60, size=80)
    lines = ["plan,tenure,churn"] + [f"{p},{t},{'yes' if t < 12 else 'no'}" for p, t in zip(plans, tenure, strict=True)]
    csv_file = tmp_path / "churn.csv"
    csv_file.write_text("\n".join(lines) + "\n")
    model_dir = tmp_path / "model"
    train_csv(csv_file, "churn", model_dir, task="auto", name=None, version=None, runtime="onnx")
    manifest = json.loads((model_dir / MANIFEST_FILENAME).read_text())
    manifest["features"][0]["nullable"] = True
    (model_dir / MANIFEST_FILENAME).write_text(json.dumps(manifest))
    with pytest.raises(ModelLoadError) as raised:
        OnnxRuntime.load(model_dir)
    assert raised.value.message.startswith(
        "model.onnx cannot take a missing value (null) for the category feature(s) ['plan']"
    )
