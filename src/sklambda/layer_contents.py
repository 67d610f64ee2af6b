"""What the model layer must hold for a model file, decided at packaging from the file itself (nothing is unpickled
to find out): the distributions beyond the base stack (model.json's `requirements`), the user's own modules
(`--code PATH`, model.json's `code`), and the scikit-learn stack the pickle was written with.

A pickle written by the local scikit-learn is verified by the local runtime as before. One written by another
scikit-learn X is verified in an environment that has exactly X: the user's own (`--sklearn-python`, the Python of
the environment it was trained in) or one created and cached under ~/.cache/sklambda/envs (sklearn_env), made with
the Lambda Python when this machine has it, so that a scikit-learn without a wheel for Lambda's Python is found at
packaging rather than at the layer build.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sklearn
from predict_service.errors import ModelLoadError
from predict_service.manifest import LibraryVersions, ModelManifest, read_manifest
from predict_service.model_extras import installed_version, layer_distribution, recorded_name
from predict_service.runtimes import DEFAULT_RUNTIME

from .requirements import REPO_ROOT, ModelNeeds, PickleScanError, model_needs, scan_pickle
from .sklearn_env import (
    SklearnEnv,
    SklearnEnvError,
    ensure_env,
    existing_env,
    predict_in_env,
    recorded_sklearn_version,
)

DEPLOY_MAKEFILE = REPO_ROOT / "mk" / "deploy.mk"
# layers/model/Makefile's default model directory (the CLI's LOCAL_MODEL_DIR).
LOCAL_MODEL_DIR = REPO_ROOT / "layers" / "model" / "model"


class LayerContentsError(Exception):
    """The model needs something that cannot ship; the message says what and what to do."""


class UnreadableModelFile(LayerContentsError):
    """The file is not a pickle or joblib file the scan can read."""


def lambda_python_version() -> str | None:
    """LAMBDA_PYTHON of mk/deploy.mk, the Python the layer is built for; None outside a checkout."""
    try:
        text = DEPLOY_MAKEFILE.read_text(encoding="utf-8")
    except OSError:
        return None
    match = re.search(r"^LAMBDA_PYTHON\s*:=\s*(\S+)\s*$", text, re.MULTILINE)
    return match.group(1) if match else None


def lambda_python() -> Path | None:
    """This machine's interpreter of the Lambda Python version, when it has one."""
    wanted = lambda_python_version()
    if wanted is None:
        return None
    try:
        from deploy.toolchain import find_target_python
    except ImportError:
        return None
    return find_target_python(wanted)


def code_module_name(code_path: Path) -> str:
    """The top-level module a `--code` path provides: a file's stem, a package directory's name."""
    return code_path.stem if code_path.is_file() else code_path.name


@dataclass(frozen=True)
class OtherSklearn:
    """The pickle's scikit-learn is not the local one: the environment that has it, and its versions."""

    env: SklearnEnv
    versions: LibraryVersions


@dataclass(frozen=True)
class LayerContents:
    needs: ModelNeeds
    # Recorded names (a drop-in build under the name it stands for) -> installed versions.
    requirements: dict[str, str]
    code_paths: list[Path] = field(default_factory=list)
    other_sklearn: OtherSklearn | None = None

    @contextmanager
    def importable(self) -> Iterator[None]:
        """The user's modules importable (from where --code names them) while the model is loaded here."""
        entries = [str(path.resolve().parent) for path in self.code_paths]
        sys.path[:0] = entries
        try:
            yield
        finally:
            for entry in entries:
                sys.path.remove(entry)

    def verify_in_env(self, model_file: Path, example: Sequence[Any], probabilities: bool) -> None:
        """Load and predict the example row in the environment with the pickle's own scikit-learn."""
        if self.other_sklearn is None:
            return
        try:
            predict_in_env(
                self.other_sklearn.env,
                model_file,
                [list(example)],
                probabilities=probabilities,
                code_paths=[path.resolve().parent for path in self.code_paths],
            )
        except SklearnEnvError as error:
            raise LayerContentsError(str(error)) from error


def _other_sklearn(
    model_file: Path, version: str, sklearn_python: Path | None, code_paths: Sequence[Path]
) -> OtherSklearn:
    try:
        if sklearn_python is not None:
            env = existing_env(sklearn_python)
            where = f"--sklearn-python {sklearn_python}"
        else:
            python = lambda_python()
            env = ensure_env([f"scikit-learn=={version}"], python=str(python or sys.executable))
            where = f"the environment {env.path} (Python {env.python_release})"
        # Loading is enough to learn the versions; the example row is verified once it is known.
        answer = predict_in_env(env, model_file, [], code_paths=[path.resolve().parent for path in code_paths])
    except SklearnEnvError as error:
        lambda_version = lambda_python_version()
        where_set = (
            f" (the layer is built for Python {lambda_version}: LAMBDA_PYTHON in mk/deploy.mk and the template's "
            f"Runtime say which)"
            if sklearn_python is None and lambda_version
            else ""
        )
        raise LayerContentsError(f"{error}{where_set}") from error
    if answer.versions["scikit-learn"] != version:
        raise LayerContentsError(
            f"{model_file} was pickled by scikit-learn {version} but {where} has scikit-learn "
            f"{answer.versions['scikit-learn']}: give the Python of an environment with scikit-learn {version}"
        )
    versions = LibraryVersions.model_validate({"python": env.python_release, **answer.versions})
    return OtherSklearn(env, versions)


def plan_layer(model_file: Path, code_paths: Sequence[Path] = (), sklearn_python: Path | None = None) -> LayerContents:
    """Read what `model_file` references and decide what the layer must hold; LayerContentsError when something it
    references cannot ship (a module not installed here, the user's own module without --code, a class defined in
    a script)."""
    try:
        needs = model_needs(scan_pickle(model_file))
        version = recorded_sklearn_version(model_file)
    except PickleScanError as error:
        raise UnreadableModelFile(str(error)) from error
    except SklearnEnvError as error:
        raise LayerContentsError(str(error)) from error
    if needs.main_references:
        raise LayerContentsError(
            f"{model_file} references {', '.join(needs.main_references)}, defined in a script run as __main__, "
            f"which nothing else can import: move it into a module, re-fit and re-pickle, then pass --code MODULE"
        )
    shipped = {code_module_name(path) for path in code_paths}
    missing = [module for module in needs.missing if module not in shipped]
    if missing:
        raise LayerContentsError(
            f"{model_file} references module(s) {', '.join(missing)}, which cannot be imported here: install the "
            f"library that provides them, or pass --code PATH for a module of your own"
        )
    unshipped = [module for module in needs.user_modules if module.name not in shipped]
    if unshipped:
        options = " ".join(f"--code {module.path}" for module in unshipped)
        names = ", ".join(module.name for module in unshipped)
        raise LayerContentsError(
            f"{model_file} references your own module(s) {names}, which the layer would not have: ship them with "
            f"{options}"
        )
    requirements = {recorded_name(item.distribution): item.version for item in needs.requirements}
    other = None
    if version is not None and version != sklearn.__version__:
        other = _other_sklearn(model_file, version, sklearn_python, code_paths)
    return LayerContents(needs, requirements, list(code_paths), other)


def local_differences(manifest: ModelManifest) -> dict[str, tuple[str, str | None]]:
    """What this environment lacks to serve `manifest`'s model as its layer would: name -> (required, installed or
    None), for the scikit-learn stack the model was pickled with and its requirements."""
    if manifest.runtime != DEFAULT_RUNTIME:
        return {}
    recorded = manifest.versions
    wanted = {"scikit-learn": recorded.scikit_learn, "numpy": recorded.numpy, "joblib": recorded.joblib}
    if recorded.scipy is not None:
        wanted["scipy"] = recorded.scipy
    wanted.update(manifest.requirements)
    found = {name: installed_version(name) for name in wanted}
    return {name: (wanted[name], found[name]) for name in sorted(wanted) if found[name] != wanted[name]}


def check_local_environment(model_dir: Path) -> None:
    """Before `sklambda serve`/`invoke`: a model this environment cannot load as the layer would is refused in one
    line naming the differences and the two ways to serve it (the built layer, or installing them here)."""
    try:
        manifest = read_manifest(model_dir)
    except ModelLoadError:
        return  # no model to check: serving reports that itself, as it would on Lambda
    differences = local_differences(manifest)
    if not differences:
        return
    described = ", ".join(
        f"{name}=={required} ({installed or 'not'} installed)" for name, (required, installed) in differences.items()
    )
    pins = " ".join(f"{layer_distribution(name)}=={required}" for name, (required, _) in differences.items())
    build = (
        "make local-api"
        if model_dir.resolve() == LOCAL_MODEL_DIR
        else f"make sam-build LAYER_MODEL_DIR={model_dir} && make local-api"
    )
    raise ModelLoadError(
        f"The model in {model_dir} needs {described}: serve the layer built from model.json with `{build}` (Python "
        f"{lambda_python_version() or '3'} and exactly those versions), or install them here: "
        f"`python -m pip install {pins}`",
        {"model_dir": str(model_dir), "differences": {name: list(pair) for name, pair in differences.items()}},
    )
