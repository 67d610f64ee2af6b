"""Whether a packaged model fits on Lambda, told at packaging instead of at `make build`.

Lambda refuses a function whose code and layers exceed 250 MiB unzipped. The model ships in the model layer next to
its runtime's libraries, so the question is model + stack. The stack sizes are constants measured once with
`make build` (x86_64, the figures in docs/deploy.md's size table: function + layer with the demo model, whose file
is a few KB); `tests/deploy/test_sizes.py` measures the build itself where it runs.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from predict_service.manifest import ModelManifest

MIB = 1024 * 1024
LAMBDA_UNZIPPED_LIMIT_BYTES = 262_144_000
"""Lambda's "Unzipped size must be smaller than 262144000 bytes" (function + all layers): 250 MiB."""

STACK_BYTES = {"sklearn": round(164.3 * MIB), "onnx": round(84.4 * MIB)}
"""Function + model layer without the model, per runtime, measured by `make build` (docs/deploy.md)."""


@dataclass(frozen=True)
class SizeCheck:
    model_bytes: int
    stack_bytes: int
    runtime: str

    @property
    def total_bytes(self) -> int:
        return self.model_bytes + self.stack_bytes

    @property
    def fits(self) -> bool:
        return self.total_bytes < LAMBDA_UNZIPPED_LIMIT_BYTES


def check_size(model_dir: Path, manifest: ModelManifest) -> SizeCheck:
    """The shipped model file's size against its runtime's stack."""
    shipped = model_dir / manifest.shipped_file().name
    return SizeCheck(shipped.stat().st_size, STACK_BYTES[manifest.runtime], manifest.runtime)


def _mib(size: int) -> str:
    if size < MIB // 10:
        return f"{size / 1024:.0f} KB"
    return f"{size / MIB:.1f} MB"


def describe_size(check: SizeCheck) -> str:
    """One line: the model's size, and when model + stack is over Lambda's limit, the ways out."""
    summary = (
        f"model file {_mib(check.model_bytes)}; with the {check.runtime} stack ({_mib(check.stack_bytes)}) "
        f"{_mib(check.total_bytes)} of Lambda's 250 MB unzipped"
    )
    if check.fits:
        return summary
    ways = ["load it from S3 at cold start instead of the layer (deploy with ModelS3Uri, see docs/deploy.md)"]
    if check.runtime != "onnx":
        onnx_stack = _mib(STACK_BYTES["onnx"])
        ways.append(f"package it with --runtime onnx (a {onnx_stack} stack; a forest's ONNX file is often smaller)")
    return f"warning: {summary}: too large for the layer; {', or '.join(ways)}"
