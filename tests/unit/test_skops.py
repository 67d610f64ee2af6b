"""`--format skops`: model.skops is written by the real packaging code and loaded by the real runtime, trusting exactly
the types listed in model.json; tampered files, types beyond that list and dangerous types are refused."""

from __future__ import annotations

import builtins
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pytest
import skops.io  # type: ignore[import-untyped]  # skops ships no type information
from predict_service.errors import ModelLoadError
from predict_service.manifest import (
    MANIFEST_FILENAME,
    MODEL_FILENAME,
    SKOPS_FILENAME,
    FeatureSpec,
    dangerous_types,
    file_sha256,
    read_manifest,
)
from predict_service.runtimes.sklearn import SklearnRuntime
from sklearn.datasets import load_iris
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer, StandardScaler

from sklambda.artifact import PackagingError, write_model_dir
from sklambda.packaging import package_model
from sklambda.training import train_demo
from tests.support.data import REPO_ROOT, iris_rows, model_input

TREE = "sklearn.tree._tree.Tree"


@pytest.fixture(scope="module")
def user_models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The two kinds of model a user brings: a forest (needs one type beyond skops' defaults) and a pipeline."""
    folder = tmp_path_factory.mktemp("user")
    iris = load_iris()
    models = {
        "forest": RandomForestClassifier(n_estimators=20, random_state=0).fit(iris.data, iris.target),
        "pipeline": make_pipeline(StandardScaler(), LogisticRegression(max_iter=500)).fit(iris.data, iris.target),
    }
    paths = {}
    for kind, model in models.items():
        paths[kind] = folder / f"{kind}.joblib"
        joblib.dump(model, paths[kind])
    return paths


def package_skops(model_file: Path, model_dir: Path) -> None:
    package_model(
        model_file,
        model_dir,
        feature_names=None,
        name=None,
        version=None,
        example=None,
        class_names=None,
        model_format="skops",
    )


@pytest.fixture(scope="module")
def packaged(user_models: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Each user model packaged with --format skops. Tests must not modify these directories."""
    dirs = {}
    for kind, path in user_models.items():
        dirs[kind] = tmp_path_factory.mktemp(f"skops-{kind}") / "model"
        package_skops(path, dirs[kind])
    return dirs


@pytest.fixture
def forest_copy(packaged: dict[str, Path], tmp_path: Path) -> Path:
    target = tmp_path / "model"
    shutil.copytree(packaged["forest"], target)
    return target


def edit_manifest(model_dir: Path, edit: Callable[[dict[str, Any]], None]) -> None:
    path = model_dir / MANIFEST_FILENAME
    manifest = json.loads(path.read_text())
    edit(manifest)
    path.write_text(json.dumps(manifest))


@pytest.mark.parametrize(("kind", "trusted"), [("forest", [TREE]), ("pipeline", [])])
def test_round_trip_serves_the_same_predictions_as_the_users_model(
    user_models: dict[str, Path], packaged: dict[str, Path], kind: str, trusted: list[str]
) -> None:
    model_dir = packaged[kind]
    manifest = read_manifest(model_dir)
    assert (manifest.format, manifest.runtime) == ("skops", "sklearn")
    assert manifest.skops is not None
    assert manifest.skops.trusted_types == trusted
    assert manifest.skops.skops == skops.__version__
    # The hash is of the file that ships, and no pickle ships at all.
    assert manifest.sha256 == file_sha256(model_dir / SKOPS_FILENAME)
    assert sorted(path.name for path in model_dir.iterdir()) == [MANIFEST_FILENAME, SKOPS_FILENAME]

    runtime = SklearnRuntime.load(model_dir)
    reference = joblib.load(user_models[kind])
    rows = iris_rows(2000, seed=3)
    result = runtime.predict(model_input(runtime, rows.tolist()), True)
    assert result.labels == reference.predict(rows).tolist()
    assert result.probabilities is not None
    assert [list(row.values()) for row in result.probabilities] == reference.predict_proba(rows).tolist()


def test_tampered_file_is_refused_by_sha256_before_skops_reads_it(forest_copy: Path, packaged: dict[str, Path]) -> None:
    # A valid skops file, just not the packaged one.
    shutil.copyfile(packaged["pipeline"] / SKOPS_FILENAME, forest_copy / SKOPS_FILENAME)
    with pytest.raises(ModelLoadError, match=r"Refusing to load .*model\.skops: its sha256 .* does not match"):
        SklearnRuntime.load(forest_copy)


def test_type_the_manifest_does_not_trust_is_refused_by_name(forest_copy: Path) -> None:
    edit_manifest(forest_copy, lambda manifest: manifest["skops"].update(trusted_types=[]))
    with pytest.raises(ModelLoadError) as raised:
        SklearnRuntime.load(forest_copy)
    assert f"needs types that model.json does not trust: ['{TREE}']" in raised.value.message
    assert raised.value.detail["untrusted_types"] == [TREE]


def test_swapped_file_with_rehashed_manifest_still_cannot_bring_a_new_type(forest_copy: Path) -> None:
    """Whoever rewrites the sha256 along with the file still cannot widen the trust: the list in model.json holds."""
    skops.io.dump(make_pipeline(FunctionTransformer(os.system), LogisticRegression()), forest_copy / SKOPS_FILENAME)
    sha256 = file_sha256(forest_copy / SKOPS_FILENAME)
    edit_manifest(forest_copy, lambda manifest: manifest.update(sha256=sha256))
    with pytest.raises(ModelLoadError, match=r"does not trust: \['posix\.system'\]"):
        SklearnRuntime.load(forest_copy)


def test_hand_edited_dangerous_trust_is_refused_on_read(forest_copy: Path) -> None:
    edit_manifest(forest_copy, lambda manifest: manifest["skops"].update(trusted_types=[TREE, "builtins.eval"]))
    with pytest.raises(ModelLoadError) as raised:
        SklearnRuntime.load(forest_copy)
    assert "not a valid sklambda manifest (skops: trusted_types lists ['builtins.eval']" in raised.value.message


def fitted_pipeline_calling(function: Callable[..., Any]) -> Any:
    """A fitted pipeline whose first step has since been pointed at `function`, as a careless or hostile notebook
    could leave it."""
    iris = load_iris()
    model = make_pipeline(FunctionTransformer(np.log1p), LogisticRegression(max_iter=500)).fit(iris.data, iris.target)
    model.steps[0][1].func = function
    return model


@pytest.mark.parametrize(
    ("function", "name"),
    [
        (builtins.eval, "builtins.eval"),
        (os.system, "posix.system"),
        (subprocess.check_output, "subprocess.check_output"),
    ],
)
def test_dangerous_types_are_refused_at_packaging(tmp_path: Path, function: Callable[..., Any], name: str) -> None:
    model_file = tmp_path / "careless.joblib"
    joblib.dump(fitted_pipeline_calling(function), model_file)
    with pytest.raises(PackagingError, match=rf"references \['{name}'\], which can run code") as raised:
        package_skops(model_file, tmp_path / "model")
    assert "\n" not in str(raised.value)
    assert not (tmp_path / "model").exists()


def test_harmless_functions_are_packaged(tmp_path: Path) -> None:
    model_dir = tmp_path / "model"
    iris = load_iris()
    model = make_pipeline(FunctionTransformer(np.log1p), LogisticRegression(max_iter=500)).fit(iris.data, iris.target)
    manifest = write_model_dir(
        model,
        model_dir,
        name="log",
        version="1",
        features=[FeatureSpec(name=f"f{index}") for index in range(4)],
        example=[5.0, 3.0, 1.5, 0.2],
        model_format="skops",
    )
    assert manifest.skops is not None and manifest.skops.trusted_types == []  # numpy ufuncs are skops defaults
    rows = iris_rows(200, seed=4)
    runtime = SklearnRuntime.load(model_dir)
    assert runtime.predict(model_input(runtime, rows.tolist()), False).labels == model.predict(rows).tolist()


@pytest.mark.parametrize(
    ("names", "dangerous"),
    [
        ([TREE, "numpy.log1p", "functools.partial", "sklearn.preprocessing._data.StandardScaler"], []),
        (["builtins.eval", "builtins.exec", "builtins.__import__", "builtins.getattr"], "all"),
        (["os.system", "posix.system", "nt.system", "os.path.join", "subprocess.Popen", "shutil.rmtree"], "all"),
        (["pickle.loads", "_pickle.loads", "marshal.loads", "numpy.load", "operator.methodcaller"], "all"),
        # A prefix match is by whole module names: "osmium" is not "os".
        (
            ["osmium.thing", "builtins.int", "numpy.testing_helpers.f", "numpy.testing.assert_equal"],
            ["numpy.testing.assert_equal"],
        ),
    ],
)
def test_dangerous_types_are_recognised_by_module_and_name(names: list[str], dangerous: object) -> None:
    assert dangerous_types(names) == (names if dangerous == "all" else dangerous)


def test_skops_with_the_onnx_runtime_is_refused(user_models: dict[str, Path], tmp_path: Path) -> None:
    with pytest.raises(PackagingError, match="--format skops is for the scikit-learn runtime"):
        package_model(
            user_models["pipeline"],
            tmp_path / "model",
            feature_names=None,
            name=None,
            version=None,
            example=None,
            class_names=None,
            runtime="onnx",
            model_format="skops",
        )
    assert not (tmp_path / "model").exists()


def test_manifest_naming_skops_and_onnx_is_refused(forest_copy: Path) -> None:
    edit_manifest(forest_copy, lambda manifest: manifest.update(runtime="onnx"))
    with pytest.raises(ModelLoadError, match="format 'skops' is the scikit-learn runtime's file"):
        read_manifest(forest_copy)


def test_other_scikit_learn_version_is_refused_naming_both(forest_copy: Path) -> None:
    edit_manifest(forest_copy, lambda manifest: manifest["versions"].update({"scikit-learn": "1.5.2"}))
    with pytest.raises(ModelLoadError, match=r"saved with skops by scikit-learn 1\.5\.2 but scikit-learn 1\."):
        SklearnRuntime.load(forest_copy)


def test_missing_skops_says_which_layer_to_deploy(forest_copy: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # What the default layer looks like: no skops to import.
    monkeypatch.setitem(sys.modules, "skops", None)
    monkeypatch.setitem(sys.modules, "skops.io", None)
    with pytest.raises(ModelLoadError, match="is a skops model but skops cannot be imported .*requirements-skops.txt"):
        SklearnRuntime.load(forest_copy)


def test_missing_model_file_names_model_skops(forest_copy: Path) -> None:
    (forest_copy / SKOPS_FILENAME).unlink()
    with pytest.raises(ModelLoadError, match="No model.skops in .* names format 'skops'"):
        SklearnRuntime.load(forest_copy)


def test_train_demo_as_skops_predicts_like_the_joblib_demo(demo_model_dir: Path, tmp_path: Path) -> None:
    manifest = train_demo(tmp_path / "model", model_format="skops")
    assert manifest.skops is not None and manifest.skops.trusted_types == []
    rows = iris_rows(500, seed=5)
    runtime = SklearnRuntime.load(tmp_path / "model")
    result = runtime.predict(model_input(runtime, rows.tolist()), True)
    reference = joblib.load(demo_model_dir / MODEL_FILENAME)
    assert result.labels == reference.predict(rows).tolist()
    assert result.probabilities is not None
    assert [list(row.values()) for row in result.probabilities] == reference.predict_proba(rows).tolist()


@pytest.mark.parametrize(
    ("kind", "model_file", "installs_skops"), [("forest", SKOPS_FILENAME, True), ("joblib", MODEL_FILENAME, False)]
)
def test_layer_build_ships_the_manifests_file_and_skops_only_for_skops(
    packaged: dict[str, Path], demo_model_dir: Path, tmp_path: Path, kind: str, model_file: str, installs_skops: bool
) -> None:
    """The layer Makefile's plan (make -n: nothing is installed); the real build is exercised by hand, see the
    Makefile."""
    model_dir = packaged["forest"] if kind == "forest" else demo_model_dir
    plan = subprocess.run(
        ["make", "-n", "build-ModelLayer", f"ARTIFACTS_DIR={tmp_path}", f"MODEL_SRC={model_dir}", "PIP=pip"],
        cwd=REPO_ROOT / "layers" / "model",
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert f'cp "{model_dir}/model.json" "{model_dir}/{model_file}"' in plan
    assert ("-r requirements-skops.txt" in plan) == installs_skops
    assert "--no-deps" in plan if installs_skops else "skops" not in plan
