"""The scikit-learn a user's pickle was written with, and what packaging does when it is not the local one.

The version is read from the file without unpickling it (`sklearn_env.recorded_sklearn_version`): unpickled by
another scikit-learn, the model would load with an InconsistentVersionWarning and be recorded, wrongly, as a model of
the local version. Until models are served with the versions they were pickled with, such a model is refused.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import joblib
import sklearn
from sklearn.exceptions import InconsistentVersionWarning

from .requirements import PickleScanError
from .sklearn_env import SklearnEnvError, recorded_sklearn_version


class PickledVersionError(Exception):
    """The model cannot be packaged with the scikit-learn it was pickled with; the message says what to do."""


def pickled_sklearn_version(model_file: Path) -> str | None:
    """The scikit-learn version the file's estimators recorded, or None when none did (or the file is not a pickle:
    loading it reports that)."""
    try:
        return recorded_sklearn_version(model_file)
    except PickleScanError:
        return None
    except SklearnEnvError as error:
        raise PickledVersionError(str(error)) from error


def refuse_other_sklearn(model_file: Path, pickled_with: str) -> None:
    """Refuse a model pickled by a scikit-learn other than the one packaging (and serving) it."""
    if pickled_with != sklearn.__version__:
        raise PickledVersionError(
            f"{model_file} was pickled by scikit-learn {pickled_with}, not {sklearn.__version__} (the version "
            f"the model layer serves): re-fit it with scikit-learn {sklearn.__version__} and package that"
        )


def load_model(model_file: Path) -> Any:
    """joblib.load with scikit-learn's version warning as an error: a model must never load relabelled."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", InconsistentVersionWarning)
        return joblib.load(model_file)
