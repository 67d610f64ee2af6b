"""`sklambda` argument errors, in process: one line saying what is wrong (never pydantic's report), exit 2 for
what argparse can tell alone, exit 1 for an option that does not fit the model; the CLI's own model directory."""

from __future__ import annotations

from pathlib import Path

import joblib
import pytest
from sklearn.datasets import load_iris
from sklearn.linear_model import LinearRegression, LogisticRegression

from sklambda.cli import LOCAL_MODEL_DIR, main, model_dir_to_serve

REPO_ROOT = Path(__file__).resolve().parents[2]


def error_lines(capsys: pytest.CaptureFixture[str]) -> list[str]:
    return [line for line in capsys.readouterr().err.splitlines() if not line.startswith("Packaging ")]


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    iris = load_iris()
    folder = tmp_path_factory.mktemp("models")
    fitted = {
        "classifier": LogisticRegression(max_iter=500).fit(iris.data, iris.target),
        "regressor": LinearRegression().fit(iris.data, iris.data[:, 0]),
    }
    for name, model in fitted.items():
        joblib.dump(model, folder / f"{name}.joblib")
    return {name: folder / f"{name}.joblib" for name in fitted}


@pytest.mark.parametrize("option", ["--features", "--class-names"])
def test_repeated_names_are_a_one_line_usage_error(
    option: str, models: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["package", str(models["classifier"]), option, "a,b,a", "--model-dir", str(tmp_path / "m")])
    assert exited.value.code == 2
    assert error_lines(capsys) == [
        f"sklambda package: error: argument {option}: 'a,b,a' repeats 'a': each name must be unique "
        f"(see `sklambda package --help`)"
    ]


def test_an_unknown_runtime_is_a_one_line_usage_error_listing_the_registered_ones(
    models: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["package", str(models["classifier"]), "--runtime", "tpu"])
    assert exited.value.code == 2
    [line] = error_lines(capsys)
    assert "argument --runtime: invalid choice: 'tpu' (choose from" in line and "'sklearn'" in line


@pytest.mark.parametrize(
    ("model", "names", "message"),
    [
        (
            "classifier",
            "setosa,versicolor",
            "--class-names names 2 classes but the model has 3 ([0, 1, 2]): give one name per class, in that order",
        ),
        ("regressor", "low,high", "LinearRegression is a regressor, which has no classes: drop --class-names"),
    ],
)
def test_class_names_that_do_not_fit_the_model_are_one_line(
    model: str, names: str, message: str, models: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["package", str(models[model]), "--class-names", names, "--model-dir", str(tmp_path / "m")])
    assert code == 1
    assert error_lines(capsys) == [f"sklambda package: error: {message}"]
    assert not (tmp_path / "m").exists()


def test_serve_and_invoke_use_the_checkout_model_unless_told_otherwise(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("MODEL_DIR", raising=False)
    assert LOCAL_MODEL_DIR == REPO_ROOT / "layers" / "model" / "model"
    assert model_dir_to_serve(None) == LOCAL_MODEL_DIR
    assert model_dir_to_serve(tmp_path) == tmp_path
    # MODEL_DIR is the settings' to read: the CLI passes nothing then.
    monkeypatch.setenv("MODEL_DIR", str(tmp_path))
    assert model_dir_to_serve(None) is None
