"""CloudWatch metrics in Embedded Metric Format, carried by the request's one log line.

Each request writes one JSON line: the log fields (level, message, request id, cold start, ...) and, in the same
object, the EMF document (`_aws` plus the metric and dimension values as top-level members; EMF ignores the other
members). On Lambda, CloudWatch turns the line into metrics without any API call; locally it is just a JSON line.
Feature values are never recorded: only counts, latency and predicted classes.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from typing import Any

from .logs import emit

SERVICE = "sklambda"

logger = logging.getLogger("predict_service.requests")

# EMF metric units (CloudWatch's names).
COUNT = "Count"
MILLISECONDS = "Milliseconds"


class Telemetry:
    def __init__(self, namespace: str, model_version: str | None) -> None:
        self.namespace = namespace
        self.default_dimensions = {"service": SERVICE}
        if model_version is not None:
            self.default_dimensions["model_version"] = model_version

    def emf(self, metrics: dict[str, tuple[float, str]], dimensions: dict[str, str]) -> dict[str, Any]:
        """The EMF members for `metrics` (name -> (value, unit)) under one dimension set."""
        return {
            "_aws": {
                "Timestamp": int(time.time() * 1000),
                "CloudWatchMetrics": [
                    {
                        "Namespace": self.namespace,
                        "Dimensions": [list(dimensions)],
                        "Metrics": [{"Name": name, "Unit": unit} for name, (_, unit) in metrics.items()],
                    }
                ],
            },
            **dimensions,
            **{name: value for name, (value, _) in metrics.items()},
        }

    def prediction(self, rows: int, latency_ms: float, labels: list[Any] | None, **fields: Any) -> None:
        """One answered request's line: `fields` (request id, cold start, ...) and its metrics."""
        metrics: dict[str, tuple[float, str]] = {
            "Predictions": (1, COUNT),
            "Rows": (rows, COUNT),
            "LatencyMs": (latency_ms, MILLISECONDS),
        }
        # Counted on the labels themselves and named once per distinct class: str() on every row of a 1000-row
        # batch would cost more than the prediction.
        for label, count in Counter(labels or ()).items():
            metrics[f"PredictedClass_{label}"] = (count, COUNT)
        emit(logger, logging.INFO, "prediction", {**fields, **self.emf(metrics, self.default_dimensions)})

    def drift(self, out_of_range: dict[str, int], unknown_categories: dict[str, int], **fields: Any) -> None:
        """One request's values unlike the training data, per feature: numbers outside the feature's range, and
        categories unknown to a feature that accepts them. One line per feature that has any (an EMF dimension takes
        one value per document), so a request without drift writes nothing here."""
        for feature in sorted({*out_of_range, *unknown_categories}):
            metrics: dict[str, tuple[float, str]] = {}
            if feature in out_of_range:
                metrics["OutOfRangeValues"] = (out_of_range[feature], COUNT)
            if feature in unknown_categories:
                metrics["UnknownCategories"] = (unknown_categories[feature], COUNT)
            dimensions = {**self.default_dimensions, "feature": feature}
            emit(logger, logging.INFO, "drift", {**fields, **self.emf(metrics, dimensions)})

    def error(
        self,
        kind: str,
        message: str = "request rejected",
        level: int = logging.INFO,
        exc_info: bool = False,
        **fields: Any,
    ) -> None:
        """One refused or failed request's line: `fields` and the Errors metric by `kind` (the exception's traceback
        too with `exc_info`, inside an `except` block)."""
        document = {**fields, **self.emf({"Errors": (1, COUNT)}, {**self.default_dimensions, "kind": kind})}
        if exc_info:
            logger.log(level, message, exc_info=True, extra=document)
        else:
            emit(logger, level, message, document)
