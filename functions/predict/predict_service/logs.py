"""Structured JSON log lines (Powertools' formatter) for the service's loggers, on Lambda and locally."""

from __future__ import annotations

import logging
import sys
from typing import TextIO

from aws_lambda_powertools.logging.formatter import LambdaPowertoolsFormatter

SERVICE_NAME = "sklambda"


def configure_logging(level: str, stream: TextIO | None = None) -> None:
    """Send `predict_service.*` records to `stream` (stdout, as Lambda expects) as one JSON object per line.
    Idempotent: the first call decides the stream."""
    service_logger = logging.getLogger("predict_service")
    service_logger.setLevel(level)
    if not any(getattr(handler, "sklambda", False) for handler in service_logger.handlers):
        handler = logging.StreamHandler(stream or sys.stdout)
        handler.setFormatter(LambdaPowertoolsFormatter(service=SERVICE_NAME))
        handler.sklambda = True  # type: ignore[attr-defined]
        service_logger.addHandler(handler)
    # Lambda's runtime puts its own text handler on the root logger; without this every line would print twice.
    service_logger.propagate = False
