"""What a pickle needs: its references read without importing them, mapped to installed distributions beyond the
model layer's base stack, the user's own modules found and shipped with their sha256."""

from __future__ import annotations

import hashlib
import json
import pickle
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import joblib
import lightgbm
import numpy as np
import pytest
import sklearn
import xgboost
from lightgbm import LGBMClassifier
from predict_service.model_extras import CODE_DIRNAME
from sklearn.datasets import load_iris
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from xgboost import XGBClassifier

from sklambda.requirements import (
    PickleScanError,
    UserCodeError,
    base_stack,
    canonical_name,
    copy_user_code,
    model_needs,
    scan_pickle,
)

IRIS_X, IRIS_Y = load_iris(return_X_y=True)
IRIS_NAMES = np.array(["setosa", "versicolor", "virginica"], dtype=object)[IRIS_Y]

# Every way a model file reaches `sklambda package`: joblib plain and compressed, and a plain pickle.
WRITERS = {
    "joblib": lambda model, path: joblib.dump(model, path),
    "joblib-zlib": lambda model, path: joblib.dump(model, path, compress=3),
    "joblib-xz": lambda model, path: joblib.dump(model, path, compress=("xz", 3)),
    "pickle": lambda model, path: path.write_bytes(pickle.dumps(model, protocol=pickle.HIGHEST_PROTOCOL)),
}


def written(model: Any, tmp_path: Path, how: str) -> Path:
    path = tmp_path / f"model-{how}.bin"
    WRITERS[how](model, path)
    return path


@pytest.mark.parametrize("how", sorted(WRITERS))
def test_xgboost_classifier_needs_xgboost_at_its_installed_version(how: str, tmp_path: Path) -> None:
    model = XGBClassifier(n_estimators=5, max_depth=2).fit(IRIS_X, IRIS_Y)
    needs = model_needs(scan_pickle(written(model, tmp_path, how)))
    assert [canonical_name(requirement.distribution) for requirement in needs.requirements] in (
        ["xgboost"],
        ["xgboost-cpu"],
    )
    (requirement,) = needs.requirements
    assert requirement.version == xgboost.__version__ and requirement.modules == ("xgboost",)
    assert requirement.pin == f"{requirement.distribution}=={xgboost.__version__}"
    assert needs.user_modules == [] and needs.missing == []


@pytest.mark.parametrize("how", sorted(WRITERS))
def test_lightgbm_in_a_pipeline_needs_lightgbm_beyond_the_base_stack(how: str, tmp_path: Path) -> None:
    model = make_pipeline(StandardScaler(), LGBMClassifier(n_estimators=5, verbose=-1)).fit(IRIS_X, IRIS_NAMES)
    scan = scan_pickle(written(model, tmp_path, how))
    needs = model_needs(scan)
    assert [requirement.pin for requirement in needs.requirements] == [f"lightgbm=={lightgbm.__version__}"]
    base = {canonical_name(requirement.distribution): requirement.version for requirement in needs.base}
    assert base["scikit-learn"] == sklearn.__version__
    assert set(base) <= set(base_stack())
    # The pipeline and its scaler recorded the scikit-learn that pickled them.
    assert scan.sklearn_versions == {sklearn.__version__}
    assert ("lightgbm.sklearn", "LGBMClassifier") in scan.references


def test_a_pure_scikit_learn_model_needs_nothing_beyond_the_base_stack(tmp_path: Path) -> None:
    model = RandomForestClassifier(n_estimators=3, random_state=0).fit(IRIS_X, IRIS_NAMES)
    needs = model_needs(scan_pickle(written(model, tmp_path, "joblib")))
    assert needs.requirements == [] and needs.user_modules == [] and needs.missing == []
    assert "scikit-learn" in {canonical_name(requirement.distribution) for requirement in needs.base}


USER_MODULE = '''
"""A team's own transformer, as it lives in their repository."""
from pathlib import Path

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin

# Evidence of an import: scanning a pickle must never run this module.
Path(__file__).with_name("imported.flag").write_text("imported")


class Log1pClip(TransformerMixin, BaseEstimator):
    def __init__(self, ceiling=10.0):
        self.ceiling = ceiling

    def fit(self, X, y=None):
        self.n_features_in_ = np.asarray(X).shape[1]
        return self

    def transform(self, X):
        return np.log1p(np.clip(np.asarray(X, dtype=float), 0, self.ceiling))
'''


@pytest.fixture
def user_package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A package `team_features` (with a subpackage file and a stale __pycache__) in a directory of its own."""
    source_root = tmp_path / "team-repo"
    package = source_root / "team_features"
    (package / "__pycache__").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "transformers.py").write_text(textwrap.dedent(USER_MODULE))
    (package / "__pycache__" / "transformers.cpython-311.pyc").write_bytes(b"stale")
    monkeypatch.syspath_prepend(str(source_root))
    for name in ("team_features", "team_features.transformers"):
        monkeypatch.delitem(sys.modules, name, raising=False)
    return package


def test_user_module_is_found_without_importing_it_and_ships_importable(
    user_package: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from team_features.transformers import Log1pClip  # type: ignore[import-not-found]  # written by the fixture

    model = make_pipeline(Log1pClip(), LogisticRegression(max_iter=500)).fit(IRIS_X, IRIS_Y)
    model_file = written(model, tmp_path, "joblib")
    (user_package / "imported.flag").unlink()
    for name in ("team_features", "team_features.transformers"):
        monkeypatch.delitem(sys.modules, name)

    needs = model_needs(scan_pickle(model_file))

    assert not (user_package / "imported.flag").exists() and "team_features" not in sys.modules
    assert [(module.name, module.path) for module in needs.user_modules] == [("team_features", user_package)]
    assert needs.requirements == [] and needs.missing == []
    assert f"--code {user_package}" in (needs.code_suggestion() or "")

    model_dir = tmp_path / "model"
    hashes = copy_user_code(user_package, model_dir)
    assert sorted(hashes) == [
        f"{CODE_DIRNAME}/team_features/__init__.py",
        f"{CODE_DIRNAME}/team_features/transformers.py",
    ]
    for relative, digest in hashes.items():
        assert hashlib.sha256((model_dir / relative).read_bytes()).hexdigest() == digest
    # With only the shipped copy on the path (not the team's repository), the pickle loads and predicts as before.
    rows = IRIS_X[::10].tolist()
    script = (
        "import json, sys, joblib\n"
        f"sys.path.insert(0, {str(model_dir / CODE_DIRNAME)!r})\n"
        f"model = joblib.load({str(model_file)!r})\n"
        f"print(json.dumps([model.predict({rows!r}).tolist(), sys.modules['team_features'].__file__]))\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=False, timeout=120)
    assert result.returncode == 0, result.stderr
    predictions, imported_from = json.loads(result.stdout)
    assert predictions == model.predict(IRIS_X[::10]).tolist()
    assert imported_from.startswith(str(model_dir / CODE_DIRNAME))


def test_a_module_file_ships_under_its_own_name(tmp_path: Path) -> None:
    module = tmp_path / "src" / "churn_features.py"
    module.parent.mkdir()
    module.write_text("VALUE = 1\n")
    hashes = copy_user_code(module, tmp_path / "model")
    assert list(hashes) == [f"{CODE_DIRNAME}/churn_features.py"]
    assert (tmp_path / "model" / CODE_DIRNAME / "churn_features.py").read_text() == "VALUE = 1\n"


@pytest.mark.parametrize(
    ("make", "says"),
    [
        (lambda root: root / "absent.py", "no such file or directory"),
        (lambda root: (root / "notes.txt").write_text("x") and root / "notes.txt", "not a Python module"),
        (lambda root: (root / "empty").mkdir() or root / "empty", "holds no .py file"),
    ],
    ids=["missing", "not-python", "no-module-in-directory"],
)
def test_code_that_cannot_ship_is_refused_in_one_line(make: Any, says: str, tmp_path: Path) -> None:
    with pytest.raises(UserCodeError, match=says) as raised:
        copy_user_code(make(tmp_path), tmp_path / "model")
    assert "\n" not in str(raised.value)


def test_a_module_that_is_not_installed_is_reported_missing(tmp_path: Path) -> None:
    """A pickle naming a module this machine cannot import: neither a distribution nor user code; say so."""
    model_file = tmp_path / "model.pkl"
    # The pickle a class of a not-installed `acme_models` would produce (protocol 2 GLOBAL + NEWOBJ + BUILD).
    model_file.write_bytes(b"\x80\x02cacme_models.trees\nForest\n)\x81}X\x01\x00\x00\x00aK\x01sb.")
    scan = scan_pickle(model_file)
    assert scan.references == {("acme_models.trees", "Forest")}
    needs = model_needs(scan)
    assert needs.missing == ["acme_models"] and needs.requirements == [] and needs.user_modules == []


def test_a_file_that_is_not_a_pickle_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "model.joblib"
    path.write_text("name,value\n1,2\n")
    with pytest.raises(PickleScanError, match="not a pickle or joblib file"):
        scan_pickle(path)


def test_scanning_runs_nothing_the_pickle_names(tmp_path: Path) -> None:
    """A pickle that would run a shell command when loaded: the scan records the reference and runs nothing."""
    evidence = tmp_path / "ran"
    model_file = tmp_path / "model.pkl"
    model_file.write_bytes(f"cos\nsystem\n(S'touch {evidence}'\ntR.".encode())
    scan = scan_pickle(model_file)
    assert scan.references == {("os", "system")}
    assert not evidence.exists()
    # The standard library ships with Python: nothing to install, nothing to ship.
    needs = model_needs(scan)
    assert needs.requirements == [] and needs.user_modules == [] and needs.missing == []


def test_a_class_defined_in_a_script_is_reported(tmp_path: Path) -> None:
    """A class pickled from a script run as __main__ is importable nowhere else: it must move into a module."""
    model_file = tmp_path / "model.pkl"
    model_file.write_bytes(b"\x80\x02c__main__\nClipper\n)\x81}b.")
    needs = model_needs(scan_pickle(model_file))
    assert needs.main_references == ["__main__.Clipper"]
    assert needs.missing == [] and needs.user_modules == []
