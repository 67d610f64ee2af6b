"""CloudWatch metrics as Embedded Metric Format lines on stdout (Powertools), one flush per request.

On Lambda, CloudWatch turns these log lines into metrics without any API call; locally they are just JSON lines.
Feature values are never recorded: only counts, latency and predicted classes.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from aws_lambda_powertools import Metrics
from aws_lambda_powertools.metrics import MetricUnit, single_metric

SERVICE = "sklambda"


class Telemetry:
    def __init__(self, namespace: str, model_version: str | None) -> None:
        self.namespace = namespace
        self.metrics = Metrics(namespace=namespace, service=SERVICE)
        self.default_dimensions = {"service": SERVICE}
        if model_version is not None:
            self.metrics.set_default_dimensions(model_version=model_version)
            self.default_dimensions["model_version"] = model_version

    def prediction(self, rows: int, latency_ms: float, labels: list[Any] | None) -> None:
        """One request's figures. Synchronous from first add to flush, so concurrent asyncio requests on one
        event loop cannot interleave their metrics."""
        metrics = self.metrics
        metrics.add_metric(name="Predictions", unit=MetricUnit.Count, value=1)
        metrics.add_metric(name="Rows", unit=MetricUnit.Count, value=rows)
        metrics.add_metric(name="LatencyMs", unit=MetricUnit.Milliseconds, value=latency_ms)
        # Counted on the labels themselves and named once per distinct class: str() on every row of a 1000-row
        # batch would cost more than the prediction.
        for label, count in Counter(labels or ()).items():
            metrics.add_metric(name=f"PredictedClass_{label}", unit=MetricUnit.Count, value=count)
        metrics.flush_metrics()

    def drift(self, out_of_range: dict[str, int], unknown_categories: dict[str, int]) -> None:
        """One request's values unlike the training data, per feature: numbers outside the feature's range, and
        categories unknown to a feature that accepts them. Features with none are not emitted."""
        for name, counts in (("OutOfRangeValues", out_of_range), ("UnknownCategories", unknown_categories)):
            for feature, count in counts.items():
                with single_metric(
                    name=name,
                    unit=MetricUnit.Count,
                    value=count,
                    namespace=self.namespace,
                    default_dimensions=self.default_dimensions,
                ) as metric:
                    metric.add_dimension(name="feature", value=feature)

    def error(self, kind: str) -> None:
        with single_metric(
            name="Errors",
            unit=MetricUnit.Count,
            value=1,
            namespace=self.namespace,
            default_dimensions=self.default_dimensions,
        ) as metric:
            metric.add_dimension(name="kind", value=kind)
