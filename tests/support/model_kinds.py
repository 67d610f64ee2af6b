"""Models that need more than the base stack, as users bring them: XGBoost and LightGBM through their scikit-learn
API, a pipeline with a transformer class from the team's own module (in a directory of its own), and the rows
their answers are compared on."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path
from typing import Any

import numpy as np
from lightgbm import LGBMClassifier
from sklearn.datasets import load_diabetes, load_iris
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from xgboost import XGBClassifier, XGBRegressor

IRIS_X, IRIS_Y = load_iris(return_X_y=True)
DIABETES_X, DIABETES_Y = load_diabetes(return_X_y=True)

USER_MODULE = '''
"""A team's own transformer, as it lives in their repository."""
import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin


class Log1pClip(TransformerMixin, BaseEstimator):
    def __init__(self, ceiling=10.0):
        self.ceiling = ceiling

    def fit(self, X, y=None):
        self.n_features_in_ = np.asarray(X).shape[1]
        return self

    def transform(self, X):
        return np.log1p(np.clip(np.asarray(X, dtype=float), 0, self.ceiling))
'''


def xgb_classifier() -> XGBClassifier:
    return XGBClassifier(n_estimators=8, max_depth=3, random_state=0).fit(IRIS_X, IRIS_Y)


def xgb_regressor() -> XGBRegressor:
    return XGBRegressor(n_estimators=8, max_depth=3, random_state=0).fit(DIABETES_X, DIABETES_Y)


def lgbm_pipeline() -> Any:
    return make_pipeline(StandardScaler(), LGBMClassifier(n_estimators=8, verbose=-1, random_state=0)).fit(
        IRIS_X, IRIS_Y
    )


def write_user_package(root: Path, package: str) -> Path:
    """A package `package` with the module `transformers` (Log1pClip) under `root`; returns the package directory."""
    directory = root / package
    directory.mkdir(parents=True)
    (directory / "__init__.py").write_text("")
    (directory / "transformers.py").write_text(textwrap.dedent(USER_MODULE))
    return directory


def user_code_pipeline(package_dir: Path) -> Any:
    """A pipeline with the package's Log1pClip, imported from where the package lives (as in the team's repo)."""
    sys.path.insert(0, str(package_dir.parent))
    try:
        module = __import__(f"{package_dir.name}.transformers", fromlist=["Log1pClip"])
    finally:
        sys.path.remove(str(package_dir.parent))
    return make_pipeline(module.Log1pClip(), LogisticRegression(max_iter=500)).fit(IRIS_X, IRIS_Y)


def rows_of(x: np.ndarray, step: int) -> list[list[float]]:
    rows: list[list[float]] = x[::step].tolist()
    return rows
