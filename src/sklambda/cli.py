"""The `sklambda` command line: train, package, serve, invoke."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import NoReturn

from predict_service.errors import ServiceError, describe_validation_error
from predict_service.manifest import ModelManifest
from predict_service.runtimes import DEFAULT_RUNTIME, RUNTIMES
from pydantic import ValidationError

from .artifact import FORMATS, PackagingError, check_format_and_runtime
from .intake import Example, Overrides
from .layer_contents import check_local_environment
from .mlflow_source import SOURCE_FORMS, is_mlflow_source
from .sizing import check_size, describe_size

# The model directory of this checkout, the one layers/model/Makefile builds the layer from (its MODEL_SRC). The
# service itself defaults to the layer's /opt/model; run from here, `serve` and `invoke` use this one instead.
LOCAL_MODEL_DIR = Path(__file__).resolve().parents[2] / "layers" / "model" / "model"


class OneLineParser(argparse.ArgumentParser):
    """Usage errors on one line saying what is wrong and where to look, instead of the usage block then the error."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see `{self.prog} --help`)\n")


def comma_list(text: str) -> list[str]:
    items = [item.strip() for item in text.split(",")]
    if not all(items):
        raise argparse.ArgumentTypeError(f"{text!r} has an empty item")
    return items


def unique_comma_list(text: str) -> list[str]:
    items = comma_list(text)
    repeated = sorted({item for item in items if items.count(item) > 1})
    if repeated:
        raise argparse.ArgumentTypeError(f"{text!r} repeats {', '.join(map(repr, repeated))}: each name must be unique")
    return items


def _example_value(item: str) -> float | str | None:
    """One item of a comma-separated example: null, a number, else a string."""
    if item == "null":
        return None
    try:
        return float(item)
    except ValueError:
        return item


def example_row(text: str) -> Example:
    """--example: a JSON row (`["a", -1.0, null]`), a JSON object by feature name, or comma-separated values."""
    stripped = text.strip()
    if stripped.startswith(("[", "{")):
        try:
            value = json.loads(stripped)
        except ValueError as error:
            raise argparse.ArgumentTypeError(f"{text!r} is not valid JSON: {error}") from None
        values = value.values() if isinstance(value, dict) else value
        if not all(item is None or isinstance(item, (str, int, float)) for item in values):
            raise argparse.ArgumentTypeError(f"{text!r}: each value must be a number, a string or null")
        return value  # type: ignore[no-any-return]
    return [_example_value(item) for item in comma_list(text)]


OPTIONS_TAKING_NEGATIVE_VALUES = ("--example",)


def join_option_values(argv: Sequence[str]) -> list[str]:
    """`--example -1.0,2.0` as `--example=-1.0,2.0`: argparse reads a value starting with "-" that is not a plain
    number as the next option ("expected one argument")."""
    joined: list[str] = []
    index = 0
    while index < len(argv):
        argument = argv[index]
        if argument in OPTIONS_TAKING_NEGATIVE_VALUES and index + 1 < len(argv) and argv[index + 1].startswith("-"):
            joined.append(f"{argument}={argv[index + 1]}")
            index += 2
            continue
        joined.append(argument)
        index += 1
    return joined


RUNTIME_HELP = "; ".join(
    f"{spec.name}{' (default)' if spec.name == DEFAULT_RUNTIME else ''}: {spec.summary}" for spec in RUNTIMES.values()
)
FORCE_HELP = "replace --model-dir even when it holds another model (or files that are not a model)"
FORMAT_HELP = (
    "joblib (default): ship the model as a pickle; skops: convert it to model.skops, loaded with skops.io trusting "
    "only the types listed at packaging (no pickle is shipped; scikit-learn runtime only)"
)


def describe_runtime(manifest: ModelManifest) -> str:
    if manifest.onnx is None:
        return f"runtime {manifest.runtime}, {manifest.shipped_file().name}"
    checked = manifest.onnx.verification
    largest = checked.max_probability_difference
    if largest is None:
        largest = checked.max_prediction_difference
    difference = f", max difference {largest:.1e}" if largest is not None else ""
    return (
        f"runtime onnx ({manifest.onnx.precision}, verified on {checked.rows} rows: "
        f"{checked.label_mismatches} mismatches{difference})"
    )


def model_dir_to_serve(given: Path | None) -> Path | None:
    """--model-dir, else None when MODEL_DIR is set (the settings read it), else this checkout's model."""
    if given is not None:
        return given
    return None if os.environ.get("MODEL_DIR") else LOCAL_MODEL_DIR


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(prog="sklambda", description="Serve a scikit-learn model as an HTTPS API.")
    commands = parser.add_subparsers(dest="command", required=True)

    train = commands.add_parser("train", help="train the iris demo model, or a pipeline from your CSV")
    train.add_argument("--model-dir", type=Path, default=LOCAL_MODEL_DIR, help="where to write model.joblib/model.json")
    train.add_argument("--csv", type=Path, help="train from this CSV (header row required)")
    train.add_argument("--target", help="the CSV column to predict (with --csv)")
    train.add_argument("--task", choices=["auto", "classification", "regression"], default="auto")
    train.add_argument("--name", help="model name (default: the CSV's file name)")
    train.add_argument("--version", help="model version (default: the first 12 hex digits of its sha256)")
    train.add_argument("--runtime", choices=list(RUNTIMES), default=DEFAULT_RUNTIME, help=RUNTIME_HELP)
    train.add_argument("--format", choices=FORMATS, default="joblib", help=FORMAT_HELP)
    train.add_argument("--force", action="store_true", help=FORCE_HELP)

    package = commands.add_parser("package", help="package your own fitted model.joblib, or an MLflow model")
    package.add_argument(
        "model_file", type=Path, metavar="SOURCE", help=f"a model.joblib file, or an MLflow model: {SOURCE_FORMS}"
    )
    package.add_argument("--model-dir", type=Path, default=LOCAL_MODEL_DIR)
    package.add_argument("--features", type=unique_comma_list, help="feature names in column order (a,b,c)")
    package.add_argument("--name", help="model name (default: the MLflow registry name, else the file name)")
    package.add_argument(
        "--version",
        help="model version (default: the MLflow registry version, else the first 12 hex digits of its sha256)",
    )
    package.add_argument(
        "--example",
        type=example_row,
        help="an example row: JSON ('[\"C\", -1.0, null]' or '{\"age\": 3}') or comma-separated values (a,-1.0,null); "
        "default: zeros, the first category of each category feature, a training row with --data",
    )
    package.add_argument("--categorical", type=unique_comma_list, default=[], help="features that are categories")
    package.add_argument("--text", type=unique_comma_list, default=[], help="features that are free text")
    package.add_argument("--nullable", type=unique_comma_list, default=[], help="features that accept null")
    package.add_argument(
        "--data",
        type=Path,
        help="a CSV or Parquet sample of the training data: a DataFrame model is verified on its rows, and number "
        "ranges are recorded from it",
    )
    package.add_argument("--outputs", type=unique_comma_list, help="names of a multi-output model's outputs")
    package.add_argument("--force", action="store_true", help=FORCE_HELP)
    package.add_argument(
        "--class-names", type=unique_comma_list, help="display names of the classes, in classes_ order"
    )
    package.add_argument("--runtime", choices=list(RUNTIMES), default=DEFAULT_RUNTIME, help=RUNTIME_HELP)
    package.add_argument("--format", choices=FORMATS, default="joblib", help=FORMAT_HELP)
    package.add_argument(
        "--code",
        type=Path,
        action="append",
        metavar="PATH",
        help="your own module (a .py file or a package directory) the model's pickle references; shipped beside "
        "the model and importable under its own name (repeatable)",
    )
    package.add_argument(
        "--sklearn-python",
        type=Path,
        metavar="PYTHON",
        help="for a model pickled by another scikit-learn: the Python of the environment it was trained in, to "
        "verify it there (default: an environment with that scikit-learn, created once under "
        "~/.cache/sklambda/envs)",
    )

    serve = commands.add_parser("serve", help="serve the API locally with uvicorn")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=3000, help="default 3000, like `sam local start-api`")
    serve.add_argument("--model-dir", type=Path, help="default: MODEL_DIR, else this checkout's layers/model/model")

    invoke = commands.add_parser("invoke", help="run the Lambda handler in-process on an API Gateway event")
    invoke.add_argument("event_file", type=Path, nargs="?", help="an event JSON (e.g. from events/)")
    invoke.add_argument(
        "--method", help="default: GET for /health, /model and /docs without --body, else POST", type=str.upper
    )
    invoke.add_argument("--path", default="/predict")
    invoke.add_argument("--body", help="request body (JSON text)")
    invoke.add_argument("--model-dir", type=Path, help="default: MODEL_DIR, else this checkout's layers/model/model")
    return parser


READ_ONLY_PATHS = ("/health", "/model", "/docs")
"""Routes that answer GET only: `invoke --path` sends GET to them when no body is given."""


def default_method(given: str | None, path: str, body: str | None) -> str:
    if given is not None:
        return given
    route = "/" + path.partition("?")[0].lstrip("/")
    return "GET" if body is None and route.rstrip("/") in READ_ONLY_PATHS else "POST"


def describe_error_body(response: dict[str, object]) -> str:
    """The `error` sentence of an error response, else its body, on one line."""
    body = response.get("body")
    if isinstance(body, dict) and isinstance(body.get("error"), str):
        return str(body["error"])
    return " ".join(str(body).split())[:300]


def describe_features(manifest: ModelManifest) -> str:
    """Each feature with its type when not a plain number: `age, sex (category), note (text, nullable)`."""
    described = []
    for feature in manifest.features:
        kinds = [kind for kind in (getattr(feature, "type", "number"),) if kind != "number"]
        if getattr(feature, "nullable", False):
            kinds.append("nullable")
        described.append(f"{feature.name} ({', '.join(kinds)})" if kinds else feature.name)
    return ", ".join(described)


def report_trusted_types(manifest: ModelManifest) -> None:
    """The types a skops model is trusted to load are the user's to review: list every one of them."""
    if manifest.skops is None:
        return
    if not manifest.skops.trusted_types:
        print("model.skops needs no types beyond skops' defaults (scikit-learn estimators, numpy)", file=sys.stderr)
        return
    print(
        f"model.skops needs {len(manifest.skops.trusted_types)} type(s) beyond skops' defaults; review them: they "
        f"are recorded in model.json, and loading trusts these and nothing else:",
        file=sys.stderr,
    )
    for name in manifest.skops.trusted_types:
        print(f"  {name}", file=sys.stderr)


def report_layer_contents(manifest: ModelManifest) -> None:
    """What the layer will hold beyond the default stack, so that the user knows before building it."""
    if manifest.requirements:
        pins = ", ".join(f"{name}=={version}" for name, version in sorted(manifest.requirements.items()))
        print(f"the layer will also install {pins} (model.json's requirements)", file=sys.stderr)
    if manifest.code:
        print(f"shipping your code: {', '.join(sorted(manifest.code))}", file=sys.stderr)
    versions = manifest.versions
    if versions.scikit_learn != sklearn_version():
        print(
            f"pickled by scikit-learn {versions.scikit_learn} (numpy {versions.numpy}, scipy {versions.scipy}, "
            f"joblib {versions.joblib}): the layer installs these versions",
            file=sys.stderr,
        )


def sklearn_version() -> str:
    from importlib.metadata import version

    return version("scikit-learn")


def run(args: argparse.Namespace) -> int:
    if args.command in ("train", "package"):
        check_format_and_runtime(args.format, args.runtime)
    if args.command == "train":
        from .training import train_csv, train_demo

        started = time.perf_counter()
        if args.csv is None and args.target is not None:
            raise PackagingError(
                "--target needs --csv FILE (the demo model has its own target): add --csv or drop --target"
            )
        if args.csv is None:
            print("Training the iris demo model (StandardScaler + LogisticRegression)...", file=sys.stderr)
            manifest = train_demo(args.model_dir, runtime=args.runtime, model_format=args.format, force=args.force)
        else:
            if not args.target:
                raise PackagingError("--csv needs --target COLUMN (the column to predict)")
            print(f"Training on {args.csv} to predict {args.target!r}...", file=sys.stderr)
            manifest = train_csv(
                args.csv,
                args.target,
                args.model_dir,
                task=args.task,
                name=args.name,
                version=args.version,
                runtime=args.runtime,
                model_format=args.format,
                force=args.force,
            )
        report_trusted_types(manifest)
        print(
            f"Wrote {args.model_dir} ({manifest.name} {manifest.version}, {manifest.task}, "
            f"{manifest.n_features} features, metrics {manifest.metrics}, {describe_runtime(manifest)}) "
            f"in {time.perf_counter() - started:.1f}s",
            file=sys.stderr,
        )
        return 0
    if args.command == "package":
        from .packaging import package_model

        print(f"Packaging {args.model_file}...", file=sys.stderr)
        package: Callable[..., ModelManifest] = package_model
        if is_mlflow_source(str(args.model_file)):
            from .sources import package_mlflow_source

            package = package_mlflow_source
        manifest = package(
            args.model_file,
            args.model_dir,
            feature_names=args.features,
            name=args.name,
            version=args.version,
            example=args.example,
            class_names=args.class_names,
            runtime=args.runtime,
            model_format=args.format,
            code_paths=args.code,
            sklearn_python=args.sklearn_python,
            overrides=Overrides(categorical=args.categorical, text=args.text, nullable=args.nullable),
            training_data=args.data,
            outputs=args.outputs,
            force=args.force,
        )
        report_trusted_types(manifest)
        report_layer_contents(manifest)
        print(
            f"Wrote {args.model_dir} ({manifest.name} {manifest.version}: {manifest.estimator}, {manifest.task}, "
            f"features {describe_features(manifest)}, {describe_runtime(manifest)})",
            file=sys.stderr,
        )
        print(describe_size(check_size(args.model_dir, manifest)), file=sys.stderr)
        return 0
    if args.command == "serve":
        from predict_service.config import load_settings

        from .serving import serve

        model_dir = model_dir_to_serve(args.model_dir)
        settings = load_settings() if model_dir is None else load_settings(model_dir=model_dir)
        check_local_environment(settings.model_dir)
        print(f"Serving {settings.model_dir} on http://{args.host}:{args.port} (docs at /docs)", file=sys.stderr)
        serve(settings, args.host, args.port)
        return 0
    if args.command == "invoke":
        from predict_service.config import load_settings

        from .invoking import http_api_event, invoke, load_event_file, readable

        model_dir = model_dir_to_serve(args.model_dir)
        check_local_environment(model_dir if model_dir is not None else load_settings().model_dir)

        if args.event_file is not None:
            event = load_event_file(args.event_file)
        else:
            event = http_api_event(default_method(args.method, args.path, args.body), args.path, args.body, {})
        response = readable(invoke(event, model_dir_to_serve(args.model_dir)))
        print(json.dumps(response, indent=2))
        status = int(response.get("statusCode", 200))
        if status >= 400:
            print(
                f"sklambda invoke: error: the API answered {status}: {describe_error_body(response)}", file=sys.stderr
            )
            return 1
        return 0
    raise AssertionError(f"unhandled command {args.command}")


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(join_option_values(sys.argv[1:] if argv is None else argv))
    try:
        return run(args)
    except (PackagingError, ServiceError, OSError, ValueError) as error:
        message = str(error)
    except ValidationError as error:
        message = describe_validation_error(error)
    # one line: messages may quote a library's multi-line error
    print(f"sklambda {args.command}: error: {' '.join(message.split())}", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
