"""What a pickled model needs beyond the model layer's scikit-learn stack, read from the file without running it.

- `scan_pickle`: every global a pickle or joblib file references (module, name) and the scikit-learn version each
  estimator recorded in its state, found by unpickling with a loader that imports nothing: each global becomes an
  inert placeholder that only records what it was given. Only numpy's array and dtype constructors are real (the
  arrays' bytes must be read to reach what follows them, and numpy is in the base stack). joblib files are read as
  joblib.load reads them: compressed ones (zlib, gzip, bz2, xz, lzma) through joblib's own decompression, and the
  raw array data joblib writes between pickle opcodes through joblib's own NumpyUnpickler.
- `model_needs`: those references' top-level modules as installed distributions with their exact versions
  (importlib.metadata), minus the base stack of layers/model/requirements.txt; the user's own modules (a file
  outside site-packages and the standard library), to ship with `--code PATH`; modules not importable here.
- `copy_user_code`: `--code PATH` (a module file or a package directory) copied into the model directory, with each
  file's sha256 for the manifest's integrity check.
"""

from __future__ import annotations

import importlib.util
import pickle
import re
import shutil
import sys
import sysconfig
from collections.abc import Iterator
from dataclasses import dataclass, field
from importlib.metadata import packages_distributions, version
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from joblib.numpy_pickle import NumpyArrayWrapper, NumpyUnpickler
from joblib.numpy_pickle_utils import _validate_fileobject_and_memmap
from numpy._core.multiarray import _reconstruct
from predict_service.manifest import file_sha256
from predict_service.model_extras import CODE_DIRNAME

REPO_ROOT = Path(__file__).resolve().parents[2]
BASE_REQUIREMENTS_FILE = REPO_ROOT / "layers" / "model" / "requirements.txt"
# State key scikit-learn's BaseEstimator.__getstate__ writes (what InconsistentVersionWarning reports).
SKLEARN_VERSION_KEY = "_sklearn_version"

# The constructors numpy arrays and dtypes are pickled with; real so that joblib can read the array bytes.
_NUMPY_CONSTRUCTORS: dict[str, Any] = {"dtype": np.dtype, "ndarray": np.ndarray, "_reconstruct": _reconstruct}
_NUMPY_MODULES = {"numpy", "numpy.core.multiarray", "numpy._core.multiarray"}


class PickleScanError(Exception):
    """The file cannot be read as a pickle or joblib file; the message says which and why."""


class Placeholder:
    """Stands for an instance of a referenced class (or the result of a referenced function): records whatever
    unpickling hands it and runs none of the real code."""

    reference: ClassVar[tuple[str, str]] = ("", "")

    args: tuple[Any, ...]
    state: Any
    items: list[Any]

    # __new__ rather than __init__: pickle's NEWOBJ opcode calls cls.__new__(cls, *args) and never __init__.
    def __new__(cls, *args: Any, **kwargs: Any) -> Placeholder:
        placeholder = super().__new__(cls)
        placeholder.args, placeholder.state, placeholder.items = args, None, []
        return placeholder

    def __setstate__(self, state: Any) -> None:
        self.state = state

    def __setitem__(self, key: Any, value: Any) -> None:
        self.items.append((key, value))

    def append(self, value: Any) -> None:
        self.items.append(value)

    def extend(self, values: Any) -> None:
        self.items.extend(values)


class _ReferenceUnpickler(NumpyUnpickler):  # type: ignore[misc]  # joblib ships no type information
    """joblib's unpickler (it reads the array bytes between opcodes) with a find_class that imports nothing."""

    def __init__(self, filename: str, file_handle: Any, references: set[tuple[str, str]]) -> None:
        super().__init__(filename, file_handle, ensure_native_byte_order=False)
        self.references = references
        self.placeholders: dict[tuple[str, str], type[Placeholder]] = {}

    def find_class(self, module: str, name: str) -> Any:
        if module == "joblib.numpy_pickle" and name == "NumpyArrayWrapper":
            return NumpyArrayWrapper
        self.references.add((module, name))
        if module in _NUMPY_MODULES and name in _NUMPY_CONSTRUCTORS:
            return _NUMPY_CONSTRUCTORS[name]
        key = (module, name)
        if key not in self.placeholders:
            self.placeholders[key] = type(name.rsplit(".", 1)[-1], (Placeholder,), {"reference": key})
        return self.placeholders[key]


@dataclass(frozen=True)
class PickleScan:
    """What a pickle or joblib file references, and the scikit-learn versions its estimators recorded."""

    references: frozenset[tuple[str, str]]
    sklearn_versions: frozenset[str]

    @property
    def top_level_modules(self) -> list[str]:
        return sorted({module.split(".", 1)[0] for module, _ in self.references})


def _walk(value: Any, seen: set[int]) -> Iterator[Any]:
    """Every object reachable from the unpickled placeholder tree, once each."""
    stack = [value]
    while stack:
        item = stack.pop()
        if id(item) in seen:
            continue
        seen.add(id(item))
        yield item
        if isinstance(item, Placeholder):
            stack.extend([item.args, item.state, item.items])
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list | tuple | set | frozenset):
            stack.extend(item)
        elif isinstance(item, np.ndarray) and item.dtype.hasobject:
            stack.extend(item.ravel().tolist())


def scan_pickle(path: Path) -> PickleScan:
    """Globals and recorded scikit-learn versions of a pickle/joblib file, without importing what it references."""
    references: set[tuple[str, str]] = set()
    try:
        with open(path, "rb") as raw, _validate_fileobject_and_memmap(raw, str(path), None) as (fobj, _):
            if isinstance(fobj, str):
                raise PickleScanError(
                    f"{path} was written by joblib older than 0.10 (arrays in companion files): load it and dump it "
                    f"again with a current joblib"
                )
            root = _ReferenceUnpickler(str(path), fobj, references).load()
    except PickleScanError:
        raise
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, IndexError, KeyError) as error:
        raise PickleScanError(
            f"{path} is not a pickle or joblib file this scan can read: {type(error).__name__}: {error}"
        ) from error
    versions = {
        str(item[SKLEARN_VERSION_KEY])
        for item in _walk(root, set())
        if isinstance(item, dict) and isinstance(item.get(SKLEARN_VERSION_KEY), str)
    }
    return PickleScan(frozenset(references), frozenset(versions))


# --- modules -> distributions -----------------------------------------------------------------------------------


def canonical_name(distribution: str) -> str:
    """PEP 503 normalisation: Scikit_Learn and scikit-learn are one distribution."""
    return re.sub(r"[-_.]+", "-", distribution).lower()


def base_stack(requirements_file: Path = BASE_REQUIREMENTS_FILE) -> dict[str, str]:
    """The model layer's pinned scikit-learn stack: canonical distribution name -> version."""
    pins: dict[str, str] = {}
    for line in requirements_file.read_text().splitlines():
        text = line.split("#", 1)[0].strip()
        if "==" in text:
            name, pinned = text.split("==", 1)
            pins[canonical_name(name.strip())] = pinned.strip()
    return pins


@dataclass(frozen=True)
class Requirement:
    """An installed distribution the pickle needs, at the version installed here."""

    distribution: str
    version: str
    modules: tuple[str, ...]

    @property
    def pin(self) -> str:
        return f"{self.distribution}=={self.version}"


@dataclass(frozen=True)
class UserModule:
    """A module of the user's own (a file outside site-packages and the standard library)."""

    name: str
    path: Path


@dataclass(frozen=True)
class ModelNeeds:
    """What the model layer must add to its base stack for this pickle, and what must ship beside it."""

    scan: PickleScan
    requirements: list[Requirement]
    base: list[Requirement]
    user_modules: list[UserModule] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    # Defined in a script run as __main__: unpicklable anywhere else.
    main_references: list[str] = field(default_factory=list)

    def code_suggestion(self) -> str | None:
        """One line telling the user which --code options ship their modules, or None when there are none."""
        if not self.user_modules:
            return None
        options = " ".join(f"--code {module.path}" for module in self.user_modules)
        names = ", ".join(module.name for module in self.user_modules)
        return f"the model references your own module(s) {names}: ship them with {options}"


def _installed_locations() -> list[Path]:
    """site-packages and the standard library: a module found under these is not the user's own code."""
    names = ("purelib", "platlib", "stdlib", "platstdlib")
    return [Path(sysconfig.get_paths()[name]).resolve() for name in names if name in sysconfig.get_paths()]


def module_file(module: str) -> Path | None:
    """Where a top-level module would be imported from, without importing it; None when it cannot be found."""
    try:
        spec = importlib.util.find_spec(module)
    except (ImportError, ValueError):
        return None
    if spec is None:
        return None
    if spec.origin not in (None, "built-in", "frozen", "namespace"):
        origin = Path(spec.origin).resolve()
        return origin.parent if origin.name == "__init__.py" else origin
    locations = list(spec.submodule_search_locations or [])
    return Path(locations[0]).resolve() if locations else None


def model_needs(scan: PickleScan, requirements_file: Path = BASE_REQUIREMENTS_FILE) -> ModelNeeds:
    """Map the scan's top-level modules to installed distributions (exact versions), user modules and the rest."""
    base_pins = base_stack(requirements_file)
    distributions = packages_distributions()
    installed = _installed_locations()
    by_distribution: dict[str, list[str]] = {}
    user_modules: list[UserModule] = []
    missing: list[str] = []
    main_references = sorted(f"{module}.{name}" for module, name in scan.references if module == "__main__")
    for module in scan.top_level_modules:
        if module in ("__main__", "builtins") or module in sys.stdlib_module_names:
            continue
        names = distributions.get(module)
        if names:
            for name in dict.fromkeys(names):
                by_distribution.setdefault(name, []).append(module)
            continue
        location = module_file(module)
        if location is None:
            missing.append(module)
        elif not any(location.is_relative_to(root) for root in installed):
            user_modules.append(UserModule(module, location))
        # else: a module in site-packages no distribution claims (e.g. a bare .py dropped there): nothing to pin.
    requirements: list[Requirement] = []
    base: list[Requirement] = []
    for name, modules in sorted(by_distribution.items(), key=lambda item: canonical_name(item[0])):
        requirement = Requirement(name, version(name), tuple(sorted(modules)))
        (base if canonical_name(name) in base_pins else requirements).append(requirement)
    return ModelNeeds(scan, requirements, base, user_modules, missing, main_references)


# --- the user's code ----------------------------------------------------------------------------------------------


class UserCodeError(Exception):
    """`--code PATH` is not something that can ship; the message says what to pass instead."""


def _code_files(code_path: Path) -> list[Path]:
    if code_path.is_file():
        if code_path.suffix != ".py":
            raise UserCodeError(f"--code {code_path}: not a Python module (.py file) or a package directory")
        return [code_path]
    if code_path.is_dir():
        files = sorted(
            path
            for path in code_path.rglob("*")
            if path.is_file() and "__pycache__" not in path.relative_to(code_path).parts and path.suffix != ".pyc"
        )
        if not any(path.suffix == ".py" for path in files):
            raise UserCodeError(f"--code {code_path}: the directory holds no .py file; pass a module or a package")
        return files
    raise UserCodeError(f"--code {code_path}: no such file or directory")


def copy_user_code(code_path: Path, model_dir: Path) -> dict[str, str]:
    """Copy a module file or package directory into MODEL_DIR/code/ under its own name (the name it is imported
    and was pickled with); returns {path relative to the model directory (posix): sha256} for each file copied.
    Compiled files (__pycache__, .pyc) are left behind: Lambda's Python compiles its own."""
    code_path = code_path.resolve()
    files = _code_files(code_path)
    target_root = model_dir / CODE_DIRNAME
    destination = target_root / code_path.name
    if destination.exists():
        raise UserCodeError(
            f"--code {code_path}: {destination} already exists (two --code paths with the same name?); rename one"
        )
    hashes: dict[str, str] = {}
    for source in files:
        relative = source.relative_to(code_path.parent)
        target = target_root / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, target)
        hashes[target.relative_to(model_dir).as_posix()] = file_sha256(target)
    return hashes
