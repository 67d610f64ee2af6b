"""Size report and budget check for the built function + layers (what Lambda counts against its 250 MB limit).

Usage: python -m deploy.sizes [BUILD_DIR] [--budget-mb 200] [--zip] [--compare RUNTIME=STACK_DIR ...]
       python -m deploy.sizes [BUILD_DIR] --other-runtimes
Exit status 1 when function + layers, unzipped, exceed the budget; the report is printed either way.
--compare names another runtime's layer libraries (built by `make build` with STACK_ONLY=1), to show what the
function + layer would weigh with that runtime instead; --other-runtimes prints the runtimes (of the registry in
predict_service.runtimes) that the built layer does not serve, the ones `make build` compares.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from predict_service.model_extras import canonical_name, layer_distribution
from predict_service.runtimes import DEFAULT_RUNTIME, RUNTIMES

MIB = 1024 * 1024
# Lambda: "Unzipped size must be smaller than 262144000 bytes" (function + all layers) = 250 MiB.
LAMBDA_UNZIPPED_LIMIT_BYTES = 262_144_000
# Larger zips cannot be uploaded directly to Lambda; they must go through S3 (sam deploy always does).
LAMBDA_DIRECT_UPLOAD_LIMIT_BYTES = 50 * MIB
DEFAULT_BUDGET_MB = 200
# The prediction function and its model layer: together they must fit Lambda's unzipped limit. The other function a
# build holds, the CodeDeploy pre-traffic hook (one module, a few KB), is deployed apart with its own limit.
MEASURED_ARTIFACTS = ("PredictFunction", "ModelLayer")


@dataclass
class ArtifactSize:
    name: str
    path: Path
    unzipped_bytes: int
    file_count: int
    zipped_bytes: int | None = None
    largest_entries: list[tuple[str, int]] = field(default_factory=list)


def tree_bytes(root: Path) -> tuple[int, int]:
    """Sum of regular-file sizes (what a zip's uncompressed sizes add up to) and the number of files."""
    total = count = 0
    for directory, _, files in os.walk(root):
        for name in files:
            path = Path(directory, name)
            if path.is_file() and not path.is_symlink():
                total += path.stat().st_size
                count += 1
    return total, count


def zipped_bytes(root: Path) -> int:
    """Size of a deflate zip of `root`, made the way `sam package` makes it (default compression level)."""
    with tempfile.TemporaryFile() as scratch:
        with zipfile.ZipFile(scratch, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            for directory, _, files in os.walk(root):
                for name in sorted(files):
                    path = Path(directory, name)
                    archive.write(path, path.relative_to(root))
        return scratch.seek(0, os.SEEK_END)


def largest_entries(root: Path, limit: int) -> list[tuple[str, int]]:
    """Biggest entries one level below the artifact root (and below python/ for layers)."""
    level = root / "python" if (root / "python").is_dir() else root
    entries = []
    for entry in level.iterdir():
        size = tree_bytes(entry)[0] if entry.is_dir() else entry.stat().st_size
        entries.append((str(entry.relative_to(root)), size))
    entries.sort(key=lambda item: item[1], reverse=True)
    return entries[:limit]


def measure(build_dir: Path, with_zip: bool = False, top: int = 6) -> list[ArtifactSize]:
    """One ArtifactSize per MEASURED_ARTIFACTS directory present in a `sam build` output."""
    artifacts = []
    for path in sorted(p for p in build_dir.iterdir() if p.is_dir() and p.name in MEASURED_ARTIFACTS):
        unzipped, count = tree_bytes(path)
        artifacts.append(
            ArtifactSize(
                name=path.name,
                path=path,
                unzipped_bytes=unzipped,
                file_count=count,
                zipped_bytes=zipped_bytes(path) if with_zip else None,
                largest_entries=largest_entries(path, top),
            )
        )
    return artifacts


@dataclass(frozen=True)
class ExtraSize:
    """A distribution the layer holds because model.json's requirements name it."""

    requirement: str
    distribution: str
    unzipped_bytes: int

    def describe(self) -> str:
        name = self.requirement.split("==", 1)[0]
        installed_as = f" (as {self.distribution})" if canonical_name(name) != self.distribution else ""
        return f"{self.requirement}{installed_as}"


def _top_level_entries(site: Path, info: Path) -> set[Path]:
    """The entries directly under `site` that a distribution installed (its RECORD), as they are after the build
    (a top-level module's .py may have been replaced by its .pyc)."""
    entries = {info}
    record = info / "RECORD"
    lines = record.read_text(encoding="utf-8").splitlines() if record.is_file() else []
    for line in lines:
        first = line.split(",", 1)[0].split("/", 1)[0]
        if first and not first.startswith(".."):
            for candidate in (site / first, site / f"{first}c"):
                if candidate.exists():
                    entries.add(candidate)
    return entries


def model_extras(layer_dir: Path) -> list[ExtraSize]:
    """Each requirement of the built layer's model.json with the unzipped bytes its distribution adds."""
    try:
        requirements = json.loads((layer_dir / "model" / "model.json").read_text()).get("requirements", {})
    except (OSError, ValueError):
        return []
    site = layer_dir / "python"
    infos = {
        canonical_name(info.name.removesuffix(".dist-info").rsplit("-", 1)[0]): info
        for info in site.glob("*.dist-info")
    }
    extras = []
    for name, version in sorted(requirements.items()):
        distribution = layer_distribution(name)
        info = infos.get(distribution)
        total = 0
        if info is not None:
            for entry in _top_level_entries(site, info):
                total += tree_bytes(entry)[0] if entry.is_dir() else entry.stat().st_size
        extras.append(ExtraSize(f"{name}=={version}", distribution, total))
    return extras


def mib(size: int) -> str:
    return f"{size / MIB:7.1f} MB"


def report(artifacts: list[ArtifactSize], budget_bytes: int, extras: list[ExtraSize] | None = None) -> tuple[str, bool]:
    """The printable report and whether the total fits the budget. `extras`: the model's requirements in the
    layer, each named with its size."""
    extras = extras or []
    lines = [f"{'artifact':<18} {'files':>7} {'unzipped':>11} {'zipped':>11}"]
    for artifact in artifacts:
        zipped = mib(artifact.zipped_bytes) if artifact.zipped_bytes is not None else f"{'-':>10}"
        lines.append(f"{artifact.name:<18} {artifact.file_count:>7} {mib(artifact.unzipped_bytes):>11} {zipped:>11}")
        for entry, size in artifact.largest_entries:
            lines.append(f"    {entry:<30} {mib(size)}")
    for extra in extras:
        lines.append(f"model requirement {extra.describe():<40} {mib(extra.unzipped_bytes)}")
    total = sum(artifact.unzipped_bytes for artifact in artifacts)
    fits = total <= budget_bytes
    verdict = "OK" if fits else "OVER BUDGET"
    lines.append(
        f"total unzipped (function + layers): {mib(total).strip()} ({total} bytes); "
        f"budget {mib(budget_bytes).strip()}, Lambda limit {mib(LAMBDA_UNZIPPED_LIMIT_BYTES).strip()}: {verdict}"
    )
    for artifact in artifacts:
        if artifact.zipped_bytes is not None and artifact.zipped_bytes > LAMBDA_DIRECT_UPLOAD_LIMIT_BYTES:
            lines.append(
                f"note: {artifact.name} zips to {mib(artifact.zipped_bytes).strip()}, over the 50 MB direct-upload "
                "limit: deploy through S3 (sam deploy does, with resolve_s3 or --s3-bucket)."
            )
    if not fits:
        parts = [
            (f"{artifact.name}/{entry}", size) for artifact in artifacts for entry, size in artifact.largest_entries
        ]
        parts += [(f"{extra.describe()} (model requirement)", extra.unzipped_bytes) for extra in extras]
        biggest = ", ".join(f"{name} {mib(size).strip()}" for name, size in sorted(parts, key=lambda p: -p[1])[:4])
        requirement_way = (
            "re-fit the model without the requirement(s) it lists or serve it with `--runtime onnx` (which needs "
            "none of them), "
            if extras
            else ""
        )
        lines.append(
            f"ERROR: function + layers unzipped exceed the {mib(budget_bytes).strip()} budget; the biggest parts: "
            f"{biggest}. {requirement_way.capitalize()}slim the layer (layers/model/Makefile), move the model to S3 "
            "(ModelS3Uri), or raise BUDGET_MB (Lambda refuses anything over 250 MB)."
        )
    return "\n".join(lines), fits


def built_runtime(build_dir: Path) -> str:
    """The runtime the built model layer serves (model.json's "runtime"), or "unknown" when there is none."""
    manifest = build_dir / "ModelLayer" / "model" / "model.json"
    try:
        runtime = json.loads(manifest.read_text()).get("runtime", DEFAULT_RUNTIME)
    except (OSError, ValueError):
        return "unknown"
    return str(runtime)


def other_runtimes(built: str) -> list[str]:
    """The registry's runtimes other than `built`, the ones whose layers `make build` measures for comparison."""
    return [name for name in RUNTIMES if name != built]


def comparison(artifacts: list[ArtifactSize], stack_dir: Path, other: str) -> str:
    """One line: function + another runtime's layer (libraries only; the model adds its own size to either)."""
    stack_bytes = tree_bytes(stack_dir)[0]
    function_bytes = sum(artifact.unzipped_bytes for artifact in artifacts if artifact.name != "ModelLayer")
    return (
        f"with the {other} runtime instead: layer libraries {mib(stack_bytes).strip()}, function + layer "
        f"{mib(function_bytes + stack_bytes).strip()} plus the model (`sklambda package/train --runtime {other}`)"
    )


def runtime_and_dir(text: str) -> tuple[str, Path]:
    """`RUNTIME=DIR` for --compare."""
    runtime, equals, directory = text.partition("=")
    if not equals or runtime not in RUNTIMES or not directory:
        raise argparse.ArgumentTypeError(f"{text!r} is not RUNTIME=DIR with RUNTIME one of {', '.join(RUNTIMES)}")
    return runtime, Path(directory)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("build_dir", nargs="?", type=Path, default=Path(".aws-sam/build"))
    parser.add_argument("--budget-mb", type=float, default=DEFAULT_BUDGET_MB, help="MB (MiB) for function + layers")
    parser.add_argument("--zip", action="store_true", help="also measure zipped sizes (a few seconds)")
    parser.add_argument(
        "--compare",
        type=runtime_and_dir,
        action="append",
        default=[],
        metavar="RUNTIME=DIR",
        help="another runtime's layer libraries, to report their size (repeatable)",
    )
    parser.add_argument("--other-runtimes", action="store_true", help="print the runtimes to compare, and exit")
    args = parser.parse_args(argv)
    if args.other_runtimes:
        sys.stdout.write(" ".join(other_runtimes(built_runtime(args.build_dir))) + "\n")
        return 0
    if not args.build_dir.is_dir():
        sys.stderr.write(f"{args.build_dir} does not exist: run `make build` first\n")
        return 2
    artifacts = measure(args.build_dir, with_zip=args.zip)
    layer = args.build_dir / "ModelLayer"
    text, fits = report(artifacts, int(args.budget_mb * MIB), model_extras(layer) if layer.is_dir() else [])
    runtime = built_runtime(args.build_dir)
    sys.stdout.write(f"model runtime: {runtime} (from the built layer's model/model.json)\n{text}\n")
    for other, stack_dir in args.compare:
        if stack_dir.is_dir():
            sys.stdout.write(comparison(artifacts, stack_dir, other) + "\n")
    return 0 if fits else 1


if __name__ == "__main__":
    raise SystemExit(main())
