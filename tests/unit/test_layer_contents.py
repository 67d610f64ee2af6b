"""`sklambda package` records what the layer must hold beyond the base stack (requirements, the user's code, another
scikit-learn), and the runtime refuses at load what does not match it."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import joblib
import lightgbm
import numpy as np
import pytest
import sklearn
import xgboost
from predict_service.errors import ModelLoadError
from predict_service.runtimes.sklearn import SklearnRuntime
from sklearn.linear_model import LogisticRegression

from sklambda.artifact import PackagingError
from sklambda.packaging import package_model
from sklambda.sklearn_env import SklearnEnv, ensure_env
from tests.support.cli import run_cli
from tests.support.data import model_input
from tests.support.model_kinds import (
    DIABETES_X,
    IRIS_X,
    IRIS_Y,
    lgbm_pipeline,
    rows_of,
    user_code_pipeline,
    write_user_package,
    xgb_classifier,
    xgb_regressor,
)

KINDS = {
    "xgb-classifier": (xgb_classifier, IRIS_X, {"xgboost": xgboost.__version__}),
    "xgb-regressor": (xgb_regressor, DIABETES_X, {"xgboost": xgboost.__version__}),
    "lgbm-pipeline": (lgbm_pipeline, IRIS_X, {"lightgbm": lightgbm.__version__}),
}


def package(model: Any, tmp_path: Path, x: np.ndarray, **options: Any) -> Path:
    tmp_path.mkdir(parents=True, exist_ok=True)
    model_file = tmp_path / "model.joblib"
    joblib.dump(model, model_file)
    model_dir = tmp_path / "model"
    package_model(
        model_file,
        model_dir,
        feature_names=None,
        name=None,
        version=None,
        example=x[0].tolist(),
        class_names=None,
        **options,
    )
    return model_dir


def manifest_of(model_dir: Path) -> dict[str, Any]:
    manifest: dict[str, Any] = json.loads((model_dir / "model.json").read_text())
    return manifest


def edit_manifest(model_dir: Path, **fields: Any) -> None:
    (model_dir / "model.json").write_text(json.dumps({**manifest_of(model_dir), **fields}))


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_a_model_of_another_library_records_it_and_serves_the_same_answers(kind: str, tmp_path: Path) -> None:
    make, x, requirements = KINDS[kind]
    model = make()

    model_dir = package(model, tmp_path, x)

    manifest = manifest_of(model_dir)
    assert manifest["requirements"] == requirements
    assert manifest["code"] == {} and manifest["versions"]["scikit-learn"] == sklearn.__version__
    served = SklearnRuntime.load(model_dir)
    rows = x[::9]
    labels, _ = served.raw_predict(model_input(served, rows.tolist()), False)
    assert labels.tolist() == model.predict(rows).tolist()


def test_requirements_this_environment_lacks_are_refused_at_load_with_the_fix(tmp_path: Path) -> None:
    model_dir = package(xgb_classifier(), tmp_path, IRIS_X)
    edit_manifest(model_dir, requirements={"xgboost": "0.0.1", "acme-boost": "1.0"})

    with pytest.raises(ModelLoadError) as refused:
        SklearnRuntime.load(model_dir)

    message = refused.value.message
    assert "needs acme-boost==1.0 (not installed), xgboost==0.0.1 (" + xgboost.__version__ + " installed)" in message
    # The layer installs xgboost's CPU-only build: so would the fix.
    assert "`python -m pip install acme-boost==1.0 xgboost-cpu==0.0.1`" in message
    assert refused.value.detail["requirements"]["acme-boost"] == {"required": "1.0", "installed": None}

    invoked = run_cli("invoke", "--model-dir", str(model_dir), "--body", '{"features": [5.1, 3.5, 1.4, 0.2]}')
    assert invoked.returncode == 1
    (line,) = [line for line in invoked.stderr.splitlines() if line.startswith("sklambda invoke: error:")]
    assert f"make sam-build LAYER_MODEL_DIR={model_dir} && make local-api" in line and "xgboost-cpu==0.0.1" in line


@pytest.fixture
def team_package(tmp_path: Path, request: pytest.FixtureRequest) -> Path:
    """The team's package in a repository of its own, under a name of its own for each test (imported modules
    stay in sys.modules)."""
    return write_user_package(tmp_path / "team-repo", f"team_features_{request.node.name.split('[')[0][-24:]}")


def test_the_user_s_module_must_ship_and_then_serves_from_the_model_directory(
    team_package: Path, tmp_path: Path
) -> None:
    model = user_code_pipeline(team_package)

    with pytest.raises(PackagingError, match=f"your own module\\(s\\) {team_package.name}.*--code {team_package}"):
        package(model, tmp_path / "without", IRIS_X)
    model_dir = package(model, tmp_path, IRIS_X, code_paths=[team_package])

    code = manifest_of(model_dir)["code"]
    assert sorted(code) == [f"code/{team_package.name}/__init__.py", f"code/{team_package.name}/transformers.py"]
    # Another process, where the team's repository is not on the path: the model directory alone serves it.
    rows = rows_of(IRIS_X, 11)
    invoked = run_cli("invoke", "--model-dir", str(model_dir), "--body", json.dumps({"instances": rows}))
    assert invoked.returncode == 0, invoked.stderr
    response = json.loads(invoked.stdout)
    assert response["statusCode"] == 200, response
    assert response["body"]["predictions"] == model.predict(np.asarray(rows)).tolist()


@pytest.mark.parametrize("change", ["tampered", "added", "removed"])
def test_user_code_that_differs_from_the_manifest_is_refused_before_unpickling(
    change: str, team_package: Path, tmp_path: Path
) -> None:
    model_dir = package(user_code_pipeline(team_package), tmp_path, IRIS_X, code_paths=[team_package])
    module = model_dir / "code" / team_package.name / "transformers.py"
    if change == "tampered":
        module.write_text(module.read_text() + "\nimport os  # runs at import\n")
    elif change == "added":
        (module.parent / "helpers.py").write_text("")
    else:
        module.unlink()

    with pytest.raises(ModelLoadError) as refused:
        SklearnRuntime.load(model_dir)

    says = {
        "tampered": f"Refusing to import {module}: its sha256",
        "added": f"code/ holds code/{team_package.name}/helpers.py, which model.json does not list",
        "removed": f"No code/{team_package.name}/transformers.py in {model_dir}",
    }[change]
    assert says in refused.value.message
    assert "\n" not in refused.value.message


# scikit-learn 1.5.2 and the numpy/scipy/joblib released alongside it (tests/unit/test_sklearn_env.py's stack).
OLD_STACK = ("scikit-learn==1.5.2", "numpy==2.1.3", "scipy==1.14.1", "joblib==1.4.2")
TRAIN_OLD = """
import json, sys
import joblib
from sklearn.datasets import load_iris
from sklearn.ensemble import RandomForestClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
X, y = load_iris(return_X_y=True)
model = make_pipeline(StandardScaler(), RandomForestClassifier(n_estimators=10, random_state=0)).fit(X, y)
joblib.dump(model, sys.argv[1])
"""


@pytest.fixture(scope="module")
def old_env() -> SklearnEnv:
    return ensure_env(OLD_STACK)


@pytest.mark.slow_env
def test_a_model_of_another_scikit_learn_records_its_versions_verified_in_the_training_env(
    old_env: SklearnEnv, tmp_path: Path
) -> None:
    model_file = tmp_path / "old.joblib"
    trained = subprocess.run(
        [str(old_env.python), "-c", TRAIN_OLD, str(model_file)], capture_output=True, text=True, timeout=300
    )
    assert trained.returncode == 0, trained.stderr

    packaged = run_cli(
        "package", str(model_file), "--model-dir", str(tmp_path / "model"), "--sklearn-python", str(old_env.python)
    )

    assert packaged.returncode == 0, packaged.stderr
    versions = manifest_of(tmp_path / "model")["versions"]
    assert {name: versions[name] for name in ("scikit-learn", "numpy", "scipy", "joblib")} == {
        "scikit-learn": "1.5.2",
        "numpy": "2.1.3",
        "scipy": "1.14.1",
        "joblib": "1.4.2",
    }
    assert "pickled by scikit-learn 1.5.2" in packaged.stderr
    # This environment has another scikit-learn: serving it here is refused in one line saying how to serve it.
    invoked = run_cli("invoke", "--model-dir", str(tmp_path / "model"), "--body", '{"features": [5.1, 3.5, 1.4, 0.2]}')
    assert invoked.returncode == 1
    assert f"scikit-learn==1.5.2 ({sklearn.__version__} installed)" in invoked.stderr
    # Converting it needs the local scikit-learn to be the one that pickled it.
    onnx = run_cli(
        "package", str(model_file), "--model-dir", str(tmp_path / "onnx"), "--runtime", "onnx",
        "--sklearn-python", str(old_env.python),
    )  # fmt: skip
    assert onnx.returncode == 1 and "it can only ship as the pickle it is" in onnx.stderr


@pytest.mark.slow_env
def test_a_scikit_learn_without_a_wheel_for_the_lambda_python_is_refused_saying_what_to_do(tmp_path: Path) -> None:
    """A pickle written by scikit-learn 1.3.2, which has no wheel for Python 3.13: no environment can be made."""
    model_file = tmp_path / "model.joblib"
    joblib.dump(LogisticRegression(max_iter=500).fit(IRIS_X, IRIS_Y), model_file)
    # The version every estimator records in its state, rewritten in place (same length: the pickle stays valid).
    pickled = model_file.read_bytes().replace(sklearn.__version__.encode(), b"1.3.2")
    assert pickled != model_file.read_bytes()
    model_file.write_bytes(pickled)

    result = run_cli(
        "package", str(model_file), "--model-dir", str(tmp_path / "model"),
        env={"SKLAMBDA_CACHE_DIR": str(tmp_path / "cache")},
    )  # fmt: skip

    assert result.returncode == 1
    (line,) = [line for line in result.stderr.splitlines() if line.startswith("sklambda package: error:")]
    assert "could not install scikit-learn==1.3.2 for Python 3.13" in line
    assert "retrain the model with a current scikit-learn" in line and "LAMBDA_PYTHON in mk/deploy.mk" in line
