"""What the model layer installs and ships, read from model.json by the build's Python (standard library only: the
Makefile beside this file must build from a scratch copy of this directory, without sklambda installed).

    python layer_model.py requirements MODEL_JSON BASE_REQUIREMENTS "NAME=DROP_IN ..."  -> pins, one a line
    python layer_model.py code MODEL_DIR DESTINATION                                  -> copies the listed code
    python layer_model.py extras MODEL_JSON                                           -> "name==version ..." or ""

requirements: the base stack of BASE_REQUIREMENTS with scikit-learn, numpy, scipy and joblib at the versions the
model was pickled with (model.json's "versions"), plus model.json's "requirements", each replaced by its drop-in
build when it has one (same version). A missing model.json (a stack-only build) leaves the base stack as it is.
code: the files model.json's "code" lists (the model's own modules, under code/), and nothing else.
"""

from __future__ import annotations

import json
import re
import shutil
import sys
from pathlib import Path
from typing import Any

# The base-stack distributions whose version the model's pickle decides.
PICKLED_WITH = ("scikit-learn", "numpy", "scipy", "joblib")


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def read_manifest(path: Path) -> dict[str, Any]:
    if not path.is_file():
        return {}
    manifest: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return manifest


def pins(manifest_path: Path, base_path: Path, drop_ins: str) -> list[str]:
    manifest = read_manifest(manifest_path)
    recorded = {canonical(name): value for name, value in manifest.get("versions", {}).items() if value}
    drop_in = dict(pair.split("=", 1) for pair in drop_ins.split())
    chosen: dict[str, str] = {}
    for line in base_path.read_text(encoding="utf-8").splitlines():
        text = line.split("#", 1)[0].strip()
        if "==" in text:
            name, version = (part.strip() for part in text.split("==", 1))
            name = canonical(name)
            chosen[name] = recorded[name] if name in PICKLED_WITH and name in recorded else version
    for name, version in manifest.get("requirements", {}).items():
        chosen[canonical(drop_in.get(canonical(name), name))] = version
    return [f"{name}=={version}" for name, version in chosen.items()]


def copy_code(model_dir: Path, destination: Path) -> None:
    manifest = read_manifest(model_dir / "model.json")
    for relative in sorted(manifest.get("code", {})):
        target = destination / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(model_dir / relative, target)


def main(argv: list[str]) -> int:
    command, *args = argv
    if command == "requirements":
        sys.stdout.write("".join(f"{pin}\n" for pin in pins(Path(args[0]), Path(args[1]), " ".join(args[2:]))))
    elif command == "code":
        copy_code(Path(args[0]), Path(args[1]))
    elif command == "extras":
        requirements = read_manifest(Path(args[0])).get("requirements", {})
        sys.stdout.write(" ".join(f"{name}=={version}" for name, version in sorted(requirements.items())) + "\n")
    else:
        sys.stderr.write(f"unknown command {command!r}: requirements, code or extras\n")
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
