"""The bad-input matrix: one table of hostile or broken requests, each with the status the API documents, and its
rendering into docs/bad-inputs.md. tests/hardening/test_bad_inputs.py runs every case; a test there keeps the doc
current (`.venv/bin/python -m tests.hardening.render_bad_inputs` rewrites it)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

from tests.support.data import IRIS_FEATURES, REPO_ROOT

DOC_PATH = REPO_ROOT / "docs" / "bad-inputs.md"
DEFAULT_MAX_BATCH_ROWS = 1000  # Settings().max_batch_rows; the cases are built for the default settings
JSON = {"content-type": "application/json"}
# An error body names the problem and at most 20 structured problems; anything near this size echoes input back.
MAX_ERROR_BODY_BYTES = 16 * 1024
ROW = [5.1, 3.5, 1.4, 0.2]
DEEP = 100_000  # far past orjson's 1024 levels and Python's recursion limit


# The "typed" model's features: a number and a category with these known values.
PLAN_FEATURES = ("tenure", "plan")
PLANS = ("basic", "pro", "team")
TYPED_ROW = [12.0, "pro"]
TEXT_ROW = ["a short and friendly note"]
MAX_TEXT_CHARS = 10_000  # Settings().max_text_chars


def named(**values: object) -> dict[str, object]:
    row: dict[str, object] = dict(zip(IRIS_FEATURES, ROW, strict=True))
    row.update(values)
    return row


def dumps(document: object) -> bytes:
    return json.dumps(document, ensure_ascii=False).encode()


@dataclass(frozen=True)
class BadInput:
    case: str
    body: bytes | None
    status: int
    error: str  # must appear in the response's "error" (for a 200, in the raw body)
    headers: dict[str, str] = field(default_factory=lambda: dict(JSON))
    method: str = "POST"
    path: str = "/predict"
    via: Literal["http", "lambda"] = "http"  # "lambda": base64 body in an API Gateway HTTP API event, via Mangum
    known_bug: str | None = None  # reported to the lead; the case runs as a strict xfail until the core is fixed
    # The model served: "iris" (the demo model, numbers only), "typed" (PLAN_FEATURES: a number and a category,
    # trained from a CSV), "text" (a text classifier taking one string per row; the scikit-learn runtime only).
    model: Literal["iris", "typed", "text"] = "iris"

    @property
    def shown(self) -> str:
        """The body as the doc shows it: the first bytes, escaped, with the total size when it is cut."""
        if self.body is None:
            return "(none)"
        if not self.body:
            return "(empty)"
        text = repr(self.body[:40])[2:-1]
        return text + (f"... ({len(self.body):,} bytes)" if len(self.body) > 40 else "")


CASES: list[BadInput] = [
    # --- controls: the same paths answer 200 when the input is right, so the matrix can tell the difference
    BadInput("control: one row in feature order", dumps({"features": ROW}), 200, '"prediction"'),
    BadInput(
        "control: MAX_BATCH_ROWS rows", dumps({"instances": [ROW] * DEFAULT_MAX_BATCH_ROWS}), 200, '"predictions"'
    ),
    BadInput("control: base64 body from API Gateway", dumps({"features": ROW}), 200, '"prediction"', via="lambda"),
    # --- not a JSON object
    BadInput("empty body", b"", 400, "the request body is empty"),
    BadInput("whitespace only", b" \n\t ", 400, "the request body is empty"),
    BadInput("no body and no content type", None, 400, "the request body is empty", headers={}),
    BadInput("not JSON", b"features=1,2,3,4", 400, "Malformed JSON"),
    BadInput("truncated JSON", b'{"features": [1, 2, 3, 4]', 400, "Malformed JSON"),
    BadInput("trailing comma", b'{"features": [1, 2, 3, 4],}', 400, "Malformed JSON"),
    BadInput("JSON array, not an object", dumps(ROW), 422, "must be a JSON object"),
    BadInput("JSON string, not an object", dumps("1,2,3,4"), 422, "must be a JSON object"),
    BadInput("JSON null", b"null", 422, "must be a JSON object"),
    BadInput("empty object", b"{}", 422, "exactly one of 'features'"),
    BadInput("both features and instances", dumps({"features": ROW, "instances": [ROW]}), 422, "exactly one of"),
    BadInput("unknown top-level field", dumps({"features": ROW, "debug": True}), 422, "Unknown field(s) ['debug']"),
    # --- wrong types and shapes
    BadInput("features is a string", dumps({"features": "5.1,3.5,1.4,0.2"}), 422, "must be an array of values"),
    BadInput("features is a number", dumps({"features": 5.1}), 422, "must be an array of values"),
    BadInput("instances is an object", dumps({"instances": {"a": ROW}}), 422, "must be an array of rows"),
    BadInput("instances row is a number", dumps({"instances": [5.1]}), 422, "expected a row"),
    BadInput("features nested one level too deep", dumps({"features": [ROW]}), 422, "send several rows as"),
    BadInput("instances nested one level too deep", dumps({"instances": [[ROW]]}), 422, "expected 4 values"),
    BadInput("instances one level too shallow", dumps({"instances": ROW}), 422, "expected a row"),
    BadInput("values are arrays", dumps({"features": [[1], [2], [3], [4]]}), 422, "send several rows as"),
    BadInput(
        "return_probabilities is a string",
        dumps({"features": ROW, "return_probabilities": "true"}),
        422,
        "must be true or false",
    ),
    # --- row counts and widths
    BadInput("0 rows", dumps({"instances": []}), 422, "'instances' is empty"),
    BadInput(
        "MAX_BATCH_ROWS + 1 rows",
        dumps({"instances": [ROW] * (DEFAULT_MAX_BATCH_ROWS + 1)}),
        413,
        "Too many rows: 1001 sent, at most 1000",
    ),
    BadInput("no features", dumps({"features": []}), 422, "expected 4 values"),
    BadInput("too few features", dumps({"features": ROW[:3]}), 422, "expected 4 values"),
    BadInput("too many features", dumps({"features": [*ROW, 1.0]}), 422, "expected 4 values"),
    BadInput("one short row in a batch", dumps({"instances": [ROW, ROW[:2]]}), 422, "at instances.1"),
    # --- values
    BadInput("NaN", b'{"features": [5.1, 3.5, 1.4, NaN]}', 422, "must be a finite number"),
    BadInput("Infinity", b'{"features": [5.1, 3.5, 1.4, Infinity]}', 422, "must be a finite number"),
    BadInput("-Infinity", b'{"features": [5.1, 3.5, 1.4, -Infinity]}', 422, "must be a finite number"),
    BadInput("1e400 (overflows a double)", b'{"features": [5.1, 3.5, 1.4, 1e400]}', 422, "must be a finite number"),
    BadInput(
        "400-digit integer",
        b'{"features": [5.1, 3.5, 1.4, ' + b"9" * 400 + b"]}",
        422,
        "too large to be a 64-bit float",
    ),
    # Valid JSON that Python's int parser refuses (more than 4300 digits, the CVE-2020-10735 guard): a 422 that
    # says where, not a 400 "Malformed JSON".
    BadInput(
        "5000-digit integer",
        b'{"features": [5.1, 3.5, 1.4, ' + b"9" * 5000 + b"]}",
        422,
        "Invalid input at features.3: the number is too large (5000 digits; Python reads integers of at most 4300",
    ),
    BadInput(
        "4301-digit negative integer as a named feature",
        b'{"features": {"sepal_length": 5.1, "sepal_width": 3.5, "petal_length": 1.4, "petal_width": -'
        + b"9" * 4301
        + b"}}",
        422,
        "Invalid input at features.petal_width: the number is too large (4301 digits",
    ),
    BadInput(
        "string that looks like a number",
        dumps({"features": [5.1, 3.5, 1.4, "0.2"]}),
        422,
        "must be a number, got string",
    ),
    BadInput("boolean value", dumps({"features": [5.1, 3.5, 1.4, True]}), 422, "must be a number, got boolean"),
    BadInput("null value", dumps({"features": [5.1, 3.5, 1.4, None]}), 422, "petal_width is required"),
    BadInput("object value", dumps({"features": [5.1, 3.5, 1.4, {"v": 0.2}]}), 422, "must be a number, got object"),
    # --- names and keys
    BadInput(
        "duplicate top-level key",
        b'{"features": [1, 2, 3, 4], "features": [5, 6, 7, 8]}',
        400,
        'the key "features" appears more than once',
    ),
    BadInput(
        "duplicate feature name",
        b'{"features": {"sepal_length": 1, "sepal_length": 2, "sepal_width": 1, "petal_length": 1, "petal_width": 1}}',
        400,
        'the key "sepal_length" appears more than once',
    ),
    # A key written with an escape is the same key: the duplicate must not be dropped silently either way.
    BadInput(
        "duplicate key, one written with a unicode escape",
        b'{"feature\\u0073": [1, 2, 3, 4], "features": [5, 6, 7, 8]}',
        400,
        'the key "features" appears more than once',
    ),
    BadInput(
        "duplicate return_probabilities, one escaped",
        b'{"features": [1, 2, 3, 4], "return_probabilitie\\u0073": true, "return_probabilities": false}',
        400,
        'the key "return_probabilities" appears more than once',
    ),
    BadInput(
        "duplicate unknown top-level key",
        b'{"features": [1, 2, 3, 4], "x": 1, "x": 2}',
        400,
        'the key "x" appears more than once',
    ),
    BadInput(
        "duplicate key in an object inside an array",
        b'[{"features": [1, 2, 3, 4], "features": [5, 6, 7, 8]}]',
        400,
        'the key "features" appears more than once',
    ),
    BadInput(
        "control: key written with a unicode escape",
        b'{"feature\\u0073": [5.1, 3.5, 1.4, 0.2]}',
        200,
        '"prediction"',
    ),
    BadInput("missing named feature", dumps({"features": {"sepal_length": 5.1}}), 422, "missing feature(s)"),
    BadInput("unknown named feature", dumps({"features": named(colour=1)}), 422, "unknown feature name(s) ['colour']"),
    BadInput(
        "feature name is a <script> tag",
        dumps({"features": named(**{"<script>alert(1)</script>": 1})}),
        422,
        "unknown feature name(s) ['<script>alert(1)</script>']",
    ),
    BadInput(
        "100k unknown feature names",
        dumps({"features": {f"k{i}": 0 for i in range(100_000)}}),
        422,
        "unknown feature name(s) ['k0'",
    ),
    BadInput(
        "100k unknown top-level fields",
        dumps({"features": ROW, **{f"k{i}": 0 for i in range(100_000)}}),
        422,
        "Unknown field(s) ['k0'",
    ),
    # --- encodings and unicode garbage
    BadInput("invalid UTF-8", b'{"features": [1, 2, 3, 4], "\xff\xfe": 1}', 400, "Malformed JSON"),
    BadInput("lone surrogate in a feature name", b'{"features": {"\\ud800": 1}}', 422, "unknown feature name(s)"),
    BadInput("lone surrogate as a value", b'{"features": [1, 2, 3, "\\udfff"]}', 422, "must be a number, got string"),
    BadInput(
        "lone surrogate as a top-level field",
        b'{"features": [1, 2, 3, 4], "\\ud800": 1}',
        422,
        "Unknown field(s)",
    ),
    BadInput(
        "lone surrogate as a duplicate key",
        b'{"\\ud800": 1, "\\ud800": 2}',
        400,
        "appears more than once",
    ),
    BadInput(
        "right-to-left override in a name",
        dumps({"features": named(**{"\u202esepal_length": 1})}),
        422,
        "unknown feature name(s) ['\\u202esepal_length']",
    ),
    BadInput(
        "zero-width space in a name",
        dumps({"features": named(**{"sepal\u200b_length": 1})}),
        422,
        "unknown feature name(s) ['sepal\\u200b_length']",
    ),
    BadInput("NUL in a field name", b'{"features": [1, 2, 3, 4], "a\\u0000": 1}', 422, "Unknown field(s) ['a\\x00']"),
    # --- nesting and size
    BadInput("100k nested arrays", b"[" * DEEP + b"]" * DEEP, 400, "Malformed JSON"),
    BadInput("100k nested objects", b'{"a":' * DEEP + b"1" + b"}" * DEEP, 400, "Malformed JSON"),
    BadInput(
        "500 nested arrays in features",
        b'{"features": ' + b"[" * 500 + b"1" + b"]" * 500 + b"}",
        422,
        "send several rows as",
    ),
    BadInput("7 MB body", dumps({"instances": [ROW] * 350_000}), 413, "Request body too large"),
    # --- content types
    BadInput(
        "text/plain",
        dumps({"features": ROW}),
        415,
        "Content-Type: application/json",
        headers={"content-type": "text/plain"},
    ),
    BadInput(
        "form-encoded",
        b"features=1&features=2",
        415,
        "Content-Type: application/json",
        headers={"content-type": "application/x-www-form-urlencoded"},
    ),
    BadInput(
        "text/html with a <script> content type",
        dumps({"features": ROW}),
        415,
        "Content-Type: application/json",
        headers={"content-type": "text/html; <script>alert(1)</script>"},
    ),
    # --- methods and paths
    BadInput("GET /predict", None, 405, "Method GET is not allowed", headers={}, method="GET"),
    BadInput(
        "unknown path with a <script> tag",
        None,
        404,
        "Not found",
        headers={},
        method="GET",
        path="/<script>alert(1)</script>",
    ),
    # --- CORS preflights the API's CORS settings refuse (allowed ones are tested in tests/unit/test_app.py)
    BadInput(
        "CORS preflight from a disallowed origin",
        None,
        400,
        "CORS preflight refused: the origin 'https://evil.example' is not allowed",
        headers={"origin": "https://evil.example", "access-control-request-method": "POST"},
        method="OPTIONS",
    ),
    BadInput(
        "CORS preflight asking for a <script> header",
        None,
        400,
        "CORS preflight refused: the request header(s) ['x-<script>alert(1)</script>'] are not allowed",
        headers={
            "origin": "http://localhost:5173",
            "access-control-request-method": "POST",
            "access-control-request-headers": "content-type, X-<script>alert(1)</script>",
        },
        method="OPTIONS",
    ),
    # --- API Gateway: base64-encoded bodies through the Mangum handler
    BadInput("base64: not JSON", b"\x00\xffnot json", 400, "Malformed JSON", via="lambda"),
    BadInput(
        "base64: duplicate key written with a unicode escape",
        b'{"feature\\u0073": [1, 2, 3, 4], "features": [5, 6, 7, 8]}',
        400,
        'the key "features" appears more than once',
        via="lambda",
    ),
    BadInput("base64: NaN", b'{"features": [1, 2, 3, NaN]}', 422, "must be a finite number", via="lambda"),
    BadInput(
        "base64: MAX_BATCH_ROWS + 1 rows",
        dumps({"instances": [ROW] * (DEFAULT_MAX_BATCH_ROWS + 1)}),
        413,
        "Too many rows",
        via="lambda",
    ),
    BadInput(
        "base64: text/plain",
        dumps({"features": ROW}),
        415,
        "Content-Type: application/json",
        headers={"content-type": "text/plain"},
        via="lambda",
    ),
    BadInput("base64: 7 MB body", dumps({"instances": [ROW] * 350_000}), 413, "Request body too large", via="lambda"),
    # --- feature types: a category and a text feature, and null where the model takes no missing value
    BadInput(
        "control: a number and a known category", dumps({"features": TYPED_ROW}), 200, '"prediction"', model="typed"
    ),
    BadInput(
        "control: a category by name",
        dumps({"features": dict(zip(PLAN_FEATURES, TYPED_ROW, strict=True))}),
        200,
        '"prediction"',
        model="typed",
    ),
    BadInput(
        "null for a required category",
        dumps({"features": [12.0, None]}),
        422,
        "plan is required: this model does not accept a missing value (null) there",
        model="typed",
    ),
    BadInput(
        "null for a required number",
        dumps({"features": [None, "pro"]}),
        422,
        "tenure is required",
        model="typed",
    ),
    BadInput(
        "unknown category",
        dumps({"features": [12.0, "gold"]}),
        422,
        'plan must be one of ["basic", "pro", "team"], got an unknown category',
        model="typed",
    ),
    BadInput(
        "number for a category",
        dumps({"features": [12.0, 1]}),
        422,
        'plan must be one of the strings ["basic", "pro", "team"], got number',
        model="typed",
    ),
    BadInput(
        "string for a number beside a category",
        dumps({"features": ["12", "pro"]}),
        422,
        "tenure must be a number, got string",
        model="typed",
    ),
    BadInput("control: one text", dumps({"features": TEXT_ROW}), 200, '"prediction"', model="text"),
    BadInput(
        "text over MAX_TEXT_CHARS",
        dumps({"features": ["x" * (MAX_TEXT_CHARS + 1)]}),
        422,
        f"text is {MAX_TEXT_CHARS + 1} characters long, at most {MAX_TEXT_CHARS} are accepted (MAX_TEXT_CHARS)",
        model="text",
    ),
    BadInput("number for a text", dumps({"features": [3]}), 422, "text must be a string, got number", model="text"),
    BadInput("null for a text", dumps({"features": [None]}), 422, "text is required", model="text"),
]


HEADER = """\
# Bad inputs and what the API answers

Generated by `.venv/bin/python -m tests.hardening.render_bad_inputs` from the table in `tests/support/bad_inputs.py`;
every row is a test against the real app (`http`: HTTP request to the FastAPI app; `lambda`: base64 body in an API
Gateway HTTP API event through the Mangum handler). Defaults: `MAX_BATCH_ROWS=1000`, `MAX_BODY_BYTES=6 MiB`. Every
answer is `application/json` with `X-Content-Type-Options: nosniff`; every error body is
`{"error": str, "detail": ..., "request_id": str}`, never a 500, and at most 16 KiB. Requests are `POST /predict`
with `Content-Type: application/json` unless the row says otherwise. Rows marked **known bug** are reported and run
as strict expected failures until fixed; their status column is the documented one. Model: `iris` is the demo model
(four numbers), `typed` a model with a number (`tenure`) and a category (`plan`: basic, pro or team), both served by
each runtime (scikit-learn and ONNX); `text` a text classifier taking one string per row (`MAX_TEXT_CHARS=10000`),
served by the scikit-learn runtime.

| Case | Model | Via | Request | Body (first 40 bytes) | Status | Error excerpt |
|---|---|---|---|---|---|---|
"""


def cell(text: str) -> str:
    """A Markdown table cell as a code span: pipes escaped, backticks swapped so the span cannot end early."""
    return "`" + text.replace("`", "'").replace("|", "\\|") + "`" if text else ""


def plain(text: str) -> str:
    return text.replace("|", "\\|").replace("<", "&lt;").replace(">", "&gt;")


def render(cases: Sequence[BadInput]) -> str:
    lines = []
    for case in cases:
        content_type = case.headers.get("content-type")
        request = f"{case.method} {case.path}" + (f" ({content_type})" if content_type else " (no content type)")
        others = [f"{name}: {value}" for name, value in case.headers.items() if name != "content-type"]
        if others:
            request += " with " + ", ".join(others)
        status = str(case.status) + (f" **known bug**: {plain(case.known_bug)}" if case.known_bug else "")
        cells = [plain(case.case), case.model, case.via, cell(request), cell(case.shown), status, cell(case.error)]
        lines.append("| " + " | ".join(cells) + " |")
    return HEADER + "\n".join(lines) + "\n"
