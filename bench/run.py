"""`make bench`: sklambda's handler against raw model.predict and the seed Flask app, all measured in this run.

Prints one table per section; every ratio compares figures taken in the same process run on the same machine.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import importlib
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import joblib
import numpy as np
from sklearn.datasets import load_iris
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

REPO = Path(__file__).resolve().parents[1]
FUNCTION_DIR = REPO / "functions" / "predict"
sys.path[:0] = [str(FUNCTION_DIR), str(REPO / "src"), str(REPO / "bench")]

from predict_service.manifest import FeatureSpec  # noqa: E402

from sklambda.artifact import write_model_dir  # noqa: E402
from sklambda.invoking import FakeLambdaContext, http_api_event  # noqa: E402

LAMBDA_UNZIPPED_LIMIT_MB = 250
ROW = [5.9, 3.0, 5.1, 1.8]
IRIS_FEATURES = ["sepal_length", "sepal_width", "petal_length", "petal_width"]


def median_seconds(call: Callable[[], object], repeats: int) -> float:
    # The handler prints one EMF metrics line per request, as on Lambda; writing it is part of the cost, keeping
    # it off the table is not.
    with open(os.devnull, "w") as sink, contextlib.redirect_stdout(sink):
        for _ in range(min(50, repeats)):
            call()
        samples = []
        for _ in range(repeats):
            started = time.perf_counter()
            call()
            samples.append(time.perf_counter() - started)
    return statistics.median(samples)


def build_models(workdir: Path) -> dict[str, Path]:
    iris = load_iris()
    estimators = {
        "logreg": make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)),
        "forest": RandomForestClassifier(n_estimators=100, random_state=0),
    }
    dirs = {}
    for name, estimator in estimators.items():
        estimator.fit(iris.data, iris.target)
        dirs[name] = workdir / name
        write_model_dir(
            estimator,
            dirs[name],
            name=f"bench-{name}",
            version="1",
            features=[FeatureSpec(name=feature) for feature in IRIS_FEATURES],
            example=ROW,
        )
    return dirs


def load_handler(model_dir: Path) -> Callable[[dict[str, Any], Any], dict[str, Any]]:
    os.environ["MODEL_DIR"] = str(model_dir)
    os.environ["LOG_LEVEL"] = "WARNING"
    sys.modules.pop("handler", None)
    handler: Callable[[dict[str, Any], Any], dict[str, Any]] = importlib.import_module("handler").handler
    return handler


def predict_event(body: dict[str, Any]) -> dict[str, Any]:
    return http_api_event("POST", "/predict", json.dumps(body), {"content-type": "application/json"})


def check_ok(response: dict[str, Any]) -> dict[str, Any]:
    body = response["body"]
    if response.get("isBase64Encoded"):
        body = base64.b64decode(body).decode()
    assert response["statusCode"] == 200, body
    parsed: dict[str, Any] = json.loads(body)
    return parsed


def warm_latency(models: dict[str, Path], repeats: int) -> list[list[str]]:
    os.environ["MODEL_PATH"] = str(next(iter(models.values())) / "model.joblib")
    import flask_baseline

    table = []
    for name, model_dir in models.items():
        model = joblib.load(model_dir / "model.joblib")
        handler = load_handler(model_dir)
        context = FakeLambdaContext()
        event = predict_event({"features": ROW})
        expected = model.predict(np.array([ROW])).tolist()
        assert check_ok(handler(event, context))["prediction"] == expected
        flask_baseline.model = model
        flask_client = flask_baseline.app.test_client()
        assert flask_client.post("/predict", json={"features": ROW}).get_json()["prediction"] == expected

        raw = median_seconds(lambda m=model: m.predict(np.array([ROW])), repeats)  # type: ignore[misc]
        ours = median_seconds(lambda h=handler, e=event, c=context: h(e, c), repeats)  # type: ignore[misc]
        seed = median_seconds(lambda f=flask_client: f.post("/predict", json={"features": ROW}), repeats)  # type: ignore[misc]
        table.append(
            [
                name,
                f"{raw * 1e6:.0f}",
                f"{ours * 1e6:.0f}",
                f"{seed * 1e6:.0f}",
                f"{ours / raw:.2f}x",
                f"{ours / seed:.2f}x",
            ]
        )
    return table


def batch_throughput(models: dict[str, Path], repeats: int) -> list[list[str]]:
    rng = np.random.default_rng(0)
    table = []
    for name, model_dir in models.items():
        model = joblib.load(model_dir / "model.joblib")
        handler = load_handler(model_dir)
        context = FakeLambdaContext()
        for rows in (1, 100, 1000):
            data = np.round(rng.uniform(0.1, 7.9, size=(rows, 4)), 2)
            event = predict_event({"instances": data.tolist()})
            assert check_ok(handler(event, context))["predictions"] == model.predict(data).tolist()
            count = max(5, repeats // max(1, rows // 10))
            raw = median_seconds(lambda m=model, d=data: m.predict(d), count)  # type: ignore[misc]
            ours = median_seconds(lambda h=handler, e=event, c=context: h(e, c), count)  # type: ignore[misc]
            table.append([name, str(rows), f"{rows / raw:,.0f}", f"{rows / ours:,.0f}", f"{raw / ours:.2f}x"])
    return table


COLD_HANDLER = """
import os, resource, sys, time
started = time.perf_counter()
sys.path.insert(0, {function_dir!r})
import handler
elapsed = time.perf_counter() - started
print(elapsed, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""
COLD_FLASK = """
import os, resource, sys, time
started = time.perf_counter()
sys.path.insert(0, {bench_dir!r})
import flask_baseline
import numpy as np
flask_baseline.model.predict(np.array([{row!r}]))  # the seed has no warm-up; give it the same first predict
elapsed = time.perf_counter() - started
print(elapsed, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""


def cold_start(models: dict[str, Path], runs: int, python: str) -> list[list[str]]:
    table = []
    for name, model_dir in models.items():
        env = {
            **os.environ,
            "MODEL_DIR": str(model_dir),
            "MODEL_PATH": str(model_dir / "model.joblib"),
            "LOG_LEVEL": "WARNING",
            "PYTHONDONTWRITEBYTECODE": "0",
        }
        results = {}
        for label, code in (
            ("handler", COLD_HANDLER.format(function_dir=str(FUNCTION_DIR))),
            ("flask", COLD_FLASK.format(bench_dir=str(REPO / "bench"), row=ROW)),
        ):
            subprocess.run([python, "-c", code], env=env, check=True, capture_output=True)  # fill the .pyc cache
            samples = []
            for _ in range(runs):
                out = subprocess.run([python, "-c", code], env=env, check=True, capture_output=True, text=True)
                seconds, rss_kb = out.stdout.split()
                samples.append((float(seconds), int(rss_kb)))
            results[label] = (statistics.median(s for s, _ in samples), max(r for _, r in samples))
        (ours, ours_rss), (seed, seed_rss) = results["handler"], results["flask"]
        table.append(
            [
                name,
                f"{ours * 1000:.0f}",
                f"{seed * 1000:.0f}",
                f"{ours / seed:.2f}x",
                f"{ours_rss / 1024:.0f}",
                f"{seed_rss / 1024:.0f}",
            ]
        )
    return table


def tree_bytes(path: Path) -> int:
    return sum(file.stat().st_size for file in path.rglob("*") if file.is_file() and not file.is_symlink())


def package_sizes() -> list[list[str]]:
    build = REPO / ".aws-sam" / "build"
    function, layer = build / "PredictFunction", build / "ModelLayer"
    if not (function.is_dir() and layer.is_dir()):
        return [["(no .aws-sam/build: run `make build` first)", "", "", ""]]
    with tempfile.TemporaryDirectory() as scratch:
        zip_path = Path(scratch) / "function.zip"
        with zipfile.ZipFile(zip_path, "w", zipfile.ZIP_DEFLATED) as archive:
            for file in function.rglob("*"):
                if file.is_file():
                    archive.write(file, file.relative_to(function))
        function_zip = zip_path.stat().st_size
    function_raw, layer_raw = tree_bytes(function), tree_bytes(layer)
    total = function_raw + layer_raw
    mb = 1024 * 1024
    return [
        [
            f"{function_zip / mb:.1f}",
            f"{function_raw / mb:.1f}",
            f"{layer_raw / mb:.1f}",
            f"{total / mb:.1f} ({total / (LAMBDA_UNZIPPED_LIMIT_MB * mb):.0%} of {LAMBDA_UNZIPPED_LIMIT_MB} MB)",
        ]
    ]


def print_table(title: str, header: list[str], rows: list[list[str]]) -> None:
    widths = [max(len(str(cell)) for cell in column) for column in zip(header, *rows, strict=True)]
    print(f"\n### {title}\n")
    print("| " + " | ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)) + " |")
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for row in rows:
        print("| " + " | ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)) + " |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=2000, help="timed calls per warm-latency figure")
    parser.add_argument("--cold-runs", type=int, default=5)
    parser.add_argument("--python", default=sys.executable, help="interpreter for the cold-start processes")
    args = parser.parse_args()
    print(
        f"sklambda benchmark: Python {platform.python_version()}, {platform.machine()}, "
        f"{os.cpu_count()} CPUs, {platform.platform()}; medians; ratios from this run"
    )
    with tempfile.TemporaryDirectory() as workdir:
        models = build_models(Path(workdir))
        print_table(
            "1. Warm latency, one row (µs, median)",
            ["model", "raw model.predict", "sklambda handler", "Flask seed", "handler/raw", "handler/Flask"],
            warm_latency(models, args.repeats),
        )
        print_table(
            "2. Batch throughput (rows/s)",
            ["model", "rows", "raw predict (ready array)", "sklambda handler", "handler/raw"],
            batch_throughput(models, args.repeats // 4),
        )
        print_table(
            f"3. Cold start: fresh process, import to ready (ms, median of {args.cold_runs}), peak RSS (MB)",
            ["model", "sklambda handler", "Flask seed", "handler/Flask", "handler RSS", "Flask RSS"],
            cold_start(models, args.cold_runs, args.python),
        )
    print_table(
        "4. Package sizes (MB, from .aws-sam/build)",
        ["function zip", "function unzipped", "layer unzipped", "total unzipped"],
        package_sizes(),
    )
    _ = resource


if __name__ == "__main__":
    main()
