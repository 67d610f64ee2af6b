"""layers/model/Makefile against the runtime table: it cannot import the table (SAM may run it from a copy of its
directory), so these dry runs check that each runtime's layer installs that runtime's requirements file and ships
the model file the table names."""

from __future__ import annotations

import json
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


def layer_model(*args: str) -> subprocess.CompletedProcess[str]:
    # As the Makefile runs it: the build's Python, from the layer directory, nothing of ours importable.
    return subprocess.run(
        ["python3", "-I", "layer_model.py", *args], cwd=LAYER_DIR, capture_output=True, text=True, check=False
    )


def test_the_stack_follows_the_manifest_s_versions_and_requirements(tmp_path: Path) -> None:
    manifest = tmp_path / "model.json"
    manifest.write_text(
        json.dumps(
            {
                "versions": {"python": "3.13.0", "scikit-learn": "1.5.2", "numpy": "2.1.3", "scipy": "1.14.1",
                             "joblib": "1.4.2"},
                "requirements": {"xgboost": "3.2.0", "LightGBM": "4.7.0"},
            }
        )
    )  # fmt: skip
    base = dict(line.split("==") for line in (LAYER_DIR / "requirements.txt").read_text().splitlines() if "==" in line)
    drop_ins = " ".join(f"{name}={drop_in}" for name, drop_in in DROP_IN_BUILDS.items())
    pickled_with = ("scikit-learn", "numpy", "scipy", "joblib")

    pinned = layer_model("requirements", str(manifest), "requirements.txt", drop_ins)
    without_model = layer_model("requirements", str(tmp_path / "absent.json"), "requirements.txt", drop_ins)

    assert pinned.returncode == 0, pinned.stderr
    assert pinned.stdout.splitlines() == [
        "scikit-learn==1.5.2", "numpy==2.1.3", "scipy==1.14.1", "joblib==1.4.2",
        *(f"{name}=={version}" for name, version in base.items() if name not in pickled_with),
        "xgboost-cpu==3.2.0", "lightgbm==4.7.0",
    ]  # fmt: skip
    assert without_model.stdout.splitlines() == [f"{name}=={version}" for name, version in base.items()]


def test_only_the_code_the_manifest_lists_ships(tmp_path: Path) -> None:
    model = tmp_path / "model"
    (model / "code" / "team" / "__pycache__").mkdir(parents=True)
    (model / "code" / "team" / "__init__.py").write_text("")
    (model / "code" / "team" / "__pycache__" / "x.pyc").write_bytes(b"local byte code")
    (model / "code" / "notes.txt").write_text("not listed")
    (model / "model.json").write_text(json.dumps({"code": {"code/team/__init__.py": "0" * 64}}))

    copied = layer_model("code", str(model), str(tmp_path / "layer"))

    assert copied.returncode == 0, copied.stderr
    assert [
        str(path.relative_to(tmp_path / "layer")) for path in (tmp_path / "layer").rglob("*") if path.is_file()
    ] == ["code/team/__init__.py"]
