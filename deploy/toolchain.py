"""Find the interpreter matching the Lambda runtime, for byte-compiling the build and running the built artifacts.

Usage: python -m deploy.toolchain 3.13   -> prints its path, or nothing (exit 1) when there is none.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path


def candidate_pythons(version: str) -> list[Path]:
    """Places a Python `version` lives on the machines we build on: pyenv (no shims: they fail unless selected),
    setup-python / system installs, then whatever PATH has."""
    pyenv_root = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv"))
    found = sorted(pyenv_root.glob(f"versions/{version}.*/bin/python{version}"), reverse=True)
    found += [Path(f"/usr/local/bin/python{version}"), Path(f"/usr/bin/python{version}")]
    on_path = shutil.which(f"python{version}")
    if on_path:
        found.append(Path(on_path))
    return found


def reports_version(python: Path, version: str) -> bool:
    try:
        result = subprocess.run(
            [str(python), "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
    except OSError:
        return False
    return result.returncode == 0 and result.stdout.strip() == version


def find_target_python(version: str) -> Path | None:
    explicit = os.environ.get("TARGET_PYTHON")
    candidates = [Path(explicit)] if explicit else candidate_pythons(version)
    return next((python for python in candidates if python.is_file() and reports_version(python, version)), None)


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        sys.stderr.write("usage: toolchain.py X.Y\n")
        return 2
    python = find_target_python(argv[1])
    if python is None:
        return 1
    sys.stdout.write(f"{python}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
