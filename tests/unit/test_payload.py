"""The request seam: body decoders looked up by media type, and the envelope's rows with their error locations."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient
from predict_service.errors import InvalidInputError, MalformedBodyError, UnsupportedMediaTypeError
from predict_service.payload import (
    BODY_DECODERS,
    PredictRequest,
    decode_json,
    decoder_for,
    parse_json_request,
    parse_predict_request,
)
from predict_service.predictions import PredictionRuntime


@pytest.mark.parametrize(
    "content_type",
    [None, "", "application/json", "Application/JSON; charset=utf-8", "application/vnd.api+json"],
)
def test_json_and_absent_content_types_get_the_json_decoder(content_type: str | None) -> None:
    assert decoder_for(content_type) is parse_json_request


@pytest.mark.parametrize("content_type", ["text/plain", "   ", "application/xml", "text/json+plain", "multipart/x+csv"])
def test_other_content_types_are_refused_with_what_was_sent(content_type: str) -> None:
    with pytest.raises(UnsupportedMediaTypeError) as raised:
        decoder_for(content_type)
    assert raised.value.detail == {"content_type": content_type}
    assert "Content-Type: application/json" in raised.value.message


def test_a_single_row_and_a_batch_name_their_rows_where_the_body_has_them() -> None:
    single = parse_predict_request({"features": [1, 2]}, 10, has_predict_proba=False)
    batch = parse_predict_request({"instances": [[1], [2], [3]]}, 10, has_predict_proba=False)
    assert (single.is_batch, single.rows, single.row_location(0)) == (False, [[1, 2]], ["features"])
    assert (batch.is_batch, len(batch.rows), batch.row_location(2)) == (True, 3, ["instances", 2])


def test_envelope_errors_name_the_field() -> None:
    with pytest.raises(InvalidInputError) as raised:
        parse_predict_request({"instances": [[1]], "return_probabilities": True}, 10, has_predict_proba=False)
    assert raised.value.detail[0]["loc"] == ["return_probabilities"]
    with pytest.raises(InvalidInputError, match="Unknown field"):
        parse_predict_request({"features": [1], "extra": 1}, 10, has_predict_proba=True)


def test_json_decoding_refuses_duplicate_keys_and_keeps_non_finite_numbers_for_validation() -> None:
    with pytest.raises(MalformedBodyError) as raised:
        decode_json(b'{"features": [1], "features": [2]}')
    assert raised.value.detail == {"duplicate_key": "features"}
    assert decode_json(b'{"features": [NaN]}')["features"][0] != decode_json(b'{"features": [NaN]}')["features"][0]


def csv_request(body: bytes, max_batch_rows: int, has_predict_proba: bool) -> PredictRequest:
    """A minimal CSV decoder: one row per line, numbers only; problems are located by line number."""
    rows = [[float(value) for value in line.split(",")] for line in body.decode().splitlines()]
    return PredictRequest(rows, True, False, lambda index: ["line", index + 1])


def test_another_format_is_one_more_decoder_and_its_locations_reach_the_error(
    make_client: Callable[..., TestClient], demo_runtime: PredictionRuntime, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(BODY_DECODERS, "text/csv", csv_request)
    client = make_client(demo_runtime)
    headers = {"content-type": "text/csv"}
    ok = client.post("/predict", content=b"5.1,3.5,1.4,0.2\n6.7,3.0,5.2,2.3", headers=headers)
    assert ok.status_code == 200 and len(ok.json()["predictions"]) == 2
    short = client.post("/predict", content=b"5.1,3.5,1.4,0.2\n6.7,3.0,5.2", headers=headers)
    assert short.status_code == 422
    assert short.json()["detail"][0]["loc"] == ["line", 2]


def test_json_is_the_only_format_shipped() -> None:
    assert set(BODY_DECODERS) == {"application/json"}
