"""A model pickled by another scikit-learn: its version read from the file without unpickling it here, and its
answers reproduced in a cached environment that has exactly that version."""

from __future__ import annotations

import json
import pickle
import subprocess
import time
from pathlib import Path

import joblib
import pytest
import sklearn
from sklearn.datasets import load_iris
from sklearn.exceptions import InconsistentVersionWarning
from sklearn.linear_model import LogisticRegression

from sklambda.sklearn_env import (
    ENV_READY_MARKER,
    SklearnEnv,
    SklearnEnvError,
    ensure_env,
    predict_in_env,
    recorded_sklearn_version,
)

# scikit-learn 1.5.2 and the numpy/scipy/joblib released alongside it; Python 3.11 and 3.13 have wheels for all.
OLD_STACK = ("scikit-learn==1.5.2", "numpy==2.1.3", "scipy==1.14.1", "joblib==1.4.2")
IRIS_X, IRIS_Y = load_iris(return_X_y=True)
ROWS = IRIS_X[::7].tolist()

# Runs in the old environment: fits and pickles there, and records that scikit-learn's own answers.
TRAIN_SCRIPT = """
import json, sys
import joblib, sklearn
from sklearn.datasets import load_iris
from sklearn.ensemble import RandomForestClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
X, y = load_iris(return_X_y=True)
model = make_pipeline(StandardScaler(), RandomForestClassifier(n_estimators=20, random_state=0)).fit(X, y)
joblib.dump(model, sys.argv[1])
rows = json.loads(sys.argv[2])
print(json.dumps({"version": sklearn.__version__, "predictions": model.predict(rows).tolist(),
                  "probabilities": model.predict_proba(rows).tolist()}))
"""


@pytest.fixture(scope="module")
def old_env() -> SklearnEnv:
    return ensure_env(OLD_STACK)


@pytest.fixture(scope="module")
def old_model(old_env: SklearnEnv, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, object]]:
    model_file = tmp_path_factory.mktemp("old") / "model.joblib"
    result = subprocess.run(
        [str(old_env.python), "-c", TRAIN_SCRIPT, str(model_file), json.dumps(ROWS)],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    trained: dict[str, object] = json.loads(result.stdout)
    return model_file, trained


@pytest.mark.slow_env
def test_a_model_of_another_scikit_learn_is_detected_and_predicts_the_same_in_its_env(
    old_env: SklearnEnv, old_model: tuple[Path, dict[str, object]]
) -> None:
    model_file, trained = old_model
    assert trained["version"] != sklearn.__version__
    # Read from the file, not from the local scikit-learn (which would load it with a warning and a new label).
    assert recorded_sklearn_version(model_file) == trained["version"]
    with pytest.warns(InconsistentVersionWarning):
        joblib.load(model_file)

    answers = predict_in_env(old_env, model_file, ROWS, probabilities=True)
    assert answers.versions["scikit-learn"] == trained["version"]
    assert answers.predictions == trained["predictions"]
    assert answers.probabilities == trained["probabilities"]


@pytest.mark.slow_env
def test_the_environment_is_created_once_and_reused(old_env: SklearnEnv) -> None:
    assert (old_env.path / ENV_READY_MARKER).is_file()
    started = time.perf_counter()
    again = ensure_env(list(reversed(OLD_STACK)))
    assert again.path == old_env.path and again.pins == tuple(sorted(OLD_STACK))
    assert time.perf_counter() - started < 10


@pytest.mark.slow_env
def test_the_env_refuses_a_model_of_another_version(old_env: SklearnEnv, tmp_path: Path) -> None:
    """Version warnings are errors there: a model pickled by the local scikit-learn does not load silently."""
    model_file = tmp_path / "local.joblib"
    joblib.dump(LogisticRegression(max_iter=500).fit(IRIS_X, IRIS_Y), model_file)
    with pytest.raises(
        SklearnEnvError, match=r"does not load or predict with .*scikit-learn==1\.5\.2.*: InconsistentVersionWarning"
    ) as raised:
        predict_in_env(old_env, model_file, ROWS)
    assert "\n" not in str(raised.value)


@pytest.mark.slow_env
def test_a_version_without_a_wheel_is_refused_with_the_way_out(tmp_path: Path) -> None:
    with pytest.raises(SklearnEnvError, match="could not install scikit-learn==0.0.0.*older Python.*retrain"):
        ensure_env(["scikit-learn==0.0.0"], root=tmp_path)
    # The half-built environment is not left behind to be mistaken for a finished one.
    assert list(tmp_path.iterdir()) == []


def test_a_local_model_records_the_local_version(tmp_path: Path) -> None:
    model_file = tmp_path / "model.joblib"
    joblib.dump(LogisticRegression(max_iter=500).fit(IRIS_X, IRIS_Y), model_file)
    assert recorded_sklearn_version(model_file) == sklearn.__version__


def test_several_versions_in_one_file_are_refused(tmp_path: Path) -> None:
    model_file = tmp_path / "two.pkl"
    # Two estimators' states as scikit-learn pickles them, from two releases.
    model_file.write_bytes(pickle.dumps([{"_sklearn_version": "1.5.2"}, {"_sklearn_version": sklearn.__version__}]))
    with pytest.raises(SklearnEnvError, match="several scikit-learn versions"):
        recorded_sklearn_version(model_file)
