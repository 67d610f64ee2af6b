"""Compatibility re-export: the ONNX runtime lives in `runtimes.onnx`."""

from .runtimes.onnx import OnnxRuntime, session_from_bytes

__all__ = ["OnnxRuntime", "session_from_bytes"]
