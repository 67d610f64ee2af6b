"""Reproducible builds: the same sources give byte-identical function and layer trees, so a model-only change leaves
the function's zip, and the S3 object `sam package` names by its checksum, unchanged (README: "Change the model").
Also: no build path inside compiled files, and the dead weight stays out."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
from pathlib import Path

import pytest

from .conftest import ARTIFACTS, REPO_ROOT, SamBuild, sam_build
from .local_api_server import SAM_PYTHON

pytestmark = pytest.mark.deploy


@pytest.fixture(scope="module")
def other_model_build(sam: Path, real_model_dir: Path) -> SamBuild:
    """A second build from the same sources, with another model in the layer: the demo model's directory as a new
    release (its manifest names version 9.9.9)."""
    model_dir = ARTIFACTS / "other-model"
    shutil.rmtree(model_dir, ignore_errors=True)
    shutil.copytree(real_model_dir, model_dir)
    manifest = json.loads((model_dir / "model.json").read_text())
    (model_dir / "model.json").write_text(json.dumps({**manifest, "version": "9.9.9"}, indent=2) + "\n")
    return sam_build("x86_64", model_dir=model_dir, label="other-model")


def tree(root: Path) -> dict[str, tuple[int, float, str]]:
    """Every entry below root: permission bits, mtime and sha256 (files) or link target."""
    entries: dict[str, tuple[int, float, str]] = {}
    for path in sorted(root.rglob("*")):
        stat = path.lstat()
        if path.is_symlink():
            content = str(path.readlink())
        elif path.is_file():
            content = hashlib.sha256(path.read_bytes()).hexdigest()
        else:
            content = "<dir>"
        entries[str(path.relative_to(root))] = (stat.st_mode, stat.st_mtime, content)
    return entries


def sam_package_checksum(directory: Path, scratch: Path) -> str:
    """The checksum `sam package` names the uploaded zip by, from SAM's own zip and hash code."""
    script = (
        "import sys\n"
        "from samcli.lib.package.utils import make_zip\n"
        "from samcli.lib.utils.hash import file_checksum\n"
        "print(file_checksum(make_zip(sys.argv[2], sys.argv[1])))\n"
    )
    scratch.parent.mkdir(parents=True, exist_ok=True)
    result = subprocess.run(
        [str(SAM_PYTHON), "-c", script, str(directory), str(scratch)],
        capture_output=True,
        text=True,
        check=False,
        cwd=REPO_ROOT,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout.strip()


def test_function_is_byte_identical_when_only_the_model_changed(
    x86_build: SamBuild, other_model_build: SamBuild
) -> None:
    first, second = tree(x86_build.function_dir), tree(other_model_build.function_dir)
    assert first == second, sorted(set(first.items()) ^ set(second.items()))[:10]
    assert sam_package_checksum(x86_build.function_dir, ARTIFACTS / "zip" / "function-a") == sam_package_checksum(
        other_model_build.function_dir, ARTIFACTS / "zip" / "function-b"
    )


def test_layer_differs_only_by_the_model(x86_build: SamBuild, other_model_build: SamBuild) -> None:
    first, second = tree(x86_build.layer_dir / "python"), tree(other_model_build.layer_dir / "python")
    assert first == second, sorted(set(first.items()) ^ set(second.items()))[:10]
    versions = [
        json.loads((build.layer_dir / "model" / "model.json").read_text())["version"]
        for build in (x86_build, other_model_build)
    ]
    assert versions[0] != versions[1] == "9.9.9"


def test_no_build_path_in_the_artifacts(x86_build: SamBuild, target_python: Path) -> None:
    build_paths = [str(REPO_ROOT).encode(), str(x86_build.build_dir).encode(), b"/tmp/tmp"]
    for root in (x86_build.function_dir, x86_build.layer_dir):
        for path in root.rglob("*.pyc"):
            data = path.read_bytes()
            assert not any(build_path in data for build_path in build_paths), path
    # The file names compiled in are where Lambda mounts the code.
    script = (
        "import marshal, pathlib, sys\n"
        "for root, mount in zip(sys.argv[1::2], sys.argv[2::2]):\n"
        "    for path in pathlib.Path(root).rglob('*.pyc'):\n"
        "        name = marshal.loads(path.read_bytes()[16:]).co_filename\n"
        "        if not name.startswith(mount + '/'): print(path, name)\n"
    )
    result = subprocess.run(
        [str(target_python), "-c", script]
        + [str(x86_build.function_dir), "/var/task", str(x86_build.layer_dir / "python"), "/opt/python"],
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )
    assert (result.returncode, result.stdout) == (0, ""), result.stdout[-3000:] + result.stderr[-3000:]


def test_dead_weight_stays_out(x86_build: SamBuild) -> None:
    function, python = x86_build.function_dir, x86_build.layer_dir / "python"
    shipped = [
        function / "bin",
        function / "fastapi" / ".agents",
        python / "bin",
        python / "joblib" / "test",
        python / "sklearn" / "datasets" / "data",
        python / "sklearn" / "datasets" / "images",
        python / "numpy" / "_core" / "lib",
    ]
    assert [path for path in shipped if path.exists()] == []
    assert list(python.rglob("meson.build")) + list(python.rglob("*.a")) == []
