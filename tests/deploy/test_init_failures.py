"""Every cause that stops Lambda's init is named in one CRITICAL JSON line, before Python's own error, by the built
function and layer (`make build`) under the Lambda Python, laid out as on Lambda: the function's code as the task
root, the layer as /opt (python/ on the path, model/ as MODEL_DIR), boto3 beside them as Lambda's runtime provides it,
and nothing written into either of them.

tests/hardening/test_faults.py runs the same faults against the source tree in the development Python; here it is the
artifact that ships."""

from __future__ import annotations

import importlib.util
import json
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from .conftest import SamBuild

pytestmark = pytest.mark.deploy

# What Lambda's Python runtime has outside the function and its layers (/var/runtime): boto3 and what it imports.
RUNTIME_PROVIDED_MODULES = ("boto3", "botocore", "s3transfer", "jmespath", "dateutil", "urllib3", "six")


def installed_path(module: str) -> Path:
    """Where this (development) Python has `module`: its package directory, or its single file."""
    spec = importlib.util.find_spec(module)
    assert spec is not None and spec.origin is not None, module
    origin = Path(spec.origin)
    return origin.parent if origin.name == "__init__.py" else origin


SHA256 = "ab" * 32


@dataclass
class Layout:
    """The task root and /opt of one execution environment."""

    root: Path
    task: Path
    opt: Path
    runtime: Path
    tmp: Path
    environment: dict[str, str] = field(default_factory=dict)

    def tree(self) -> dict[str, float]:
        """Every path under the task root and /opt, with its modification time."""
        found: dict[str, float] = {}
        for top in (self.task, self.opt):
            for path in top.rglob("*"):
                found[str(path)] = path.lstat().st_mtime
        return found


@pytest.fixture
def layout(x86_build: SamBuild, tmp_path: Path) -> Layout:
    """The built function and layer, linked into a fresh scratch directory (/var/task and /opt)."""
    root = tmp_path / "sandbox"
    task, opt, runtime, tmp = root / "var" / "task", root / "opt", root / "var" / "runtime", root / "tmp"
    task.parent.mkdir(parents=True)
    task.symlink_to(x86_build.function_dir.resolve(), target_is_directory=True)
    opt.mkdir()
    (opt / "python").symlink_to((x86_build.layer_dir / "python").resolve(), target_is_directory=True)
    (opt / "model").symlink_to((x86_build.layer_dir / "model").resolve(), target_is_directory=True)
    runtime.mkdir()
    for module in RUNTIME_PROVIDED_MODULES:
        source = installed_path(module)
        (runtime / source.name).symlink_to(source)
    tmp.mkdir()
    return Layout(root, task, opt, runtime, tmp)


def lambda_init(python: Path, layout: Layout, **environment: str) -> tuple[int, list[str]]:
    """Lambda's init: a fresh Lambda-version interpreter imports handler.py from the task root. Returns the exit
    code and the output lines, stdout and stderr interleaved as CloudWatch receives them."""
    env = {
        "PATH": "/usr/bin:/bin",
        "LAMBDA_TASK_ROOT": str(layout.task),
        "PYTHONPATH": f"{layout.task}:{layout.opt / 'python'}:{layout.runtime}",
        "MODEL_DIR": str(layout.opt / "model"),
        "TMPDIR": str(layout.tmp),
        "PYTHONDONTWRITEBYTECODE": "1",
        "AWS_LAMBDA_FUNCTION_NAME": "sklambda-test-predict",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        # What template.yaml sets on the function.
        "LOG_LEVEL": "INFO",
        "JOBLIB_MULTIPROCESSING": "0",
        **environment,
    }
    before = layout.tree()
    result = subprocess.run(
        [str(python), "-c", "import handler"],
        cwd=layout.task,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=300,
        check=False,
    )
    # Lambda's /var/task and /opt are read-only: nothing may have been written there.
    assert layout.tree() == before
    return result.returncode, result.stdout.splitlines()


def json_lines(lines: list[str]) -> list[tuple[int, dict[str, Any]]]:
    found = []
    for index, line in enumerate(lines):
        if line.startswith("{"):
            document = json.loads(line)
            if isinstance(document, dict) and "level" in document:
                found.append((index, document))
    return found


def assert_named(lines: list[str], says: str) -> dict[str, Any]:
    """Exactly one CRITICAL line, the only warning-or-worse line of the service, saying `says`, and written before
    Python's traceback (what Lambda reports as the init error)."""
    problems = [(i, d) for i, d in json_lines(lines) if d["level"] in {"WARNING", "ERROR", "CRITICAL"}]
    assert len(problems) == 1, "\n".join(lines)
    index, line = problems[0]
    assert line["level"] == "CRITICAL" and line["service"] == "sklambda", line
    assert says in line["message"], line["message"]
    assert "\n" not in line["message"]
    traceback_at = lines.index("Traceback (most recent call last):")
    assert index < traceback_at, "\n".join(lines)
    # Nothing but JSON lines before the traceback: no raw warning text.
    assert all(line.startswith("{") for line in lines[:traceback_at]), "\n".join(lines)
    return line


def test_built_function_starts_with_json_lines_only(target_python: Path, layout: Layout) -> None:
    code, lines = lambda_init(target_python, layout)

    assert code == 0, "\n".join(lines)
    assert lines and all(line.startswith("{") for line in lines), "\n".join(lines)
    assert [d["message"] for _, d in json_lines(lines)] == ["model loaded"]


def no_stack(layout: Layout, tmp_path: Path) -> dict[str, str]:
    (layout.opt / "python").unlink()
    (layout.opt / "python").mkdir()
    return {}


@dataclass(frozen=True)
class InitFault:
    name: str
    damage: Callable[[Layout, Path], dict[str, str]]
    says: str


def broken_copy(layout: Layout, tmp_path: Path, damage: Callable[[Path], object]) -> dict[str, str]:
    model_dir = tmp_path / "model-copy"
    shutil.copytree(layout.opt / "model", model_dir)
    damage(model_dir)
    return {"MODEL_DIR": str(model_dir)}


def tamper(model_dir: Path) -> None:
    model = model_dir / "model.joblib"
    model.write_bytes(model.read_bytes() + b"tampered")


FAULTS = [
    InitFault(
        "layer without its Python stack",
        no_stack,
        "the function cannot import numpy (No module named 'numpy'): the model layer, which provides numpy",
    ),
    InitFault(
        "model missing",
        lambda layout, tmp_path: {"MODEL_DIR": str(tmp_path / "no-model")},
        "does not exist: run `sklambda train`",
    ),
    InitFault(
        "model tampered",
        lambda layout, tmp_path: broken_copy(layout, tmp_path, tamper),
        "re-package it with `sklambda package` if the change is yours",
    ),
    InitFault(
        "settings not valid",
        lambda layout, _: {"MAX_BATCH_ROWS": "0", "CORS_ALLOW_ORIGINS": "*"},
        "MAX_BATCH_ROWS='0' is not valid",
    ),
    InitFault(
        "S3 model without MODEL_SHA256",
        lambda layout, _: {"MODEL_S3_URI": "s3://sklambda-models/iris"},
        "MODEL_SHA256",
    ),
    InitFault(
        "S3 unreachable",
        lambda layout, _: {
            "MODEL_S3_URI": "s3://sklambda-models/iris",
            "MODEL_SHA256": SHA256,
            "MODEL_CACHE_DIR": str(layout.tmp / "sklambda-model"),
            # A closed port: the request never gets an answer from S3.
            "AWS_ENDPOINT_URL_S3": "http://127.0.0.1:9",
            "AWS_MAX_ATTEMPTS": "1",
        },
        "that the function can reach S3 (a function in a VPC needs an S3 gateway endpoint or a NAT gateway)",
    ),
]


@pytest.mark.parametrize("fault", FAULTS, ids=[fault.name for fault in FAULTS])
def test_each_init_failure_is_named_in_one_critical_line_before_lambdas_error(
    target_python: Path, layout: Layout, tmp_path: Path, fault: InitFault
) -> None:
    environment = fault.damage(layout, tmp_path)

    code, lines = lambda_init(target_python, layout, **environment)

    assert code != 0
    assert_named(lines, fault.says)


def test_a_sklearn_layer_serving_an_onnx_model_names_the_missing_runtime(
    target_python: Path, layout: Layout, onnx_model_dir: Path
) -> None:
    code, lines = lambda_init(target_python, layout, MODEL_DIR=str(onnx_model_dir))

    assert code != 0
    line = assert_named(lines, "is an ONNX model but onnxruntime cannot be imported")
    assert line["detail"]["runtime"] == "onnx"


def test_a_layer_built_for_another_python_is_named(target_python: Path, layout: Layout) -> None:
    # The development venv's packages, built for this machine's Python 3.11: numpy's compiled core cannot load.
    dev_site_packages = installed_path("boto3").parent
    (layout.opt / "python").unlink()
    (layout.opt / "python").symlink_to(dev_site_packages, target_is_directory=True)

    code, lines = lambda_init(target_python, layout)

    assert code != 0
    line = assert_named(lines, "was built for another Python or architecture than this function's (Python 3.13")
    assert line["detail"]["python"] == "3.13"
