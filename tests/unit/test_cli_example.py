"""`--example` as users type it: JSON rows and objects, comma-separated values with strings, negatives and nulls."""

from __future__ import annotations

import argparse

import pytest

from sklambda.cli import build_parser, example_row, join_option_values


@pytest.mark.parametrize(
    ("text", "row"),
    [
        ('["C", -1.0, null]', ["C", -1.0, None]),
        ('{"port": "S", "age": null}', {"port": "S", "age": None}),
        ("C,-1.5,null,3", ["C", -1.5, None, 3.0]),
        ("-1.0,2.0", [-1.0, 2.0]),
    ],
)
def test_example_rows(text: str, row: object) -> None:
    assert example_row(text) == row


@pytest.mark.parametrize(("text", "says"), [("[1, 2", "not valid JSON"), ("[[1], 2]", "a number, a string or null")])
def test_bad_example_rows_say_why(text: str, says: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError, match=says):
        example_row(text)


def test_a_negative_example_after_a_space_reaches_argparse_as_the_option_value() -> None:
    argv = join_option_values(["package", "m.joblib", "--example", "-1.0,2.0", "--name", "x"])
    assert argv == ["package", "m.joblib", "--example=-1.0,2.0", "--name", "x"]
    assert build_parser().parse_args(argv).example == [-1.0, 2.0]
