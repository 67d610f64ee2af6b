"""A model pickled by another scikit-learn: which version wrote it, and an environment with exactly that version in
which to load it and predict.

- `recorded_sklearn_version`: the version every estimator of the file recorded in its pickled state
  (BaseEstimator.__getstate__ writes `_sklearn_version`; unpickling with another version raises scikit-learn's
  InconsistentVersionWarning with it). Read by requirements.scan_pickle, which imports nothing the file names, so
  the local scikit-learn never gets to unpickle, and silently relabel, a model of another version.
- `ensure_env`: a virtualenv with given pins (scikit-learn==X and the numpy/scipy/joblib it needs), created once
  per (Python, pins) under ~/.cache/sklambda/envs/<hash> ($SKLAMBDA_CACHE_DIR overrides ~/.cache/sklambda) and
  reused afterwards; built in a temporary directory and renamed into place, so an interrupted build is never
  mistaken for a finished one.
- `predict_in_env`: load the model in that environment, with scikit-learn's version warnings as errors, and predict
  on given rows; the answers come back as JSON.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .requirements import scan_pickle

CACHE_ENV_VARIABLE = "SKLAMBDA_CACHE_DIR"
ENV_READY_MARKER = "sklambda-env.json"
PIP_TIMEOUT_SECONDS = 900
PREDICT_TIMEOUT_SECONDS = 300


class SklearnEnvError(Exception):
    """An environment could not be made, or the model does not load or predict in it; the message says why."""


def recorded_sklearn_version(path: Path) -> str | None:
    """The scikit-learn version the file's estimators were pickled with; None when no estimator recorded one
    (e.g. an XGBoost model on its own). Several versions in one file cannot be served by any one environment."""
    versions = scan_pickle(path).sklearn_versions
    if len(versions) > 1:
        raise SklearnEnvError(
            f"{path} holds estimators pickled by several scikit-learn versions ({', '.join(sorted(versions))}): "
            f"re-fit or re-pickle the model with a single scikit-learn"
        )
    return next(iter(versions), None)


def cache_root() -> Path:
    base = os.environ.get(CACHE_ENV_VARIABLE)
    return (Path(base) if base else Path.home() / ".cache" / "sklambda") / "envs"


def python_version(python: str) -> str:
    """`major.minor.micro` of an interpreter: part of an environment's identity (wheels differ per Python)."""
    result = subprocess.run(
        [python, "-c", "import sys; print('.'.join(map(str, sys.version_info[:3])))"],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    if result.returncode != 0:
        raise SklearnEnvError(f"{python} does not run: {result.stderr.strip() or result.returncode}")
    return result.stdout.strip()


def env_key(python_release: str, pins: Sequence[str]) -> str:
    identity = json.dumps({"python": python_release, "pins": sorted(pins)})
    return hashlib.sha256(identity.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class SklearnEnv:
    path: Path
    python_release: str
    pins: tuple[str, ...]
    # Set for an environment of the user's own (their training environment's Python), not one made here.
    interpreter: Path | None = None

    @property
    def python(self) -> Path:
        return self.interpreter or self.path / "bin" / "python"


def existing_env(python: Path) -> SklearnEnv:
    """The user's own environment (e.g. the one the model was trained in), named by its Python; used as it is."""
    if not python.is_file():
        raise SklearnEnvError(f"{python} does not exist: give the Python of the environment the model was trained in")
    return SklearnEnv(python.parent.parent, python_version(str(python)), (), interpreter=python)


def _last_lines(text: str, count: int = 3) -> str:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return " | ".join(lines[-count:])


def ensure_env(pins: Sequence[str], python: str = sys.executable, root: Path | None = None) -> SklearnEnv:
    """The cached virtualenv for `python` with exactly `pins` installed (binary wheels only: a source build of an
    old scikit-learn would take long and may not even compile), creating it on first use."""
    release = python_version(python)
    root = root or cache_root()
    final = root / env_key(release, pins)
    marker = final / ENV_READY_MARKER
    if marker.is_file():
        recorded = json.loads(marker.read_text())
        return SklearnEnv(final, recorded["python"], tuple(recorded["pins"]))
    root.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".building-", dir=root))
    try:
        created = subprocess.run(
            [python, "-m", "venv", str(staging)], capture_output=True, text=True, check=False, timeout=300
        )
        if created.returncode != 0:
            raise SklearnEnvError(f"could not create a virtualenv with {python}: {_last_lines(created.stderr)}")
        installed = subprocess.run(
            [str(staging / "bin" / "python"), "-m", "pip", "install", "--only-binary=:all:", *pins],
            capture_output=True,
            text=True,
            check=False,
            timeout=PIP_TIMEOUT_SECONDS,
        )
        if installed.returncode != 0:
            raise SklearnEnvError(
                f"could not install {' '.join(pins)} for Python {release}: {_last_lines(installed.stderr)}; no "
                f"wheel for that Python means this scikit-learn cannot be served with it: use an older Python, "
                f"or retrain the model with a current scikit-learn"
            )
        (staging / ENV_READY_MARKER).write_text(json.dumps({"python": release, "pins": sorted(pins)}))
        try:
            staging.rename(final)
        except OSError:
            # Another process finished the same environment first: use theirs.
            if not marker.is_file():
                raise
        return SklearnEnv(final, release, tuple(sorted(pins)))
    finally:
        shutil.rmtree(staging, ignore_errors=True)


# Runs inside the environment: loads the model with scikit-learn's version warnings as errors (a model of another
# version must not load silently) and answers {"versions", "predictions", "probabilities"} or {"error"} on stdout.
_PREDICT_SCRIPT = """
import json, sys, warnings
request = json.load(sys.stdin)
sys.path[:0] = request["code_paths"]
try:
    import joblib, numpy, scipy, sklearn
    from sklearn.exceptions import InconsistentVersionWarning
    with warnings.catch_warnings():
        warnings.simplefilter("error", InconsistentVersionWarning)
        model = joblib.load(request["model_path"])
    rows = numpy.asarray(request["rows"], dtype=object if request["has_strings"] else numpy.float64)
    answer = {
        "versions": {"scikit-learn": sklearn.__version__, "numpy": numpy.__version__, "scipy": scipy.__version__,
                     "joblib": joblib.__version__},
        "predictions": model.predict(rows).tolist() if request["rows"] else [],
        "probabilities": model.predict_proba(rows).tolist() if request["probabilities"] and request["rows"] else None,
    }
except Exception as error:
    answer = {"error": type(error).__name__ + ": " + " ".join(str(error).split())}
print(json.dumps(answer))
"""


@dataclass(frozen=True)
class EnvPredictions:
    versions: dict[str, str]
    predictions: list[Any]
    probabilities: list[list[float]] | None


def predict_in_env(
    env: SklearnEnv,
    model_path: Path,
    rows: Sequence[Sequence[Any]],
    *,
    probabilities: bool = False,
    code_paths: Sequence[Path] = (),
) -> EnvPredictions:
    """Load `model_path` in `env` (with `code_paths` first on sys.path, for the user's own modules) and predict on
    `rows` (no rows: only load it and report the versions); SklearnEnvError with the environment's own error when
    it does not load or predict."""
    request = {
        "model_path": str(model_path.resolve()),
        "rows": [list(row) for row in rows],
        "has_strings": any(isinstance(value, str) for row in rows for value in row),
        "probabilities": probabilities,
        "code_paths": [str(path.resolve()) for path in code_paths],
    }
    result = subprocess.run(
        [str(env.python), "-c", _PREDICT_SCRIPT],
        input=json.dumps(request),
        capture_output=True,
        text=True,
        check=False,
        timeout=PREDICT_TIMEOUT_SECONDS,
        # Nothing from the calling environment (e.g. the repository on PYTHONPATH) may shadow the env's packages.
        env={key: value for key, value in os.environ.items() if key not in ("PYTHONPATH", "PYTHONHOME")},
    )
    lines = result.stdout.strip().splitlines()
    if result.returncode != 0 or not lines:
        raise SklearnEnvError(f"{env.python} failed to run the verification: {_last_lines(result.stderr, 1)}")
    answer = json.loads(lines[-1])
    if "error" in answer:
        raise SklearnEnvError(f"{model_path} does not load or predict with {' '.join(env.pins)}: {answer['error']}")
    return EnvPredictions(answer["versions"], answer["predictions"], answer["probabilities"])
