"""What a model needs beyond its runtime's base stack, checked before the model file is loaded:

- `check_requirements`: every distribution of model.json's `requirements` is installed at exactly its version (the
  layer build installs them; a local environment may lack them). One error names all that is missing or different
  and the pip command that fixes it.
- `open_user_code`: the user's own modules shipped in MODEL_DIR/code/ have the sha256 model.json records (nothing
  more, nothing less), then code/ goes first on sys.path so that unpickling imports them by the names they were
  pickled with.

`DROP_IN_BUILDS` is the one table of distributions that the layer replaces by a smaller build of the same modules
at the same version; layers/model/Makefile repeats it (it must stay self-contained) and
tests/deploy/test_layer_makefile.py checks that the two agree.
"""

from __future__ import annotations

import re
import sys
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from .errors import ModelLoadError
from .manifest import ModelManifest, file_sha256

CODE_DIRNAME = "code"
# Canonical distribution name -> its drop-in build for Lambda. xgboost's wheel carries its CUDA code (~228 MB
# unzipped); xgboost-cpu is the same `xgboost` module without it (22 MiB).
DROP_IN_BUILDS: dict[str, str] = {"xgboost": "xgboost-cpu"}


def canonical_name(name: str) -> str:
    """PEP 503 normalised distribution name."""
    return re.sub(r"[-_.]+", "-", name).lower()


def recorded_name(distribution: str) -> str:
    """The name model.json records for an installed distribution: a drop-in build is recorded as the distribution
    it stands for (xgboost-cpu -> xgboost), so the manifest says the same whichever build the packager had."""
    canonical = canonical_name(distribution)
    for original, drop_in in DROP_IN_BUILDS.items():
        if canonical == drop_in:
            return original
    return canonical


def layer_distribution(name: str) -> str:
    """What the layer installs for a recorded requirement: its drop-in build when there is one."""
    return DROP_IN_BUILDS.get(canonical_name(name), canonical_name(name))


def installed_version(name: str) -> str | None:
    """The installed version of `name` or of its drop-in build; None when neither is installed."""
    for candidate in dict.fromkeys((canonical_name(name), layer_distribution(name))):
        try:
            return version(candidate)
        except PackageNotFoundError:
            continue
    return None


def check_requirements(manifest: ModelManifest, model_dir: Path) -> None:
    """ModelLoadError naming every requirement not installed at its recorded version, with the fix."""
    wrong: dict[str, dict[str, str | None]] = {}
    for name, wanted in sorted(manifest.requirements.items()):
        installed = installed_version(name)
        if installed != wanted:
            wrong[name] = {"required": wanted, "installed": installed}
    if not wrong:
        return
    described = ", ".join(
        f"{name}=={found['required']} ({found['installed'] or 'not'} installed)" for name, found in wrong.items()
    )
    pins = " ".join(f"{layer_distribution(name)}=={found['required']}" for name, found in wrong.items())
    raise ModelLoadError(
        f"The model in {model_dir} needs {described}: build the model layer from this model directory (`make build` "
        f"installs what model.json lists), or to serve it here run `python -m pip install {pins}`",
        {"model_dir": str(model_dir), "requirements": wrong},
    )


def _listed_code_path(model_dir: Path, relative: str) -> Path:
    path = (model_dir / relative).resolve()
    code_root = (model_dir / CODE_DIRNAME).resolve()
    if not path.is_relative_to(code_root):
        raise ModelLoadError(
            f"model.json lists user code {relative!r} outside {CODE_DIRNAME}/: re-package the model with "
            f"`sklambda package MODEL.joblib --code PATH`",
            {"model_dir": str(model_dir), "code_file": relative},
        )
    return path


def _present_code_files(code_root: Path) -> set[Path]:
    """Files under code/ that Python could import, ignoring the byte code it writes itself."""
    return {
        path.resolve()
        for path in code_root.rglob("*")
        if path.is_file() and "__pycache__" not in path.relative_to(code_root).parts
    }


def open_user_code(manifest: ModelManifest, model_dir: Path) -> None:
    """Verify code/ against model.json, then put it first on sys.path. A changed, missing or unlisted file is
    refused before anything is imported from it."""
    code_root = model_dir / CODE_DIRNAME
    listed = {
        _listed_code_path(model_dir, relative): (relative, expected) for relative, expected in manifest.code.items()
    }
    present = _present_code_files(code_root) if code_root.is_dir() else set()
    unlisted = sorted(str(path.relative_to(model_dir.resolve())) for path in present - set(listed))
    if unlisted:
        raise ModelLoadError(
            f"Refusing to load {model_dir}: {CODE_DIRNAME}/ holds {', '.join(unlisted)}, which model.json does not "
            f"list. Files were added after packaging; re-package with `sklambda package MODEL.joblib --code PATH` "
            f"if the change is yours",
            {"model_dir": str(model_dir), "unlisted_code": unlisted},
        )
    for path, (relative, expected) in sorted(listed.items()):
        if not path.is_file():
            raise ModelLoadError(
                f"No {relative} in {model_dir} (model.json lists it as the model's own code): copy the model "
                f"directory whole, or re-package it with `sklambda package MODEL.joblib --code PATH`",
                {"model_dir": str(model_dir), "code_file": relative},
            )
        actual = file_sha256(path)
        if actual != expected:
            raise ModelLoadError.sha256_mismatch(path, actual, expected, "import")
    if manifest.code:
        entry = str(code_root.resolve())
        if entry not in sys.path:
            sys.path.insert(0, entry)
