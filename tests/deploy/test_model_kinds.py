"""Models that need more than the base stack, from `sklambda package` to the built layer run under the Lambda
Python: XGBoost (classifier, regressor), LightGBM in a pipeline, a pipeline with the team's own transformer module,
and a model pickled by scikit-learn 1.5.2. Each layer holds what its model.json says, no more (xgboost-cpu, not
xgboost), and answers exactly as the model itself does.

One ModelLayer build per kind (the function build is the session's shared one): deselect with -m 'not layer_kinds'.
"""

from __future__ import annotations

import functools
import json
import re
import subprocess
import sys
from dataclasses import dataclass
from email.parser import Parser
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pytest
import sklearn

from sklambda.sklearn_env import ensure_env, predict_in_env
from tests.support.events import load_event, with_body
from tests.support.model_kinds import (
    DIABETES_X,
    IRIS_X,
    lgbm_pipeline,
    rows_of,
    user_code_pipeline,
    write_user_package,
    xgb_classifier,
    xgb_regressor,
)

from .conftest import ARTIFACTS, REPO_ROOT, SamBuild, sam_build

pytestmark = [pytest.mark.deploy, pytest.mark.layer_kinds]

# Imports handler.py as Lambda's bootstrap does and answers the events; reports where the model's libraries came from.
DRIVER = """
import json, sys
import handler

class Context:
    aws_request_id = "test-request-id"
    function_name = "sklambda-test-predict"
    memory_limit_in_mb = 1024
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:sklambda-test-predict"
    log_group_name = "/aws/lambda/sklambda-test-predict"
    log_stream_name = "stream"
    def get_remaining_time_in_millis(self):
        return 10000

responses = [handler.handler(event, Context()) for event in json.load(sys.stdin)]
modules = {name: getattr(sys.modules.get(name), "__file__", None) for name in json.loads(sys.argv[1])}
print(json.dumps({"responses": responses, "modules": modules}))
"""

# Trained in the 1.5.2 environment, under the Lambda Python.
TRAIN_OLD = """
import sys
import joblib
from sklearn.datasets import load_iris
from sklearn.ensemble import RandomForestClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
X, y = load_iris(return_X_y=True)
joblib.dump(make_pipeline(StandardScaler(), RandomForestClassifier(n_estimators=10, random_state=0)).fit(X, y),
            sys.argv[1])
"""
OLD_STACK = ("scikit-learn==1.5.2", "numpy==2.1.3", "scipy==1.14.1", "joblib==1.4.2")


@dataclass(frozen=True)
class PackagedKind:
    model_dir: Path
    rows: list[list[float]]
    expected: list[Any]
    # Top-level modules the model's own code comes from, and where they must be imported from.
    modules: dict[str, Path]


def normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def sklambda_package(model_file: Path, model_dir: Path, *options: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "sklambda.cli", "package", str(model_file), "--model-dir", str(model_dir), *options],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=1200,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-4000:]


@functools.cache
def packaged(kind: str, target_python: Path) -> PackagedKind:
    root = ARTIFACTS / f"kind-{kind}"
    if root.exists():
        subprocess.run(["rm", "-rf", str(root)], check=True)
    root.mkdir(parents=True)
    model_file, model_dir = root / "model.joblib", root / "model"
    if kind == "sklearn-1.5.2":
        env = ensure_env(OLD_STACK, python=str(target_python))
        trained = subprocess.run([str(env.python), "-c", TRAIN_OLD, str(model_file)], capture_output=True, text=True)
        assert trained.returncode == 0, trained.stderr
        rows = rows_of(IRIS_X, 7)
        # The default way: sklambda creates (or reuses) an environment with the pickle's scikit-learn.
        sklambda_package(model_file, model_dir, "--example", "5.1,3.5,1.4,0.2")
        expected = predict_in_env(env, model_file, rows).predictions
        return PackagedKind(model_dir, rows, expected, {})
    if kind == "user-code":
        package_dir = write_user_package(root / "team-repo", "team_transformers")
        model = user_code_pipeline(package_dir)
        options: tuple[str, ...] = ("--code", str(package_dir))
        x = IRIS_X
    else:
        model, x = {
            "xgb-classifier": (xgb_classifier(), IRIS_X),
            "xgb-regressor": (xgb_regressor(), DIABETES_X),
            "lgbm-pipeline": (lgbm_pipeline(), IRIS_X),
        }[kind]
        options = ()
    joblib.dump(model, model_file)
    sklambda_package(model_file, model_dir, "--example", ",".join(map(str, x[0].tolist())), *options)
    rows = rows_of(x, 7)
    modules = {"team_transformers": model_dir / "code" / "team_transformers"} if kind == "user-code" else {}
    return PackagedKind(model_dir, rows, model.predict(np.asarray(rows)).tolist(), modules)


KINDS = [
    "xgb-classifier",
    "xgb-regressor",
    "lgbm-pipeline",
    "user-code",
    # The first run creates the 1.5.2 environments (cached under ~/.cache/sklambda/envs afterwards).
    pytest.param("sklearn-1.5.2", marks=pytest.mark.slow_env),
]


@pytest.fixture(scope="session", params=KINDS)
def kind_build(request: pytest.FixtureRequest, sam: Path, target_python: Path) -> tuple[PackagedKind, SamBuild]:
    kind = packaged(request.param, target_python)
    return kind, sam_build("x86_64", resource="ModelLayer", model_dir=kind.model_dir, label=f"kind-{request.param}")


def installed_distributions(site: Path) -> dict[str, tuple[str, list[str]]]:
    """name -> (version, the names it requires unconditionally) from the *.dist-info directories pip wrote."""
    found = {}
    for info in site.glob("*.dist-info"):
        metadata = Parser().parsestr((info / "METADATA").read_text(encoding="utf-8"))
        requires = [
            normalize(re.split(r"[\s<>=!~;\[(]", requirement, maxsplit=1)[0])
            for requirement in metadata.get_all("Requires-Dist") or []
            if "extra ==" not in requirement
        ]
        found[normalize(metadata["Name"])] = (metadata["Version"], requires)
    return found


def test_the_layer_holds_the_manifest_s_stack_and_requirements_and_nothing_else(
    kind_build: tuple[PackagedKind, SamBuild],
) -> None:
    kind, build = kind_build
    manifest = json.loads((kind.model_dir / "model.json").read_text())
    installed = installed_distributions(build.layer_dir / "python")
    versions = {normalize(name): value for name, value in manifest["versions"].items()}

    base = {
        normalize(line.split("==")[0]): line.split("==")[1].strip()
        for line in (REPO_ROOT / "layers" / "model" / "requirements.txt").read_text().splitlines()
        if "==" in line and not line.startswith("#")
    }
    wanted = {name: versions.get(name, pinned) for name, pinned in base.items()}
    drop_in = {"xgboost": "xgboost-cpu"}
    wanted.update({drop_in.get(name, name): value for name, value in manifest["requirements"].items()})
    for name, version in wanted.items():
        assert installed[name][0] == version, (name, installed.get(name))
    # Beyond those, only what the model's requirements themselves depend on.
    their_dependencies = {dependency for name in wanted for dependency in installed[name][1]}
    assert set(installed) - set(wanted) <= their_dependencies, sorted(set(installed) - set(wanted))
    assert "xgboost" not in installed
    # The model directory as packaged, its code included.
    shipped = sorted(
        str(path.relative_to(build.layer_dir / "model"))
        for path in (build.layer_dir / "model").rglob("*")
        if path.is_file()
    )
    assert shipped == sorted(["model.json", "model.joblib", *manifest["code"]])


def test_the_built_function_and_layer_answer_as_the_model_does(
    kind_build: tuple[PackagedKind, SamBuild], x86_build: SamBuild, target_python: Path
) -> None:
    kind, build = kind_build
    layer = build.layer_dir
    event = with_body(load_event("http-api-predict.json"), json.dumps({"instances": kind.rows}).encode())
    modules = ["sklearn", *kind.modules]
    result = subprocess.run(
        [str(target_python), "-c", DRIVER, json.dumps(modules)],
        input=json.dumps([event]),
        env={
            "PATH": "/usr/bin:/bin",
            "MODEL_DIR": str(layer / "model"),
            "PYTHONPATH": f"{x86_build.function_dir}:{layer / 'python'}",
            "PYTHONDONTWRITEBYTECODE": "1",
            "AWS_LAMBDA_FUNCTION_NAME": "sklambda-test-predict",
            "AWS_DEFAULT_REGION": "us-east-1",
        },
        cwd=build.build_dir,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    assert "InconsistentVersionWarning" not in result.stderr
    output = json.loads(result.stdout.strip().splitlines()[-1])
    (response,) = output["responses"]
    assert response["statusCode"] == 200, response
    assert json.loads(response["body"])["predictions"] == kind.expected
    assert output["modules"]["sklearn"].startswith(str(layer / "python"))
    for module, directory in kind.modules.items():
        assert output["modules"][module].startswith(str(layer / "model" / directory.relative_to(kind.model_dir)))


@pytest.mark.slow_env
def test_a_model_of_another_scikit_learn_records_that_one(target_python: Path) -> None:
    kind = packaged("sklearn-1.5.2", target_python)
    versions = json.loads((kind.model_dir / "model.json").read_text())["versions"]
    assert versions["scikit-learn"] == "1.5.2" != sklearn.__version__
    assert versions["python"].startswith(f"{target_python.name.removeprefix('python')}.")
