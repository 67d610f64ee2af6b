"""`make bench`: sklambda's handler against raw model.predict and the seed Flask app, all measured in this run.

Prints one table per section; every ratio compares figures taken in the same process run on the same machine. Each
model is served twice: by the scikit-learn runtime (model.joblib) and by the ONNX runtime (the same fitted model
exported with `--runtime onnx`), through the same handler.

The handler runs at the deployed defaults: LOG_LEVEL=INFO, its one JSON line per request written to a real file (on
Lambda, stdout is a pipe to the log agent).
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import joblib
import numpy as np
from predict_service.api.handler import build_handler
from predict_service.config import Settings
from predict_service.logs import configure_logging
from predict_service.manifest import FeatureSpec
from sklearn.datasets import load_iris
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from deploy.sizes import LAMBDA_UNZIPPED_LIMIT_BYTES, MIB, built_runtime, tree_bytes, zipped_bytes
from sklambda.artifact import write_model_dir
from sklambda.invoking import FakeLambdaContext, Handler, http_api_event

REPO = Path(__file__).resolve().parents[1]
FUNCTION_DIR = REPO / "functions" / "predict"

ROW = [5.9, 3.0, 5.1, 1.8]
IRIS_FEATURES = ["sepal_length", "sepal_width", "petal_length", "petal_width"]


def median_seconds(call: Callable[[], object], repeats: int) -> float:
    # The handler writes one JSON line per request (its log fields and EMF metrics) to the service log, a real file
    # here as Lambda's stdout is a pipe (see `main`): writing it is part of the cost.
    for _ in range(min(50, repeats)):
        call()
    samples = []
    for _ in range(repeats):
        started = time.perf_counter()
        call()
        samples.append(time.perf_counter() - started)
    return statistics.median(samples)


Runtime = Literal["sklearn", "onnx"]


@dataclass(frozen=True)
class BenchModel:
    """One fitted model packaged for both runtimes."""

    sklearn_dir: Path
    onnx_dir: Path


def build_models(workdir: Path) -> dict[str, BenchModel]:
    iris = load_iris()
    estimators = {
        "logreg": make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)),
        "forest": RandomForestClassifier(n_estimators=100, random_state=0),
    }
    models = {}
    for name, estimator in estimators.items():
        estimator.fit(iris.data, iris.target)
        models[name] = BenchModel(workdir / name, workdir / f"{name}-onnx")
        runtimes: list[tuple[Runtime, Path]] = [("sklearn", models[name].sklearn_dir), ("onnx", models[name].onnx_dir)]
        for runtime, model_dir in runtimes:
            write_model_dir(
                estimator,
                model_dir,
                name=f"bench-{name}",
                version="1",
                features=[FeatureSpec(name=feature) for feature in IRIS_FEATURES],
                example=ROW,
                runtime=runtime,
            )
    return models


def load_handler(model_dir: Path) -> Handler:
    # The deployed default (template.yaml's LogLevel): the request lines are part of what is measured.
    handler: Handler = build_handler(Settings(model_dir=model_dir, log_level="INFO"))
    return handler


def predict_event(body: dict[str, Any]) -> dict[str, Any]:
    return http_api_event("POST", "/predict", json.dumps(body), {"content-type": "application/json"})


def answer(handler: Handler, event: dict[str, Any], context: Any) -> Any:
    """The handler's 200 body."""
    return check_ok(handler(event, context))


def check_ok(response: dict[str, Any]) -> dict[str, Any]:
    body = response["body"]
    if response.get("isBase64Encoded"):
        body = base64.b64decode(body).decode()
    assert response["statusCode"] == 200, body
    parsed: dict[str, Any] = json.loads(body)
    return parsed


def warm_latency(models: dict[str, BenchModel], repeats: int) -> list[list[str]]:
    os.environ["MODEL_PATH"] = str(next(iter(models.values())).sklearn_dir / "model.joblib")
    from bench import flask_baseline

    table = []
    for name, bench_model in models.items():
        model = joblib.load(bench_model.sklearn_dir / "model.joblib")
        context = FakeLambdaContext()
        event = predict_event({"features": ROW})
        expected = model.predict(np.array([ROW])).tolist()
        handler = load_handler(bench_model.sklearn_dir)
        assert answer(handler, event, context)["prediction"] == expected
        onnx_handler = load_handler(bench_model.onnx_dir)
        assert answer(onnx_handler, event, context)["prediction"] == expected
        flask_baseline.model = model
        flask_client = flask_baseline.app.test_client()
        assert flask_client.post("/predict", json={"features": ROW}).get_json()["prediction"] == expected

        raw = median_seconds(lambda m=model: m.predict(np.array([ROW])), repeats)  # type: ignore[misc]
        ours = median_seconds(lambda h=handler, e=event, c=context: h(e, c), repeats)  # type: ignore[misc]
        onnx = median_seconds(lambda h=onnx_handler, e=event, c=context: h(e, c), repeats)  # type: ignore[misc]
        seed = median_seconds(lambda f=flask_client: f.post("/predict", json={"features": ROW}), repeats)  # type: ignore[misc]
        table.append(
            [
                name,
                f"{raw * 1e6:.0f}",
                f"{ours * 1e6:.0f}",
                f"{onnx * 1e6:.0f}",
                f"{seed * 1e6:.0f}",
                f"{ours / raw:.2f}x",
                f"{ours / seed:.2f}x",
                f"{onnx / ours:.2f}x",
            ]
        )
    return table


def batch_throughput(models: dict[str, BenchModel], repeats: int) -> list[list[str]]:
    rng = np.random.default_rng(0)
    table = []
    for name, bench_model in models.items():
        model = joblib.load(bench_model.sklearn_dir / "model.joblib")
        handler = load_handler(bench_model.sklearn_dir)
        onnx_handler = load_handler(bench_model.onnx_dir)
        context = FakeLambdaContext()
        for rows in (1, 100, 1000):
            data = np.round(rng.uniform(0.1, 7.9, size=(rows, 4)), 2)
            event = predict_event({"instances": data.tolist()})
            expected = model.predict(data).tolist()
            assert answer(handler, event, context)["predictions"] == expected
            assert answer(onnx_handler, event, context)["predictions"] == expected
            count = max(5, repeats // max(1, rows // 10))
            raw = median_seconds(lambda m=model, d=data: m.predict(d), count)  # type: ignore[misc]
            ours = median_seconds(lambda h=handler, e=event, c=context: h(e, c), count)  # type: ignore[misc]
            onnx = median_seconds(lambda h=onnx_handler, e=event, c=context: h(e, c), count)  # type: ignore[misc]
            table.append(
                [
                    name,
                    str(rows),
                    f"{rows / raw:,.0f}",
                    f"{rows / ours:,.0f}",
                    f"{rows / onnx:,.0f}",
                    f"{raw / ours:.2f}x",
                    f"{raw / onnx:.2f}x",
                ]
            )
    return table


# Peak RSS from /proc/self/status (VmHWM): getrusage's ru_maxrss keeps the parent's high-water mark across
# fork+exec on Linux, so every child would report the benchmark process's own peak.
PEAK_RSS_KB = "int(next(line.split()[1] for line in open('/proc/self/status') if line.startswith('VmHWM:')))"
COLD_HANDLER = """
import os, sys, time
started = time.perf_counter()
sys.path.insert(0, {function_dir!r})
import handler
elapsed = time.perf_counter() - started
print(elapsed, {peak_rss_kb})
"""
COLD_FLASK = """
import os, sys, time
started = time.perf_counter()
sys.path.insert(0, {repo_dir!r})
from bench import flask_baseline
import numpy as np
flask_baseline.model.predict(np.array([{row!r}]))  # the seed has no warm-up; give it the same first predict
elapsed = time.perf_counter() - started
print(elapsed, {peak_rss_kb})
"""


def cold_runs(programs: dict[str, tuple[str, dict[str, str]]], runs: int, python: str) -> dict[str, tuple[float, int]]:
    """For each program (code, environment): the median seconds from interpreter start to ready and the largest peak
    RSS (KB) over `runs` fresh processes. Rounds interleave the programs, so a slower minute of the machine weighs on
    all of them alike."""
    for code, env in programs.values():
        subprocess.run([python, "-c", code], env=env, check=True, capture_output=True)  # fill the .pyc cache
    samples: dict[str, list[tuple[float, int]]] = {name: [] for name in programs}
    for _ in range(runs):
        for name, (code, env) in programs.items():
            out = subprocess.run([python, "-c", code], env=env, check=True, capture_output=True, text=True)
            # The figures come last, after the service's own log lines.
            seconds, rss_kb = out.stdout.splitlines()[-1].split()
            samples[name].append((float(seconds), int(rss_kb)))
    return {name: (statistics.median(s for s, _ in taken), max(r for _, r in taken)) for name, taken in samples.items()}


def cold_start(models: dict[str, BenchModel], runs: int, python: str) -> list[list[str]]:
    table = []
    for name, bench_model in models.items():
        base = {**os.environ, "LOG_LEVEL": "INFO", "PYTHONDONTWRITEBYTECODE": "0"}
        handler_code = COLD_HANDLER.format(function_dir=str(FUNCTION_DIR), peak_rss_kb=PEAK_RSS_KB)
        flask_code = COLD_FLASK.format(repo_dir=str(REPO), row=ROW, peak_rss_kb=PEAK_RSS_KB)
        results = cold_runs(
            {
                "sklearn": (handler_code, {**base, "MODEL_DIR": str(bench_model.sklearn_dir)}),
                "onnx": (handler_code, {**base, "MODEL_DIR": str(bench_model.onnx_dir)}),
                "flask": (flask_code, {**base, "MODEL_PATH": str(bench_model.sklearn_dir / "model.joblib")}),
            },
            runs,
            python,
        )
        (ours, ours_rss), (onnx, onnx_rss), (seed, seed_rss) = results["sklearn"], results["onnx"], results["flask"]
        table.append(
            [
                name,
                f"{ours * 1000:.0f}",
                f"{onnx * 1000:.0f}",
                f"{seed * 1000:.0f}",
                f"{ours / seed:.2f}x",
                f"{onnx / seed:.2f}x",
                f"{ours_rss / 1024:.0f}",
                f"{onnx_rss / 1024:.0f}",
                f"{seed_rss / 1024:.0f}",
            ]
        )
    return table


MIXED_ENTRY = "mixed_types_by_name"
"""The gallery's mixed-type DataFrame pipeline (tests/corpus): ColumnTransformer by column name, OneHotEncoder on
strings, imputers, LogisticRegression; served after `sklambda package` rewrote it for plain rows."""


def package_mixed(workdir: Path) -> tuple[Any, Any, Path]:
    """The original DataFrame model, one row of its training data as a DataFrame, and its packaged directory."""
    from sklambda.packaging import package_model
    from tests.corpus import build

    entry = build(MIXED_ENTRY)
    model_file = workdir / f"{MIXED_ENTRY}.joblib"
    joblib.dump(entry.model, model_file)
    data = workdir / f"{MIXED_ENTRY}.csv"
    entry.X.to_csv(data, index=False)
    model_dir = workdir / MIXED_ENTRY
    package_model(
        model_file,
        model_dir,
        feature_names=None,
        name=MIXED_ENTRY,
        version="1",
        example=None,
        class_names=None,
        training_data=data,
    )
    return entry.model, entry.X.iloc[[0]], model_dir


def mixed_dataframe(
    workdir: Path, models: dict[str, BenchModel], repeats: int, runs: int, python: str
) -> list[list[str]]:
    """The mixed-type DataFrame pipeline: the handler's warm latency as a ratio to the original model's predict on a
    one-row DataFrame (goal <= 0.5x), and the handler's cold start as a ratio to the Flask seed's (goal <= 1.1x)."""
    from sklambda.dataframe import frame_rows

    model, one_row, model_dir = package_mixed(workdir)
    row = frame_rows(one_row, [str(name) for name in model.feature_names_in_])[0]
    event = predict_event({"features": row})
    context = FakeLambdaContext()
    handler = load_handler(model_dir)
    expected = model.predict(one_row).tolist()
    assert answer(handler, event, context)["prediction"] == expected
    original = median_seconds(lambda: model.predict(one_row), repeats)
    ours = median_seconds(lambda: handler(event, context), repeats)
    base = {**os.environ, "LOG_LEVEL": "WARNING", "PYTHONDONTWRITEBYTECODE": "0"}
    seed_model = next(iter(models.values())).sklearn_dir / "model.joblib"
    cold = cold_runs(
        {
            "handler": (
                COLD_HANDLER.format(function_dir=str(FUNCTION_DIR), peak_rss_kb=PEAK_RSS_KB),
                {**base, "MODEL_DIR": str(model_dir)},
            ),
            "flask": (
                COLD_FLASK.format(repo_dir=str(REPO), row=ROW, peak_rss_kb=PEAK_RSS_KB),
                {**base, "MODEL_PATH": str(seed_model)},
            ),
        },
        runs,
        python,
    )
    (cold_ours, ours_rss), (cold_seed, _) = cold["handler"], cold["flask"]
    return [
        [
            MIXED_ENTRY,
            f"{original * 1e6:.0f}",
            f"{ours * 1e6:.0f}",
            f"{ours / original:.2f}x",
            f"{cold_ours * 1000:.0f}",
            f"{cold_seed * 1000:.0f}",
            f"{cold_ours / cold_seed:.2f}x",
            f"{ours_rss / 1024:.0f}",
        ]
    ]


def print_mixed_dataframe(workdir: Path, models: dict[str, BenchModel], args: argparse.Namespace) -> None:
    print_table(
        "5. Mixed-type DataFrame pipeline, one row: warm latency (µs, median) and cold start (ms, median of "
        f"{args.cold_runs})",
        [
            "model",
            "original predict (1-row DataFrame)",
            "handler (sklearn)",
            "handler/original",
            "cold handler",
            "cold Flask seed",
            "handler/Flask",
            "RSS handler",
        ],
        mixed_dataframe(workdir, models, args.repeats, args.cold_runs, args.python),
    )


def built_layers() -> dict[Runtime, Path]:
    """The model layer `make build` built (its runtime is the model's) and the other runtime's libraries, which
    `make build` also builds (without a model) to report both sizes."""
    build = REPO / ".aws-sam" / "build"
    layers: dict[Runtime, Path] = {}
    runtime = built_runtime(build)
    if runtime in ("sklearn", "onnx"):
        built: Runtime = "onnx" if runtime == "onnx" else "sklearn"
        layers[built] = build / "ModelLayer"
        other: Runtime = "sklearn" if built == "onnx" else "onnx"
        # deploy.mk names it compare-<runtime>-<ARCH>; the newest is the one of the last `make build`.
        compares = list((REPO / ".aws-sam").glob(f"compare-{other}-*"))
        if compares:
            layers[other] = max(compares, key=lambda path: path.stat().st_mtime)
    return layers


def package_sizes() -> list[list[str]]:
    function = REPO / ".aws-sam" / "build" / "PredictFunction"
    layers = built_layers()
    if not function.is_dir() or not layers:
        return [["(no .aws-sam/build: run `make build` first)", "", "", "", ""]]
    function_zip = zipped_bytes(function)
    function_raw = tree_bytes(function)[0]
    mb = MIB
    limit_mb = LAMBDA_UNZIPPED_LIMIT_BYTES // MIB
    table = []
    for runtime, layer in sorted(layers.items()):
        layer_raw = tree_bytes(layer)[0]
        total = function_raw + layer_raw
        table.append(
            [
                runtime,
                f"{function_zip / mb:.1f}",
                f"{function_raw / mb:.1f}",
                f"{layer_raw / mb:.1f}" + ("" if (layer / "model").is_dir() else " (libraries only)"),
                f"{total / mb:.1f} ({total / LAMBDA_UNZIPPED_LIMIT_BYTES:.0%} of {limit_mb} MB)",
            ]
        )
    return table


# Every table this run printed, in order, for write_performance_doc at the end of the run.
PRINTED_TABLES: list[str] = []


def print_table(title: str, header: list[str], rows: list[list[str]]) -> None:
    widths = [max(len(str(cell)) for cell in column) for column in zip(header, *rows, strict=True)]
    lines = [f"### {title}", ""]
    lines.append("| " + " | ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)) + " |")
    lines.append("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for row in rows:
        lines.append("| " + " | ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)) + " |")
    table = "\n".join(lines)
    print(f"\n{table}")
    PRINTED_TABLES.append(table)


PERFORMANCE_DOC = REPO / "docs" / "performance.md"
BENCH_BEGIN = "<!-- bench:begin -->"
BENCH_END = "<!-- bench:end -->"


def write_performance_doc(machine: str, tables: list[str], doc: Path = PERFORMANCE_DOC) -> None:
    """Replace what sits between the bench markers of docs/performance.md with this run's machine line and tables,
    keeping the prose around them."""
    text = doc.read_text(encoding="utf-8")
    before, begin, rest = text.partition(BENCH_BEGIN)
    _last_run, end, after = rest.partition(BENCH_END)
    if not begin or not end:
        raise SystemExit(f"{doc} has no {BENCH_BEGIN} ... {BENCH_END} pair: put both where the benchmark tables go")
    figures = "\n\n".join([f"```\n$ make bench\n{machine}\n```", *tables])
    doc.write_text(f"{before}{BENCH_BEGIN}\n{figures}\n{BENCH_END}{after}", encoding="utf-8")
    print(f"\nWrote these tables into {doc}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=2000, help="timed calls per warm-latency figure")
    parser.add_argument("--cold-runs", type=int, default=11)
    parser.add_argument("--python", default=sys.executable, help="interpreter for the cold-start processes")
    parser.add_argument(
        "--only-mixed", action="store_true", help="run section 5 only (the mixed-type DataFrame pipeline); no doc"
    )
    args = parser.parse_args()
    machine = (
        f"sklambda benchmark: Python {platform.python_version()}, {platform.machine()}, "
        f"{os.cpu_count()} CPUs, {platform.platform()}; medians; ratios from this run"
    )
    print(machine)
    with tempfile.TemporaryDirectory() as workdir, open(Path(workdir) / "service.log", "w") as service_log:
        configure_logging("INFO", service_log)
        models = build_models(Path(workdir))
        if args.only_mixed:
            print_mixed_dataframe(Path(workdir), models, args)
            return
        print_table(
            "1. Warm latency, one row (µs, median)",
            [
                "model",
                "raw model.predict",
                "handler (sklearn)",
                "handler (onnx)",
                "Flask seed",
                "sklearn/raw",
                "sklearn/Flask",
                "onnx/sklearn",
            ],
            warm_latency(models, args.repeats),
        )
        print_table(
            "2. Batch throughput (rows/s)",
            [
                "model",
                "rows",
                "raw predict (ready array)",
                "handler (sklearn)",
                "handler (onnx)",
                "sklearn/raw",
                "onnx/raw",
            ],
            batch_throughput(models, args.repeats // 4),
        )
        print_table(
            f"3. Cold start: fresh process, import to ready (ms, median of {args.cold_runs}), peak RSS (MB)",
            [
                "model",
                "handler (sklearn)",
                "handler (onnx)",
                "Flask seed",
                "sklearn/Flask",
                "onnx/Flask",
                "RSS sklearn",
                "RSS onnx",
                "RSS Flask",
            ],
            cold_start(models, args.cold_runs, args.python),
        )
        print_table(
            "4. Package sizes (MB, from `make build`: .aws-sam/build and the other runtime's libraries beside it)",
            ["runtime", "function zip", "function unzipped", "layer unzipped", "total unzipped"],
            package_sizes(),
        )
        print_mixed_dataframe(Path(workdir), models, args)
    write_performance_doc(machine, PRINTED_TABLES)


if __name__ == "__main__":
    main()
