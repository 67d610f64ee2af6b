"""What is trained locally must load on Lambda: the dev pins and the deployed pins must be the same."""

from __future__ import annotations

import re
from importlib.metadata import version
from pathlib import Path

import pytest

from tests.support.data import REPO_ROOT

PIN = re.compile(r"^([A-Za-z0-9_.\-]+)(?:\[[^\]]*\])?==([^\s;#]+)")


def pins(path: Path) -> dict[str, str]:
    found: dict[str, str] = {}
    for line in path.read_text().splitlines():
        match = PIN.match(line.strip())
        if match:
            found[match.group(1).lower().replace("_", "-")] = match.group(2)
    return found


LAYER_FILES = [
    "layers/model/requirements.txt",
    "layers/model/requirements-onnx.txt",
    "layers/model/requirements-skops.txt",
]
RUNTIME_FILES = [*LAYER_FILES, "functions/predict/requirements.txt"]


@pytest.mark.parametrize("runtime_file", RUNTIME_FILES)
def test_dev_requirements_repeat_the_runtime_pins(runtime_file: str) -> None:
    runtime = pins(REPO_ROOT / runtime_file)
    dev = pins(REPO_ROOT / "requirements-dev.txt")
    assert runtime, f"{runtime_file} pins nothing"
    disagreements = {name: (pinned, dev.get(name)) for name, pinned in runtime.items() if dev.get(name) != pinned}
    assert not disagreements, f"requirements-dev.txt must use the same pins as {runtime_file}: {disagreements}"


def test_every_runtime_requirement_is_pinned_exactly() -> None:
    for runtime_file in RUNTIME_FILES:
        for line in (REPO_ROOT / runtime_file).read_text().splitlines():
            line = line.strip()
            if line and not line.startswith("#"):
                assert PIN.match(line), f"{runtime_file}: {line!r} is not pinned with =="


@pytest.mark.parametrize("layer_file", LAYER_FILES)
def test_installed_model_stack_matches_the_layer_pins(layer_file: str) -> None:
    for name, pinned in pins(REPO_ROOT / layer_file).items():
        assert version(name) == pinned, f"{name} {version(name)} is installed but the layer pins {pinned}: make install"


def test_skops_addition_holds_only_skops() -> None:
    # The Makefile installs it with --no-deps on top of requirements.txt: anything else listed here would be a
    # second, possibly different, pin of the scikit-learn stack in the same layer.
    assert set(pins(REPO_ROOT / "layers/model/requirements-skops.txt")) == {"skops"}
