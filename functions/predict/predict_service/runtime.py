"""Compatibility re-export: the scikit-learn runtime lives in `runtimes.sklearn` (`SklearnRuntime`)."""

from .predictions import Predictions
from .runtimes.sklearn import SklearnRuntime as ModelRuntime

__all__ = ["ModelRuntime", "Predictions"]
