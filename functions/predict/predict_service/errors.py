"""Domain errors. They carry a human-readable message and structured detail; none of them knows about HTTP.

The errors that have several raise sites build their own message in a named constructor
(`ModelLoadError.sha256_mismatch(...)`), so the wording lives here once and every raise site is one line.
`validation_problems` is the one reader of pydantic's ValidationError: settings, the manifest and the CLI word their
reports from it, and none of them shows pydantic's own multi-line report.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Self

from pydantic import ValidationError

# Cap the per-row detail of a non-finite output error, like the input validation does.
MAX_REPORTED_ROWS = 20
MAX_SHOWN_VALUE_CHARS = 100


@dataclass(frozen=True, slots=True)
class ValidationProblem:
    """One problem of a pydantic ValidationError: where, what (our validators' own sentence), and the value."""

    loc: tuple[str | int, ...]
    message: str
    value: Any

    def where(self) -> str:
        return ".".join(map(str, self.loc))

    def shown_value(self) -> str:
        """The value as text, cut to MAX_SHOWN_VALUE_CHARS."""
        text = self.value if isinstance(self.value, str) else str(self.value)
        return text[:MAX_SHOWN_VALUE_CHARS] + "..." if len(text) > MAX_SHOWN_VALUE_CHARS else text


def validation_problems(error: ValidationError) -> list[ValidationProblem]:
    # Our validators' messages are whole sentences; pydantic prefixes them with "Value error, ".
    return [
        ValidationProblem(tuple(item["loc"]), item["msg"].removeprefix("Value error, "), item.get("input"))
        for item in error.errors(include_url=False)
    ]


def describe_validation_error(error: ValidationError) -> str:
    """One line: the problems joined by "; ", each "where: what". pydantic's echo of the whole input (the entire
    manifest, say) is left out."""
    return "; ".join(
        f"{problem.where()}: {problem.message}" if problem.loc else problem.message
        for problem in validation_problems(error)
    )


def _article(noun: str) -> str:
    return "an" if noun[:1].upper() in "AEIOU" else "a"


class ServiceError(Exception):
    """Base of every error the service raises on purpose."""

    def __init__(self, message: str, detail: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.detail = detail


class ModelLoadError(ServiceError):
    """Raise when the model directory cannot become a ready model (missing, corrupt, tampered, wrong version)."""

    @classmethod
    def model_dir_missing(cls, model_dir: Path) -> Self:
        return cls(
            f"Model directory {model_dir} does not exist: run `sklambda train` (demo model) or "
            f"`sklambda package MODEL.joblib`, or set MODEL_DIR",
            {"model_dir": str(model_dir)},
        )

    @classmethod
    def manifest_missing(cls, model_dir: Path, manifest_name: str) -> Self:
        return cls(
            f"No {manifest_name} in {model_dir}: build a model directory with `sklambda train` "
            f"or `sklambda package MODEL.joblib`",
            {"model_dir": str(model_dir)},
        )

    @classmethod
    def manifest_invalid(cls, path: Path, reason: str) -> Self:
        return cls(
            f"{path} is not a valid sklambda manifest ({reason}); re-create it with "
            f"`sklambda package` or `sklambda train`",
            {"manifest": str(path)},
        )

    @classmethod
    def model_file_missing(cls, model_dir: Path, model_file: str, names: str, repackage: str, **detail: str) -> Self:
        """`names`: what model.json says that calls for this file ("names format 'joblib'"); `repackage`: the
        command that re-creates the directory."""
        return cls(
            f"No {model_file} in {model_dir} (model.json is there and {names}): copy the file that was packaged, or "
            f"re-create the directory with {repackage}",
            {"model_dir": str(model_dir), **detail},
        )

    @classmethod
    def other_runtime(cls, model_dir: Path, held: tuple[str, str], wanted: tuple[str, str]) -> Self:
        """The directory holds a model for another runtime; `held` and `wanted` are (name, title) pairs."""
        (runtime, title), (wanted_name, wanted_title) = held, wanted
        return cls(
            f"{model_dir} holds {_article(title)} {title} model (runtime {runtime!r}), not {_article(wanted_title)} "
            f"{wanted_title} one: re-package it with `sklambda package MODEL.joblib --runtime {wanted_name}`, or "
            f"serve it with the {title} layer",
            {"model_dir": str(model_dir), "runtime": runtime},
        )

    @classmethod
    def sha256_mismatch(cls, path: Path, actual: str, expected: str, refused_action: str = "load") -> Self:
        return cls(
            f"Refusing to {refused_action} {path}: its sha256 {actual} does not match the manifest's "
            f"{expected}. The file was changed after packaging; re-package it with `sklambda package` "
            f"if the change is yours",
            {"expected_sha256": expected, "actual_sha256": actual},
        )

    @classmethod
    def version_mismatch(
        cls, library: str, made_with: str, recorded: str, installed: str, remedy: str, requirements: str
    ) -> Self:
        """`made_with`: how the file was made ("pickled with"); `remedy`: the first way out ("re-package it")."""
        key = library.replace("-", "_")
        return cls(
            f"Model was {made_with} {library} {recorded} but {library} {installed} is installed: {remedy} with "
            f"{library} {installed}, or pin {library}=={recorded} in layers/model/{requirements} and "
            f"requirements-dev.txt",
            {f"model_{key}": recorded, f"installed_{key}": installed},
        )

    @classmethod
    def stack_missing(
        cls, model_dir: Path, runtime: str, title: str, library: str, error: ImportError, remedy: str
    ) -> Self:
        """The runtime's libraries are not installed (the layer was built for another runtime)."""
        return cls(
            f"The model in {model_dir} is {_article(title)} {title} model but {library} cannot be imported "
            f"({error}): {remedy}",
            {"model_dir": str(model_dir), "runtime": runtime},
        )

    @classmethod
    def unreadable(cls, path: Path, library: str, error: Exception, **detail: str) -> Self:
        """The file passed its checks but `library` (joblib, skops, onnxruntime) could not load it."""
        return cls(
            f"{library} could not load {path}: {type(error).__name__}: {error}",
            {"model_dir": str(path.parent), **detail},
        )

    @classmethod
    def skops_missing(cls, path: Path, error: ImportError) -> Self:
        return cls(
            f"{path} is a skops model but skops cannot be imported ({error}): deploy it with the model layer "
            f"built from this model directory (it adds layers/model/requirements-skops.txt), or "
            f"`pip install -r layers/model/requirements-skops.txt` to serve it locally",
            {"model_dir": str(path.parent), "format": "skops"},
        )

    @classmethod
    def untrusted_types(cls, path: Path, beyond: list[str], trusted: list[str]) -> Self:
        return cls(
            f"Refusing to load {path}: it needs types that model.json does not trust: {beyond} "
            f"(trusted: {trusted}). Re-package the model with `sklambda package --format "
            f"skops` and review the types it lists",
            {"untrusted_types": beyond, "trusted_types": trusted},
        )

    @classmethod
    def graph_mismatch(cls, model_file: str, what: str, names: list[str], needed: str) -> Self:
        """An ONNX graph whose inputs or outputs (`what`) do not fit the manifest; `needed`: what would."""
        return cls(
            f"{model_file} has {what} {names}, which do not fit {needed}; re-package the model with "
            f"`sklambda package --runtime onnx`",
            {what: names},
        )

    @classmethod
    def missing_strings_unsupported(cls, model_file: str, features: list[str]) -> Self:
        """A manifest with nullable category features served by ONNX: a string tensor holds no missing value."""
        return cls(
            f"{model_file} cannot take a missing value (null) for the category feature(s) {features}: an ONNX string "
            "input has no missing value; package the model for the scikit-learn runtime (`--runtime sklearn`)",
            {"features": features},
        )

    @classmethod
    def s3_sha256_not_set(cls, s3_uri: str) -> Self:
        return cls(
            "MODEL_S3_URI is set but MODEL_SHA256 is not: give the expected sha256 of the model file (model.json's "
            "sha256, or its onnx.sha256 for an ONNX model) so the download can be verified before it is loaded",
            {"model_s3_uri": s3_uri},
        )

    @classmethod
    def s3_sha256_malformed(cls, given: str, which: str) -> Self:
        """`which`: the manifest field that records each kind of model file's sha256."""
        return cls(
            f"MODEL_SHA256 must be the 64-character hex sha256 of the model file that ships ({which})",
            {"model_sha256": given},
        )

    @classmethod
    def s3_uri_invalid(cls, s3_uri: str, problem: str) -> Self:
        return cls(f"MODEL_S3_URI {problem}", {"model_s3_uri": s3_uri})

    @classmethod
    def s3_fetch_failed(cls, s3_uri: str, error: Exception) -> Self:
        return cls(
            f"Could not fetch the model from {s3_uri}: {type(error).__name__}: {error}", {"model_s3_uri": s3_uri}
        )

    @classmethod
    def s3_manifest_disagrees(
        cls, s3_uri: str, manifest_name: str, model_file: str, field: str, recorded: str, expected: str
    ) -> Self:
        """The manifest in S3 records another sha256 for its model file than MODEL_SHA256."""
        return cls(
            f"Refusing the model from {s3_uri}: its {manifest_name} records {field} {recorded} for "
            f"{model_file}, but MODEL_SHA256 is {expected}. Upload the model directory MODEL_SHA256 was taken "
            f"from, or set MODEL_SHA256 (the template's ModelSha256 parameter) to the {field} in this "
            f"{manifest_name}",
            {
                "model_s3_uri": s3_uri,
                "model_file": model_file,
                "expected_sha256": expected,
                "manifest_sha256": recorded,
            },
        )

    @classmethod
    def s3_download_mismatch(
        cls, s3_uri: str, manifest_name: str, model_file: str, field: str, actual: str, expected: str
    ) -> Self:
        """The model file downloaded is not the one MODEL_SHA256 (and the manifest) name."""
        return cls(
            f"Refusing the model from {s3_uri}: {model_file} has sha256 {actual}, but MODEL_SHA256 is "
            f"{expected}, as is the {field} in its {manifest_name}: the {model_file} stored there is not "
            f"the packaged one; upload it again from the model directory its {manifest_name} came from",
            {"model_s3_uri": s3_uri, "model_file": model_file, "expected_sha256": expected, "actual_sha256": actual},
        )

    @classmethod
    def s3_manifest_invalid(cls, s3_uri: str, source: str, reason: str, manifest_name: str) -> Self:
        return cls(
            f"Refusing the model from {s3_uri}: {source} is not a valid sklambda manifest ({reason}); upload the "
            f"model directory that `sklambda package` or `sklambda train` wrote, {manifest_name} and model file "
            f"together",
            {"model_s3_uri": s3_uri, "manifest": source},
        )

    @classmethod
    def s3_download_failed(cls, bucket: str, key: str, error: Exception, code: str, advice: str) -> Self:
        """`code`: S3's error code ("" when S3 never answered); `advice`: the operator's next step."""
        return cls(
            f"Could not download s3://{bucket}/{key}: {error}. {advice}",
            {"bucket": bucket, "key": key, "error_code": code or type(error).__name__},
        )

    @classmethod
    def warm_up_failed(cls, example: Sequence[Any], error: Exception) -> Self:
        return cls(
            f"The model failed to predict its own example row {list(example)}: {type(error).__name__}: {error}",
            {"example": list(example)},
        )


class InvalidInputError(ServiceError):
    """Raise when a request's rows do not match what the model expects (shape, names, types, finiteness)."""

    @classmethod
    def non_finite_output(cls, rows: list[int]) -> Self:
        return cls(
            f"The model's output is not a finite number for {len(rows)} row(s) (first: row {rows[0]}); "
            f"their values are probably far outside the range the model was trained on",
            [
                {"loc": ["row", row], "msg": "model output is not finite", "type": "non_finite_output"}
                for row in rows[:MAX_REPORTED_ROWS]
            ],
        )


class TooManyRowsError(ServiceError):
    """Raise when a request carries more rows than MAX_BATCH_ROWS."""


class MalformedBodyError(ServiceError):
    """Raise when a request body is not a JSON document we can read unambiguously."""


class UnsupportedMediaTypeError(ServiceError):
    """Raise when a request body is not declared as JSON."""


class BodyTooLargeError(ServiceError):
    """Raise when a request body exceeds MAX_BODY_BYTES."""


class ModelNotReadyError(ServiceError):
    """Raise when a request arrives but the model could not be loaded."""


class InvalidSettingsError(ServiceError):
    """Raise when the service's environment settings (MAX_BATCH_ROWS, CORS_ALLOW_ORIGINS, ...) are not valid."""

    @classmethod
    def from_validation(cls, error: ValidationError) -> Self:
        """One line naming each bad variable, its value and what it accepts."""
        problems = validation_problems(error)
        detail = [
            {
                "setting": str(problem.loc[0]).upper() if problem.loc else "settings",
                "value": problem.shown_value(),
                "problem": problem.message,
            }
            for problem in problems
        ]
        summary = "; ".join(f"{item['setting']}={item['value']!r} is not valid: {item['problem']}" for item in detail)
        return cls(summary, detail)
