"""The `sklambda` CLI as users run it: package their own models, serve them, invoke the handler, train from CSV."""

from __future__ import annotations

import csv
import json
from collections.abc import Callable
from pathlib import Path

import httpx
import joblib
import numpy as np
import pytest
from predict_service.manifest import read_manifest
from sklearn.datasets import load_iris
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer, StandardScaler

from sklambda.served import ServedApp
from tests.support.cli import run_cli
from tests.support.data import iris_rows


@pytest.fixture(scope="module")
def user_models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """What a data scientist hands over: a RandomForest and a LogisticRegression pipeline, fitted on arrays."""
    folder = tmp_path_factory.mktemp("user")
    iris = load_iris()
    forest = RandomForestClassifier(n_estimators=30, random_state=0).fit(iris.data, iris.target)
    pipeline = make_pipeline(StandardScaler(), LogisticRegression(max_iter=500)).fit(iris.data, iris.target)
    paths = {"forest": folder / "forest.joblib", "pipeline": folder / "pipeline.joblib"}
    joblib.dump(forest, paths["forest"])
    joblib.dump(pipeline, paths["pipeline"])
    return paths


@pytest.mark.parametrize(
    ("kind", "extra_args", "expected_features"),
    [
        (
            "forest",
            [
                "--features",
                "sepal_length,sepal_width,petal_length,petal_width",
                "--name",
                "iris-rf",
                "--version",
                "2024.1",
            ],
            ["sepal_length", "sepal_width", "petal_length", "petal_width"],
        ),
        ("pipeline", [], ["f0", "f1", "f2", "f3"]),
    ],
)
def test_package_then_serve_matches_model_predict(
    user_models: dict[str, Path],
    tmp_path: Path,
    serve: Callable[..., ServedApp],
    kind: str,
    extra_args: list[str],
    expected_features: list[str],
) -> None:
    model_dir = tmp_path / "model"
    packaged = run_cli("package", str(user_models[kind]), "--model-dir", str(model_dir), *extra_args)
    assert packaged.returncode == 0, packaged.stderr
    manifest = read_manifest(model_dir)
    assert manifest.feature_names == expected_features
    if kind == "forest":
        assert (manifest.name, manifest.version) == ("iris-rf", "2024.1")
    else:
        assert manifest.version == manifest.sha256[:12]

    server = serve(model_dir)
    assert server.wait_ready().status_code == 200
    model = joblib.load(user_models[kind])
    rows = iris_rows(300, seed=7)
    response = httpx.post(f"{server.url}/predict", json={"instances": rows.tolist()}, timeout=10)
    assert response.status_code == 200
    assert response.json()["predictions"] == model.predict(rows).tolist()
    named = dict(zip(expected_features, rows[0].tolist(), strict=True))
    single = httpx.post(f"{server.url}/predict", json={"features": named, "return_probabilities": True}).json()
    assert single["prediction"] == model.predict(rows[:1]).tolist()
    assert list(single["probabilities"][0].values()) == pytest.approx(model.predict_proba(rows[:1])[0].tolist())


@pytest.mark.parametrize(("kind", "trusted"), [("forest", ["sklearn.tree._tree.Tree"]), ("pipeline", [])])
def test_package_as_skops_then_serve_matches_model_predict(
    user_models: dict[str, Path], tmp_path: Path, serve: Callable[..., ServedApp], kind: str, trusted: list[str]
) -> None:
    model_dir = tmp_path / "model"
    packaged = run_cli("package", str(user_models[kind]), "--format", "skops", "--model-dir", str(model_dir))
    assert packaged.returncode == 0, packaged.stderr
    manifest = read_manifest(model_dir)
    assert manifest.format == "skops"
    assert manifest.skops is not None and manifest.skops.trusted_types == trusted
    assert sorted(path.name for path in model_dir.iterdir()) == ["model.json", "model.skops"]
    # The user reviews the trusted types at packaging: every one is printed.
    if trusted:
        assert "model.skops needs 1 type(s) beyond skops' defaults" in packaged.stderr
        assert all(f"\n  {name}\n" in packaged.stderr for name in trusted)
    else:
        assert "model.skops needs no types beyond skops' defaults" in packaged.stderr
    assert "runtime sklearn, model.skops" in packaged.stderr

    server = serve(model_dir)
    assert server.wait_ready().status_code == 200
    model = joblib.load(user_models[kind])
    rows = iris_rows(300, seed=8)
    response = httpx.post(f"{server.url}/predict", json={"instances": rows.tolist(), "return_probabilities": True})
    assert response.status_code == 200
    assert response.json()["predictions"] == model.predict(rows).tolist()
    served = [list(row.values()) for row in response.json()["probabilities"]]
    assert np.allclose(served, model.predict_proba(rows), rtol=0, atol=1e-12)
    assert httpx.get(f"{server.url}/model").json()["format"] == "skops"


def test_package_skops_refusals_are_one_line(user_models: dict[str, Path], tmp_path: Path) -> None:
    careless = make_pipeline(FunctionTransformer(np.log1p), LogisticRegression(max_iter=500))
    careless.fit(load_iris().data, load_iris().target)
    careless.steps[0][1].func = eval
    joblib.dump(careless, tmp_path / "careless.joblib")
    for args, message in [
        ([str(user_models["forest"]), "--runtime", "onnx"], "--format skops is for the scikit-learn runtime"),
        ([str(tmp_path / "careless.joblib")], "references ['builtins.eval'], which can run code"),
    ]:
        result = run_cli("package", *args, "--format", "skops", "--model-dir", str(tmp_path / "model"))
        assert result.returncode == 1
        assert message in result.stderr
        assert len(result.stderr.strip().splitlines()) <= 2  # at most the progress line, then one clear error line
        assert not (tmp_path / "model").exists()


def test_package_refuses_files_that_are_not_models(tmp_path: Path) -> None:
    not_a_model = tmp_path / "numbers.joblib"
    joblib.dump({"weights": [1, 2, 3]}, not_a_model)
    garbage = tmp_path / "garbage.joblib"
    garbage.write_bytes(b"this is not a pickle")
    for path, message in [
        (not_a_model, "has no predict method"),
        (garbage, "does not load with joblib"),
        (tmp_path / "absent.joblib", "does not exist"),
    ]:
        result = run_cli("package", str(path), "--model-dir", str(tmp_path / "model"))
        assert result.returncode == 1
        assert message in result.stderr
        assert len(result.stderr.strip().splitlines()) == 2  # the progress line, then one clear error line
        assert not (tmp_path / "model").exists()


def test_package_refuses_wrong_feature_count(user_models: dict[str, Path], tmp_path: Path) -> None:
    result = run_cli("package", str(user_models["forest"]), "--features", "a,b", "--model-dir", str(tmp_path / "m"))
    assert result.returncode == 1
    assert "--features names 2 columns but the model expects 4" in result.stderr


def test_serve_reports_not_ready_instead_of_crashing(tmp_path: Path, serve: Callable[..., ServedApp]) -> None:
    server = serve(tmp_path / "no-model-here")
    response = server.wait_ready()
    assert response.status_code == 503
    assert response.json()["error"] == "The model is not loaded; see the service log for why"
    log = server.stop()
    assert "does not exist: run `sklambda train`" in log


def test_invoke_runs_handler_on_event_file_and_built_event(demo_model_dir: Path) -> None:
    from_file = run_cli("invoke", "events/http-api-predict.json", "--model-dir", str(demo_model_dir))
    assert from_file.returncode == 0, from_file.stderr
    response = json.loads(from_file.stdout)
    assert response["statusCode"] == 200
    assert response["body"]["prediction"] == [0]

    built = run_cli(
        "invoke", "--path", "/predict", "--body", '{"features": [1, 2]}', "--model-dir", str(demo_model_dir)
    )
    response = json.loads(built.stdout)
    assert response["statusCode"] == 422
    assert "expected 4 values" in response["body"]["error"]


def test_train_from_csv_with_categorical_column(tmp_path: Path, serve: Callable[..., ServedApp]) -> None:
    rng = np.random.default_rng(0)
    csv_path = tmp_path / "houses.csv"
    with csv_path.open("w", newline="") as stream:
        writer = csv.writer(stream)
        writer.writerow(["area", "rooms", "city", "expensive"])
        for _ in range(200):
            area, rooms, city = rng.uniform(30, 200), int(rng.integers(1, 6)), rng.choice(["paris", "lyon", "nice"])
            writer.writerow(
                [round(area, 1), rooms, city, "yes" if area * (2 if city == "paris" else 1) > 150 else "no"]
            )
    model_dir = tmp_path / "model"
    trained = run_cli("train", "--csv", str(csv_path), "--target", "expensive", "--model-dir", str(model_dir))
    assert trained.returncode == 0, trained.stderr
    manifest = read_manifest(model_dir)
    assert manifest.task == "classification"
    assert manifest.classes == ["no", "yes"]
    assert [(f.name, f.type) for f in manifest.features] == [
        ("area", "number"),
        ("rooms", "number"),
        ("city", "category"),
    ]
    assert manifest.features[2].categories == ["lyon", "nice", "paris"]
    assert manifest.metrics["accuracy"] > 0.8

    server = serve(model_dir)
    assert server.wait_ready().status_code == 200
    ok = httpx.post(f"{server.url}/predict", json={"features": {"area": 120.0, "rooms": 3, "city": "paris"}})
    assert ok.status_code == 200 and ok.json()["prediction"] == ["yes"]
    unknown_city = httpx.post(f"{server.url}/predict", json={"features": [120.0, 3, "rome"]})
    assert unknown_city.status_code == 422
    assert 'city must be one of ["lyon", "nice", "paris"]' in unknown_city.json()["error"]
    number_as_city = httpx.post(f"{server.url}/predict", json={"features": [120.0, 3, 7]})
    assert number_as_city.status_code == 422


def test_train_csv_errors_are_one_line(tmp_path: Path) -> None:
    csv_path = tmp_path / "bad.csv"
    csv_path.write_text("a,b\n1,2\n")
    result = run_cli("train", "--csv", str(csv_path), "--target", "zzz", "--model-dir", str(tmp_path / "m"))
    assert result.returncode == 1
    assert "Target column 'zzz' is not in" in result.stderr
