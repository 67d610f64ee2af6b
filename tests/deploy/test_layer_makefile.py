"""layers/model/Makefile against the runtime table: it cannot import the table (SAM may run it from a copy of its
directory), so these dry runs check that each runtime's layer installs that runtime's requirements file and ships
the model file the table names."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
from predict_service.model_extras import DROP_IN_BUILDS
from predict_service.runtimes import RUNTIMES

LAYER_DIR = Path(__file__).resolve().parents[2] / "layers" / "model"
ALL_MODEL_FILES = {name for spec in RUNTIMES.values() for name in spec.model_files}


def dry_run(tmp_path: Path, runtime: str, model_format: str) -> list[str]:
    result = subprocess.run(
        [
            "make", "-s", "-n", "-C", str(LAYER_DIR), "build-ModelLayer", f"ARTIFACTS_DIR={tmp_path / 'layer'}",
            f"MODEL_SRC={tmp_path / 'model'}", f"MODEL_RUNTIME={runtime}", f"MODEL_FORMAT={model_format}",
        ],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    # A recipe line continued with backslashes is one shell command.
    return result.stdout.replace("\\\n", " ").splitlines()


@pytest.mark.parametrize(
    ("runtime", "model_format"), [(spec.name, fmt) for spec in RUNTIMES.values() for fmt in spec.formats]
)
def test_each_runtime_installs_its_requirements_and_ships_its_model_file(
    tmp_path: Path, runtime: str, model_format: str
) -> None:
    spec = RUNTIMES[runtime]
    lines = dry_run(tmp_path, runtime, model_format)

    # The first install reads the runtime's requirements file (for scikit-learn, as model.json adjusts it).
    installs = [line for line in lines if " pip install " in line]
    assert f" {spec.requirements} " in installs[0], installs[0]
    copies = [line for line in lines if line.startswith("cp ")]
    assert len(copies) == 1
    shipped = {name for name in spec.model_files if f'/{name}"' in copies[0]}
    assert len(shipped) == 1, copies[0]
    # Only the one model file, never another runtime's (an ONNX layer ships no pickle).
    assert not any(f'/{name}"' in copies[0] for name in ALL_MODEL_FILES - shipped)


def test_a_runtime_that_is_not_registered_stops_the_build(tmp_path: Path) -> None:
    result = subprocess.run(
        [
            "make",
            "-s",
            "-n",
            "-C",
            str(LAYER_DIR),
            "build-ModelLayer",
            f"ARTIFACTS_DIR={tmp_path}",
            "MODEL_RUNTIME=tpu",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode != 0
    assert f"names runtime 'tpu'; expected one of: {' '.join(sorted(RUNTIMES))}" in result.stderr


def test_the_drop_in_builds_are_the_runtime_table_s() -> None:
    match = re.search(r"^DROP_IN_BUILDS\s*:=\s*(.*)$", (LAYER_DIR / "Makefile").read_text(), re.MULTILINE)
    assert match, "layers/model/Makefile must define DROP_IN_BUILDS := NAME=DROP_IN ..."
    assert dict(pair.split("=", 1) for pair in match.group(1).split()) == DROP_IN_BUILDS
