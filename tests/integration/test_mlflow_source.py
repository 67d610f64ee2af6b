"""sklambda.mlflow_source against real MLflow: a sqlite registry and local artifacts made here, offline."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import sklearn
import yaml
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline

from sklambda.mlflow_source import SignatureFeature, SourceError, is_mlflow_source, resolve_mlflow_source
from tests.support.data import REPO_ROOT
from tests.support.mlflow_registry import (
    ALIAS,
    HTTP_VARIABLES,
    MODEL_NAME,
    PIP_REQUIREMENTS,
    SKOPS_TRUSTED_TYPES,
    Registry,
    isolate_from_user_settings,
    registry_in,
    save_model_dir,
)


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registry]:
    with registry_in(tmp_path_factory.mktemp("mlflow")) as built:
        yield built


@pytest.fixture
def tracking(registry: Registry, monkeypatch: pytest.MonkeyPatch) -> Registry:
    isolate_from_user_settings(monkeypatch, registry.tracking_uri)
    return registry


EXPECTED_FEATURES = [
    SignatureFeature(name="age", type="number", nullable=False, mlflow_type="long"),
    SignatureFeature(name="income", type="number", nullable=True, mlflow_type="double"),
    SignatureFeature(name="city", type="category", nullable=False, mlflow_type="string"),
]


def expected_example(example: pd.DataFrame) -> list[dict[str, Any]]:
    return [
        {
            "age": int(row.age),
            "income": None if np.isnan(row.income) else float(row.income),
            "city": str(row.city),
        }
        for row in example.itertuples()
    ]


def mlflow_version() -> str:
    import mlflow

    return str(mlflow.__version__)


def written_requirements() -> list[str]:
    """MLflow writes the model's pip requirements with its own pin first."""
    return [f"mlflow=={mlflow_version()}", *PIP_REQUIREMENTS]


def assert_predicts_like(estimator: Any, logged: Pipeline, frame: pd.DataFrame) -> None:
    np.testing.assert_array_equal(estimator.predict(frame), logged.predict(frame))
    np.testing.assert_array_equal(estimator.predict_proba(frame), logged.predict_proba(frame))


def test_the_two_versions_answer_differently(registry: Registry) -> None:
    """Otherwise resolving the wrong version could not fail the tests below."""
    first, second = (run.model.predict_proba(registry.frame) for run in registry.runs)
    assert not np.allclose(first, second)


def test_resolve_by_alias(tracking: Registry) -> None:
    resolved = resolve_mlflow_source(f"models:/{MODEL_NAME}@{ALIAS}")
    second = tracking.runs[1]
    assert_predicts_like(resolved.estimator, second.model, tracking.frame)
    assert resolved.registry is not None
    assert (resolved.registry.name, resolved.registry.version, resolved.registry.alias) == (MODEL_NAME, "2", ALIAS)
    assert resolved.serialization_format == "skops"
    assert resolved.skops_trusted_types == SKOPS_TRUSTED_TYPES
    assert resolved.features == EXPECTED_FEATURES
    assert resolved.example == expected_example(tracking.example)
    assert resolved.lineage.run_id == second.run_id
    assert resolved.lineage.model_id == second.model_id
    assert resolved.lineage.metrics == {"accuracy": second.accuracy}
    assert resolved.lineage.source_uri == f"models:/{MODEL_NAME}@{ALIAS}"
    assert resolved.lineage.tracking_uri == tracking.tracking_uri
    assert second.model_id in resolved.lineage.artifact_uri
    assert resolved.sklearn_version == sklearn.__version__
    assert resolved.requirements.pip == written_requirements()
    assert resolved.requirements.pins() == {"mlflow": mlflow_version(), "scikit-learn": sklearn.__version__}
    assert resolved.requirements.python == ".".join(map(str, sys.version_info[:3]))


def test_resolve_by_version(tracking: Registry) -> None:
    resolved = resolve_mlflow_source(f"models:/{MODEL_NAME}/1")
    first = tracking.runs[0]
    assert_predicts_like(resolved.estimator, first.model, tracking.frame)
    assert resolved.registry is not None
    assert (resolved.registry.version, resolved.registry.alias) == ("1", None)
    assert resolved.lineage.run_id == first.run_id
    assert resolved.lineage.metrics == {"accuracy": first.accuracy}


def test_resolve_latest_version(tracking: Registry) -> None:
    resolved = resolve_mlflow_source(f"models:/{MODEL_NAME}/latest")
    assert resolved.registry is not None
    assert (resolved.registry.version, resolved.registry.alias) == ("2", None)
    assert_predicts_like(resolved.estimator, tracking.runs[1].model, tracking.frame)


def test_resolve_by_run(tracking: Registry) -> None:
    first = tracking.runs[0]
    resolved = resolve_mlflow_source(f"runs:/{first.run_id}/model")
    assert_predicts_like(resolved.estimator, first.model, tracking.frame)
    assert resolved.registry is None
    assert resolved.lineage.run_id == first.run_id
    assert resolved.lineage.model_id == first.model_id
    assert resolved.lineage.metrics == {"accuracy": first.accuracy}
    assert resolved.features == EXPECTED_FEATURES


def test_resolve_by_logged_model_id(tracking: Registry) -> None:
    second = tracking.runs[1]
    resolved = resolve_mlflow_source(f"models:/{second.model_id}")
    assert_predicts_like(resolved.estimator, second.model, tracking.frame)
    assert resolved.registry is None
    assert resolved.lineage.run_id == second.run_id
    assert resolved.lineage.metrics == {"accuracy": second.accuracy}


@pytest.mark.parametrize(
    ("serialization_format", "trusted"),
    [("skops", SKOPS_TRUSTED_TYPES), ("cloudpickle", None), ("pickle", None)],
)
def test_resolve_directory_in_each_serialization(
    registry: Registry, tmp_path: Path, serialization_format: str, trusted: list[str] | None
) -> None:
    logged = registry.runs[0].model
    model_dir = tmp_path / "model"
    save_model_dir(logged, model_dir, serialization_format, registry.example)
    assert is_mlflow_source(str(model_dir))
    resolved = resolve_mlflow_source(str(model_dir))
    assert resolved.serialization_format == serialization_format
    assert resolved.skops_trusted_types == trusted
    assert_predicts_like(resolved.estimator, logged, registry.frame)
    assert resolved.features == EXPECTED_FEATURES
    assert resolved.example == expected_example(registry.example)
    assert resolved.registry is None
    assert resolved.lineage.source_uri == str(model_dir.resolve())
    assert (resolved.lineage.run_id, resolved.lineage.tracking_uri, resolved.lineage.metrics) == (None, None, {})
    assert resolved.requirements.pip == written_requirements()


def test_resolve_downloaded_run_directory_keeps_its_run(tracking: Registry, tmp_path: Path) -> None:
    import mlflow.artifacts

    first = tracking.runs[0]
    local = mlflow.artifacts.download_artifacts(f"runs:/{first.run_id}/model", dst_path=str(tmp_path))
    resolved = resolve_mlflow_source(local)
    assert resolved.lineage.run_id == first.run_id
    assert resolved.lineage.model_id == first.model_id
    assert_predicts_like(resolved.estimator, first.model, tracking.frame)


def test_resolve_array_fed_model(tmp_path: Path) -> None:
    """A model fitted on a plain array has a tensor signature: its columns are numbered as packaging numbers them."""
    import mlflow.sklearn
    from sklearn.datasets import load_iris

    features, label = load_iris(return_X_y=True)
    model = LogisticRegression(max_iter=500).fit(features, label)
    model_dir = tmp_path / "iris"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        mlflow.sklearn.save_model(model, str(model_dir), input_example=features[:2], pip_requirements=PIP_REQUIREMENTS)
    resolved = resolve_mlflow_source(str(model_dir))
    assert [(feature.name, feature.type, feature.nullable) for feature in resolved.features or []] == [
        (f"f{index}", "number", False) for index in range(4)
    ]
    assert resolved.example == [{f"f{index}": float(value) for index, value in enumerate(row)} for row in features[:2]]
    np.testing.assert_array_equal(resolved.estimator.predict(features), model.predict(features))


def test_requirements_from_conda_yaml_when_there_is_no_requirements_txt(registry: Registry, tmp_path: Path) -> None:
    """Models saved by older MLflow versions carry only conda.yaml."""
    import mlflow.sklearn

    model_dir = tmp_path / "model"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        mlflow.sklearn.save_model(
            registry.runs[0].model, str(model_dir), serialization_format="pickle", pip_requirements=PIP_REQUIREMENTS
        )
    (model_dir / "requirements.txt").unlink()
    (model_dir / "python_env.yaml").unlink()
    resolved = resolve_mlflow_source(str(model_dir))
    assert resolved.requirements.pip == written_requirements()
    assert resolved.requirements.python == ".".join(map(str, sys.version_info[:3]))
    assert resolved.features is None
    assert resolved.example is None


def one_line_error(source: str) -> str:
    with pytest.raises(SourceError) as raised:
        resolve_mlflow_source(source)
    message = raised.value.message
    assert "\n" not in message
    assert str(raised.value) == message
    return message


def test_unknown_alias(tracking: Registry) -> None:
    message = one_line_error(f"models:/{MODEL_NAME}@nightly")
    assert message == f"registered model {MODEL_NAME!r} has no alias 'nightly' (its aliases: {ALIAS})"


def test_unknown_version(tracking: Registry) -> None:
    assert one_line_error(f"models:/{MODEL_NAME}/9") == f"registered model {MODEL_NAME!r} has no version 9"


def test_version_that_is_not_a_number(tracking: Registry) -> None:
    message = one_line_error(f"models:/{MODEL_NAME}/Production")
    assert "'Production' is not a version number" in message


def test_unknown_registered_model(tracking: Registry) -> None:
    message = one_line_error("models:/fraud@champion")
    assert message.startswith(f"no registered model 'fraud' in the registry at {tracking.tracking_uri}")


def test_unknown_run(tracking: Registry) -> None:
    message = one_line_error("runs:/0123456789abcdef0123456789abcdef/model")
    assert message == f"no run 0123456789abcdef0123456789abcdef in the tracking store at {tracking.tracking_uri}"


def test_run_without_that_model_path(tracking: Registry) -> None:
    run_id = tracking.runs[0].run_id
    message = one_line_error(f"runs:/{run_id}/elsewhere")
    assert message.startswith(f"runs:/{run_id}/elsewhere names no model")


def test_unknown_logged_model(tracking: Registry) -> None:
    message = one_line_error("models:/m-0123456789abcdef")
    assert message == f"no logged model m-0123456789abcdef in the tracking store at {tracking.tracking_uri}"


def test_tracking_uri_not_set(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    message = one_line_error(f"models:/{MODEL_NAME}@{ALIAS}")
    assert "MLFLOW_TRACKING_URI is not set" in message


def test_directory_without_mlmodel(tmp_path: Path) -> None:
    (tmp_path / "model.joblib").write_bytes(b"")
    message = one_line_error(str(tmp_path))
    assert message.startswith(f"{tmp_path} has no MLmodel file, so it is not an MLflow model")


def test_mlmodel_that_does_not_parse(tmp_path: Path) -> None:
    # YAML's parse errors span several lines: the message must still be one.
    (tmp_path / "MLmodel").write_text("flavors: [sklearn\n  pickled_model: model.pkl\n")
    message = one_line_error(str(tmp_path))
    assert message.startswith(f"{tmp_path}: MLmodel does not parse: ")


def test_not_an_mlflow_source(tmp_path: Path) -> None:
    missing = tmp_path / "model.joblib"
    assert not is_mlflow_source(str(missing))
    assert "is not an MLflow model source" in one_line_error(str(missing))
    assert "is not an MLflow model URI" in one_line_error("models:/a/b/c/d")


def test_model_without_the_sklearn_flavor(tmp_path: Path) -> None:
    import mlflow.pyfunc
    from mlflow.pyfunc.model import PythonModel

    class Constant(PythonModel):
        def predict(self, context: Any, model_input: list[str], params: Any = None) -> list[int]:
            return [0] * len(model_input)

    model_dir = tmp_path / "pyfunc"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        mlflow.pyfunc.save_model(str(model_dir), python_model=Constant(), pip_requirements=[])
    message = one_line_error(str(model_dir))
    assert message == (
        f"{model_dir.resolve()} is an MLflow model without the sklearn flavor (flavors: python_function); "
        f"sklambda serves scikit-learn models logged with mlflow.sklearn"
    )


def skops_model_trusting(registry: Registry, model_dir: Path, trusted: list[str]) -> Path:
    """A skops model directory whose MLmodel is edited to trust exactly `trusted`."""
    import mlflow.sklearn

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        mlflow.sklearn.save_model(
            registry.runs[0].model,
            str(model_dir),
            skops_trusted_types=SKOPS_TRUSTED_TYPES,
            pip_requirements=PIP_REQUIREMENTS,
        )
    mlmodel_path = model_dir / "MLmodel"
    mlmodel = yaml.safe_load(mlmodel_path.read_text())
    mlmodel["flavors"]["sklearn"]["skops_trusted_types"] = trusted
    mlmodel_path.write_text(yaml.safe_dump(mlmodel))
    return model_dir


def test_skops_trust_that_would_run_code_is_refused(registry: Registry, tmp_path: Path) -> None:
    # A crafted MLmodel can list any type as trusted; loading must not take its word for a dangerous one.
    model_dir = skops_model_trusting(registry, tmp_path / "model", [*SKOPS_TRUSTED_TYPES, "builtins.eval"])
    assert "trusts ['builtins.eval'] for skops" in one_line_error(str(model_dir))


def test_skops_file_needing_more_than_mlmodel_trusts(registry: Registry, tmp_path: Path) -> None:
    model_dir = skops_model_trusting(registry, tmp_path / "model", [])
    message = one_line_error(str(model_dir))
    assert message.startswith(f"{model_dir.resolve()}: model.skops needs skops types that MLmodel does not trust")
    assert "numpy.dtype" in message


def unused_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_unreachable_tracking_server_fails_fast(monkeypatch: pytest.MonkeyPatch) -> None:
    uri = f"http://127.0.0.1:{unused_port()}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    for name in HTTP_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    started = time.monotonic()
    message = one_line_error(f"models:/{MODEL_NAME}@{ALIAS}")
    # MLflow's own defaults (7 retries, exponential backoff) would take minutes.
    assert time.monotonic() - started < 15
    assert message.startswith(f"cannot reach the MLflow tracking server at {uri} (connection refused or host unknown)")


def test_silent_tracking_server_times_out(monkeypatch: pytest.MonkeyPatch) -> None:
    """A server that accepts the connection and never answers: the user's MLFLOW_HTTP_REQUEST_* settings apply."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        uri = f"http://127.0.0.1:{listener.getsockname()[1]}"
        monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
        monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "1")
        monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
        started = time.monotonic()
        message = one_line_error(f"runs:/{'0' * 32}/model")
        assert time.monotonic() - started < 10
    assert message.startswith(f"cannot reach the MLflow tracking server at {uri} (no answer within 1 s)")


def test_cli_does_not_import_mlflow() -> None:
    probe = (
        "import sys, sklambda.cli, sklambda.mlflow_source; "
        "print(sorted(name for name in sys.modules if name == 'mlflow' or name.startswith('mlflow.')))"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, cwd=REPO_ROOT, check=True
    )
    assert result.stdout.strip() == "[]"
