"""Structured JSON log lines for the service's loggers, on Lambda and locally: one JSON object per line with `level`,
`location`, `message`, `timestamp`, `service`, then the record's own fields (Powertools' field names, which the
template's metric filters and Logs Insights queries read)."""

from __future__ import annotations

import logging
import os
import sys
import time
from typing import Any, TextIO

import orjson

SERVICE_NAME = "sklambda"
SERVICE_LOGGER = "predict_service"
# What every LogRecord carries; anything else on a record is a field given through `extra`.
_RECORD_ATTRIBUTES = frozenset(logging.makeLogRecord({}).__dict__) | {"message", "asctime"}


def _xray_trace_id() -> str | None:
    """The Root of Lambda's _X_AMZN_TRACE_ID (set per invocation when tracing is on)."""
    header = os.environ.get("_X_AMZN_TRACE_ID")
    if not header:
        return None
    for part in header.split(";"):
        key, _, value = part.partition("=")
        if key == "Root":
            return value
    return None


class JsonLineFormatter(logging.Formatter):
    """One record as one JSON line. Built with orjson, as one dict: the per-request line is written on every request,
    and a general-purpose formatter costs more than the prediction of a small model."""

    def __init__(self) -> None:
        super().__init__()
        # The date and time to the second, formatted once per second rather than once per line.
        self.second = -1
        self.second_text = ""

    def timestamp(self, record: logging.LogRecord) -> str:
        second = int(record.created)
        if second != self.second:
            self.second_text = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(second))
            self.second = second
        return f"{self.second_text},{int(record.msecs):03d}+0000"

    def format(self, record: logging.LogRecord) -> str:
        document: dict[str, Any] = {
            "level": record.levelname,
            "location": f"{record.funcName}:{record.lineno}",
            "message": record.getMessage(),
            "timestamp": self.timestamp(record),
            "service": SERVICE_NAME,
        }
        trace_id = _xray_trace_id()
        if trace_id is not None:
            document["xray_trace_id"] = trace_id
        for key, value in record.__dict__.items():
            if key not in _RECORD_ATTRIBUTES:
                document[key] = value
        if record.exc_info and record.exc_info[0] is not None:
            document["exception_name"] = record.exc_info[0].__name__
            document["exception"] = self.formatException(record.exc_info)
        return orjson.dumps(document, default=str, option=orjson.OPT_NON_STR_KEYS).decode()


class StdoutHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to sys.stdout as it is when a line is written, not when the handler was made: whoever replaces
    sys.stdout later (pytest's capture, contextlib.redirect_stdout) gets the lines."""

    @property
    def stream(self) -> TextIO:
        return sys.stdout

    @stream.setter
    def stream(self, _: TextIO) -> None:
        pass


def configure_logging(level: str, stream: TextIO | None = None) -> None:
    """Send `predict_service.*` records to `stream` (by default stdout, as Lambda expects) as one JSON object per
    line. Idempotent: the first call decides the stream."""
    service_logger = logging.getLogger(SERVICE_LOGGER)
    service_logger.setLevel(level)
    if not any(getattr(handler, "sklambda", False) for handler in service_logger.handlers):
        handler: logging.StreamHandler[TextIO] = StdoutHandler() if stream is None else logging.StreamHandler(stream)
        handler.setFormatter(JsonLineFormatter())
        handler.sklambda = True  # type: ignore[attr-defined]
        service_logger.addHandler(handler)
    # Lambda's runtime puts its own text handler on the root logger; without this every line would print twice.
    service_logger.propagate = False


def route_warnings_to_log() -> None:
    """Python warnings (a library's notice at import or unpickling) as WARNING lines of the service's log instead of
    raw text on stderr, where CloudWatch would split them into lines no filter or query can read."""
    logging.captureWarnings(True)
    warnings_logger = logging.getLogger("py.warnings")
    for handler in logging.getLogger(SERVICE_LOGGER).handlers:
        if getattr(handler, "sklambda", False) and handler not in warnings_logger.handlers:
            warnings_logger.addHandler(handler)
    warnings_logger.propagate = False


def emit(logger: logging.Logger, level: int, message: str, fields: dict[str, Any]) -> None:
    """One line with `fields`, written whatever the logger's level: the line carries the request's metrics, which
    CloudWatch must receive at every LOG_LEVEL (a service at WARNING still counts its predictions)."""
    # The location is the code that reported the request (the caller's caller): the line's own frame, found the way
    # logging's findCaller would but without walking the stack.
    caller = sys._getframe(2)
    code = caller.f_code
    record = logger.makeRecord(
        logger.name, level, code.co_filename, caller.f_lineno, message, (), None, code.co_name, fields
    )
    logger.handle(record)
