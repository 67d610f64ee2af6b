"""Settings read from the environment."""

from __future__ import annotations

from pathlib import Path

import pytest
from predict_service.config import LAMBDA_MODEL_DIR, Settings, load_settings
from predict_service.errors import InvalidSettingsError
from pydantic import ValidationError


def test_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("AWS_LAMBDA_FUNCTION_NAME", "MODEL_DIR", "CORS_ALLOW_ORIGINS", "MAX_BATCH_ROWS", "LOG_LEVEL"):
        monkeypatch.delenv(name, raising=False)
    settings = Settings()
    # The service knows no checkout: its model directory is the layer's unless MODEL_DIR (or the CLI) says otherwise.
    assert settings.model_dir == LAMBDA_MODEL_DIR == Path("/opt/model")
    assert settings.cors_allow_origins == ("http://localhost:5173", "http://127.0.0.1:5173")
    assert settings.max_batch_rows == 1000
    assert settings.log_level == "INFO"


def test_environment_overrides(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MODEL_DIR", "/srv/model")
    monkeypatch.setenv("CORS_ALLOW_ORIGINS", "https://a.example, https://b.example:8443")
    monkeypatch.setenv("MAX_BATCH_ROWS", "50")
    monkeypatch.setenv("LOG_LEVEL", "debug")
    settings = Settings()
    assert settings.model_dir == Path("/srv/model")
    assert settings.cors_allow_origins == ("https://a.example", "https://b.example:8443")
    assert settings.max_batch_rows == 50
    assert settings.log_level == "DEBUG"


@pytest.mark.parametrize("origins", ["*", "http://ok.example,*", "example.com", "https://a.example/"])
def test_cors_wildcards_and_malformed_origins_refused(monkeypatch: pytest.MonkeyPatch, origins: str) -> None:
    monkeypatch.setenv("CORS_ALLOW_ORIGINS", origins)
    with pytest.raises(ValidationError):
        Settings()


@pytest.mark.parametrize(
    ("name", "value"), [("MAX_BATCH_ROWS", "0"), ("MAX_BATCH_ROWS", "many"), ("LOG_LEVEL", "LOUD")]
)
def test_bad_values_refused(monkeypatch: pytest.MonkeyPatch, name: str, value: str) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ValidationError):
        Settings()


def test_load_settings_reads_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MAX_BATCH_ROWS", "7")
    assert load_settings().max_batch_rows == 7


def test_load_settings_overrides_win_over_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MODEL_DIR", "/srv/model")
    monkeypatch.setenv("MAX_BATCH_ROWS", "7")
    settings = load_settings(model_dir=Path("/elsewhere"))
    assert (settings.model_dir, settings.max_batch_rows) == (Path("/elsewhere"), 7)


def test_load_settings_words_a_bad_override_like_a_bad_variable() -> None:
    with pytest.raises(InvalidSettingsError) as raised:
        load_settings(max_batch_rows=0)
    assert raised.value.message == "MAX_BATCH_ROWS='0' is not valid: Input should be greater than or equal to 1"


def test_load_settings_names_each_bad_variable_on_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CORS_ALLOW_ORIGINS", "https://ok.example,*")
    monkeypatch.setenv("MAX_BATCH_ROWS", "0")
    monkeypatch.setenv("LOG_LEVEL", "x" * 500)
    with pytest.raises(InvalidSettingsError) as raised:
        load_settings()
    message = raised.value.message
    assert "\n" not in message
    assert message.split("; ") == [
        "CORS_ALLOW_ORIGINS='https://ok.example,*' is not valid: CORS origin '*' must be an explicit "
        "http(s)://host[:port] origin, not a wildcard",
        "MAX_BATCH_ROWS='0' is not valid: Input should be greater than or equal to 1",
        f"LOG_LEVEL='{'x' * 100}...' is not valid: LOG_LEVEL must be one of DEBUG, INFO, WARNING, ERROR, CRITICAL, "
        f"not '{'X' * 500}'",
    ]
    assert [item["setting"] for item in raised.value.detail] == ["CORS_ALLOW_ORIGINS", "MAX_BATCH_ROWS", "LOG_LEVEL"]
