"""`sklambda package` on the models people have, and the command line's friction points, run as users run them."""

from __future__ import annotations

import json
from pathlib import Path

import joblib
import numpy as np
import pandas as pd
import pytest
import sklearn
from predict_service.manifest import read_manifest
from sklearn.compose import make_column_transformer
from sklearn.datasets import load_iris
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, StandardScaler

from sklambda.sizing import LAMBDA_UNZIPPED_LIMIT_BYTES, MIB, STACK_BYTES, SizeCheck, describe_size
from tests.support.cli import run_cli


def one_line_error(stderr: str, command: str) -> str:
    """The error line of a failed command; there must be exactly one, and nothing like a traceback or a warning."""
    errors = [line for line in stderr.splitlines() if line.startswith(f"sklambda {command}: error: ")]
    assert len(errors) == 1, stderr
    assert "Traceback" not in stderr and "Warning" not in stderr, stderr
    return errors[0]


@pytest.fixture(scope="module")
def linear_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A regressor fitted on a two-column array."""
    path = tmp_path_factory.mktemp("linear") / "linear.joblib"
    rng = np.random.default_rng(0)
    x = rng.normal(size=(50, 2))
    joblib.dump(LinearRegression().fit(x, x @ [2.0, -1.0]), path)
    return path


@pytest.fixture(scope="module")
def passengers_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A DataFrame pipeline with a category column chosen by name that refuses unknown (and missing) values."""
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"port": rng.choice(["C", "Q", "S"], 120), "fare": rng.gamma(2.0, 10.0, 120)})
    target = (frame["fare"] > 20).astype(int) ^ (frame["port"] == "Q")
    model = make_pipeline(
        make_column_transformer((OneHotEncoder(), ["port"]), (StandardScaler(), ["fare"])), LogisticRegression()
    ).fit(frame, target)
    path = tmp_path_factory.mktemp("passengers") / "passengers.joblib"
    joblib.dump(model, path)
    return path


def test_negative_example_after_a_space_and_a_json_row_are_taken(linear_file: Path, tmp_path: Path) -> None:
    spaced = run_cli("package", str(linear_file), "--model-dir", str(tmp_path / "a"), "--example", "-1.0,2.5")
    assert spaced.returncode == 0, spaced.stderr
    assert read_manifest(tmp_path / "a").example == [-1.0, 2.5]
    as_json = run_cli("package", str(linear_file), "--model-dir", str(tmp_path / "b"), "--example", "[-3, 0.5]")
    assert as_json.returncode == 0, as_json.stderr
    assert read_manifest(tmp_path / "b").example == [-3, 0.5]


def test_dataframe_model_packaged_with_its_types_and_served_by_onnx(passengers_file: Path, tmp_path: Path) -> None:
    model_dir = tmp_path / "model"
    result = run_cli(
        "package", str(passengers_file), "--model-dir", str(model_dir), "--runtime", "onnx",
        "--example", '{"port": "Q", "fare": 12.5}',
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    manifest = read_manifest(model_dir)
    assert manifest.runtime == "onnx" and manifest.onnx is not None
    assert manifest.onnx.verification.label_mismatches == 0
    port, fare = manifest.features
    assert (port.type, sorted(port.categories or []), port.accepts_unknown, port.nullable) == (
        "category", ["C", "Q", "S"], False, False,
    )  # fmt: skip
    assert (fare.type, fare.nullable) == ("number", False)
    assert manifest.example == ["Q", 12.5]
    assert manifest.dataframe is not None and manifest.dataframe.input == "object"
    answer = run_cli("invoke", "--model-dir", str(model_dir), "--body", '{"instances": [["S", 30.0], ["Q", 3.0]]}')
    assert answer.returncode == 0, answer.stderr
    expected = joblib.load(passengers_file).predict(pd.DataFrame({"port": ["S", "Q"], "fare": [30.0, 3.0]}))
    assert json.loads(answer.stdout)["body"]["predictions"] == expected.tolist()


def test_text_model_for_onnx_and_null_where_not_nullable_are_refused_in_one_line(
    passengers_file: Path, tmp_path: Path
) -> None:
    texts = ["rocket orbit launch", "engine brake wheel", "orbit moon", "car dealer"]
    text_model = make_pipeline(TfidfVectorizer(), LogisticRegression()).fit(texts, [0, 1, 0, 1])
    joblib.dump(text_model, tmp_path / "text.joblib")
    cases = [
        ([str(tmp_path / "text.joblib"), "--runtime", "onnx"], "text is a text feature"),
        ([str(passengers_file), "--example", '["C", null]'], "--example gives null for fare, and the model"),
        ([str(passengers_file), "--example", "C,cheap"], "'cheap' for fare, a number feature"),
        ([str(passengers_file), "--categorical", "cabin"], "no feature named cabin"),
    ]
    for args, says in cases:
        result = run_cli("package", *args, "--model-dir", str(tmp_path / "model"))
        assert result.returncode == 1
        assert says in one_line_error(result.stderr, "package")
    assert not (tmp_path / "model").exists()


def test_model_pickled_by_another_scikit_learn_is_refused_naming_both_versions(tmp_path: Path) -> None:
    iris = load_iris()
    model = LogisticRegression(max_iter=500).fit(iris.data, iris.target)
    joblib.dump(model, tmp_path / "current.joblib")
    # the version string estimators pickle (BaseEstimator.__getstate__), swapped for an older one of the same length
    current = sklearn.__version__.encode()
    older = b"1.5.2"[: len(current)].ljust(len(current), b"0")
    data = (tmp_path / "current.joblib").read_bytes()
    assert data.count(current) >= 1
    (tmp_path / "older.joblib").write_bytes(data.replace(current, older))
    result = run_cli("package", str(tmp_path / "older.joblib"), "--model-dir", str(tmp_path / "model"))
    assert result.returncode == 1
    line = one_line_error(result.stderr, "package")
    assert f"scikit-learn {older.decode()}" in line and f"not {sklearn.__version__}" in line
    assert "InconsistentVersionWarning" not in result.stderr
    assert not (tmp_path / "model").exists()
    # the same model with its own version packages, and model.json records that version
    packaged = run_cli("package", str(tmp_path / "current.joblib"), "--model-dir", str(tmp_path / "model"))
    assert packaged.returncode == 0, packaged.stderr
    assert read_manifest(tmp_path / "model").versions.scikit_learn == sklearn.__version__


def with_total(frame: pd.DataFrame) -> pd.DataFrame:
    """A user's function that calls DataFrame methods (importable by the packaging subprocess: module level)."""
    return frame.assign(total=frame["a"] + frame["b"])


def test_dataframe_model_needing_pandas_at_predict_time_is_refused(tmp_path: Path) -> None:
    frame = pd.DataFrame({"a": [1.0, 2.0, 3.0, 4.0], "b": [0.5, 0.1, 0.7, 0.3]})
    model = make_pipeline(FunctionTransformer(with_total), LinearRegression()).fit(frame, [1.0, 2.0, 3.0, 4.0])
    joblib.dump(model, tmp_path / "pandas_needed.joblib")
    result = run_cli("package", str(tmp_path / "pandas_needed.joblib"), "--model-dir", str(tmp_path / "model"))
    assert result.returncode == 1
    assert "needs pandas at predict time" in one_line_error(result.stderr, "package")


def test_replacing_another_model_needs_force(linear_file: Path, tmp_path: Path) -> None:
    model_dir = tmp_path / "model"
    assert run_cli("package", str(linear_file), "--model-dir", str(model_dir), "--name", "first").returncode == 0
    again = run_cli("package", str(linear_file), "--model-dir", str(model_dir), "--name", "first")
    assert again.returncode == 0, again.stderr
    other = run_cli("package", str(linear_file), "--model-dir", str(model_dir), "--name", "second")
    assert other.returncode == 1
    assert "holds the model 'first': pass --force" in one_line_error(other.stderr, "package")
    assert read_manifest(model_dir).name == "first"
    trained = run_cli("train", "--model-dir", str(model_dir))
    assert trained.returncode == 1
    assert "pass --force" in one_line_error(trained.stderr, "train")
    forced = run_cli("package", str(linear_file), "--model-dir", str(model_dir), "--name", "second", "--force")
    assert forced.returncode == 0, forced.stderr
    assert read_manifest(model_dir).name == "second"
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "todo.txt").write_text("mine")
    refused = run_cli("package", str(linear_file), "--model-dir", str(tmp_path / "notes"))
    assert "not a packaged model" in one_line_error(refused.stderr, "package")
    assert (tmp_path / "notes" / "todo.txt").read_text() == "mine"


def test_train_target_without_csv_is_refused_before_anything_is_written(tmp_path: Path) -> None:
    result = run_cli("train", "--target", "species", "--model-dir", str(tmp_path / "model"))
    assert result.returncode == 1
    assert "--target needs --csv" in one_line_error(result.stderr, "train")
    assert not (tmp_path / "model").exists()


def test_invoke_gets_read_only_routes_and_fails_on_error_statuses(demo_model_dir: Path) -> None:
    for path in ("/model", "/health", "model"):
        result = run_cli("invoke", "--model-dir", str(demo_model_dir), "--path", path)
        assert result.returncode == 0, result.stderr
        assert json.loads(result.stdout)["statusCode"] == 200
    refused = run_cli("invoke", "--model-dir", str(demo_model_dir), "--body", '{"features": [1.0]}')
    assert refused.returncode == 1
    assert json.loads(refused.stdout)["statusCode"] == 422
    assert "the API answered 422" in one_line_error(refused.stderr, "invoke")
    wrong_method = run_cli("invoke", "--model-dir", str(demo_model_dir), "--path", "/model", "--method", "post")
    assert wrong_method.returncode == 1
    assert "the API answered 405" in one_line_error(wrong_method.stderr, "invoke")


def test_size_warning_names_the_ways_out() -> None:
    fits = SizeCheck(model_bytes=5 * MIB, stack_bytes=STACK_BYTES["sklearn"], runtime="sklearn")
    assert fits.fits and "warning" not in describe_size(fits)
    too_large = LAMBDA_UNZIPPED_LIMIT_BYTES - STACK_BYTES["sklearn"] + 1
    over = SizeCheck(model_bytes=too_large, stack_bytes=STACK_BYTES["sklearn"], runtime="sklearn")
    message = describe_size(over)
    assert not over.fits
    assert message.startswith("warning: ") and "ModelS3Uri" in message and "--runtime onnx" in message
    over_onnx = SizeCheck(model_bytes=200 * MIB, stack_bytes=STACK_BYTES["onnx"], runtime="onnx")
    assert "ModelS3Uri" in describe_size(over_onnx) and "--runtime onnx" not in describe_size(over_onnx)
