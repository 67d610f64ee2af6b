"""`sklambda invoke` with what users type: paths without the leading slash, and event files that are not events.

tests/integration/test_cli.py covers the working event file and a built event; here are the mistakes.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sklambda.invoking import EventError, check_event, http_api_event, invoke, load_event_file
from tests.support.cli import run_cli
from tests.support.events import EVENTS_DIR


@pytest.mark.parametrize("path", ["predict", "/predict"])
def test_invoke_path_without_leading_slash_reaches_the_route(demo_model_dir: Path, path: str) -> None:
    result = run_cli(
        "invoke", "--path", path, "--body", '{"features": [5.1, 3.5, 1.4, 0.2]}', "--model-dir", str(demo_model_dir)
    )
    assert result.returncode == 0, result.stderr
    response = json.loads(result.stdout)
    assert response["statusCode"] == 200, response
    assert response["body"]["prediction"] == [0]


def test_built_event_keeps_the_query_and_a_path_that_has_its_slash() -> None:
    event = http_api_event("GET", "model?x=1", None, {})
    assert (event["rawPath"], event["rawQueryString"], event["requestContext"]["http"]["path"]) == (
        "/model",
        "x=1",
        "/model",
    )
    assert http_api_event("GET", "//model", None, {})["rawPath"] == "//model"


# (file content, what the one-line error must say after the file's name)
BAD_EVENT_FILES = [
    pytest.param(
        b'{"features": [1, 2', "not valid JSON: Expecting ',' delimiter at line 1, column 19", id="truncated JSON"
    ),
    pytest.param(b"", "not valid JSON: Expecting value at line 1, column 1", id="empty file"),
    pytest.param(b"\xff\xfe{}", "not UTF-8 text (byte 0)", id="not UTF-8"),
    pytest.param(b"[1, 2]", "expected an API Gateway proxy event (a JSON object), got an array", id="array"),
    pytest.param(
        b'{"features": [5.1, 3.5, 1.4, 0.2]}',
        'not an API Gateway proxy event: expected "version": "2.0" (HTTP API) or "httpMethod" and "resource"',
        id="a request body instead of an event",
    ),
    pytest.param(
        b'{"version": "2.0", "requestContext": {"http": {"method": "GET"}}}',
        "incomplete API Gateway proxy event: missing requestContext.http.path, requestContext.http.sourceIp",
        id="incomplete HTTP API event",
    ),
    pytest.param(
        b'{"resource": "/{proxy+}", "httpMethod": "POST", "path": "/predict", "requestContext": {}, "body": {"a": 1}}',
        '"body" must be a string',
        id="body as an object",
    ),
]


@pytest.mark.parametrize(("content", "says"), BAD_EVENT_FILES)
def test_bad_event_file_is_named_with_what_is_wrong(tmp_path: Path, content: bytes, says: str) -> None:
    path = tmp_path / "bad.json"
    path.write_bytes(content)
    with pytest.raises(EventError) as raised:
        load_event_file(path)
    message = str(raised.value)
    assert message.startswith(f"{path}: {says}"), message
    assert "\n" not in message


def test_missing_event_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(EventError, match=f"^{tmp_path / 'absent.json'}: cannot read the event file: No such file"):
        load_event_file(tmp_path / "absent.json")


@pytest.mark.parametrize("name", sorted(path.name for path in EVENTS_DIR.glob("*.json")))
def test_every_shipped_event_is_accepted(name: str) -> None:
    assert load_event_file(EVENTS_DIR / name) == json.loads((EVENTS_DIR / name).read_text(encoding="utf-8"))


def test_invoke_refuses_a_non_event_before_loading_the_model(tmp_path: Path) -> None:
    # Without check_event, Mangum fails on this with a RuntimeError traceback. Loading the handler first would
    # raise ModelLoadError for the missing directory instead: the event is checked before the (slow) model load.
    with pytest.raises(EventError, match='^the event: not an API Gateway proxy event: expected "version"'):
        invoke({"features": [5.1, 3.5, 1.4, 0.2]}, tmp_path / "no-model-here")


def test_check_event_accepts_the_built_event() -> None:
    event = http_api_event("POST", "/predict", "{}", {})
    assert check_event(event) is event


@pytest.mark.parametrize(("content", "says"), BAD_EVENT_FILES[:1] + BAD_EVENT_FILES[3:5])
def test_cli_names_a_bad_event_file(tmp_path: Path, content: bytes, says: str) -> None:
    path = tmp_path / "bad.json"
    path.write_bytes(content)
    result = run_cli("invoke", str(path))
    assert result.returncode == 1
    [line] = result.stderr.strip().splitlines()
    assert line.startswith(f"sklambda invoke: error: {path}: {says}"), line


def test_invoke_with_an_invalid_setting_says_which_in_one_line(demo_model_dir: Path) -> None:
    result = run_cli(
        "invoke", "--method", "GET", "--path", "health", "--model-dir", str(demo_model_dir), env={"LOG_LEVEL": "LOUD"}
    )
    assert result.returncode == 1
    *logged, last = result.stderr.strip().splitlines()
    assert last == (
        "sklambda invoke: error: LOG_LEVEL='LOUD' is not valid: LOG_LEVEL must be one of DEBUG, INFO, WARNING, "
        "ERROR, CRITICAL, not 'LOUD'"
    )
    # Before it, the handler's own CRITICAL line, as Lambda would log it at init.
    [critical] = [json.loads(line) for line in logged]
    assert critical["level"] == "CRITICAL" and critical["message"].startswith("settings not valid: LOG_LEVEL='LOUD'")
    assert result.stdout == ""
