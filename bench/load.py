"""`make load`: concurrent load against a real `sklambda serve` (uvicorn) on loopback, with answers checked.

Starts the server as a subprocess on 127.0.0.1, asks it for the model's features (GET /model), builds a pool of rows,
records the answer for every row one request at a time (the single-threaded reference), then drives it with
`--clients` concurrent httpx async clients for `--duration` seconds: single rows in feature order, single rows by name
(keys shuffled), and batches mixing both, half of them asking for probabilities. Every answer must be a 200 whose
labels equal the reference for the same rows (probabilities within --probability-tolerance), so a model or a code path
that is not safe under concurrent calls shows up as mismatches, not just as a throughput figure.

Traffic goes to 127.0.0.1 only and is bounded: at most MAX_CLIENTS clients for at most MAX_DURATION_S seconds.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from sklambda.served import ServedApp

REPO = Path(__file__).resolve().parents[1]
DEFAULT_MODEL_DIR = REPO / "layers" / "model" / "model"  # where `make model` puts the demo model
MAX_CLIENTS = 256
MAX_DURATION_S = 600.0
POOL_ROWS = 256
MAX_BATCH = 64
REQUEST_TIMEOUT_S = 30.0


@dataclass(frozen=True)
class Answer:
    label: Any
    probabilities: dict[str, float] | None


@dataclass
class LoadReport:
    clients: int
    duration_s: float
    probability_tolerance: float
    requests: int = 0
    rows: int = 0
    errors: int = 0
    label_mismatches: int = 0
    probability_mismatches: int = 0
    max_probability_diff: float = 0.0
    latencies_ms: list[float] = field(default_factory=list)
    kinds: Counter[str] = field(default_factory=Counter)
    labels: Counter[str] = field(default_factory=Counter)
    error_samples: list[str] = field(default_factory=list)

    def percentile(self, q: float) -> float:
        if not self.latencies_ms:
            return float("nan")
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, int(q / 100 * len(ordered)))]

    @property
    def ok(self) -> bool:
        return self.requests > 0 and not (self.errors or self.label_mismatches or self.probability_mismatches)

    def as_json(self, workload: Workload, reference: list[Answer]) -> dict[str, Any]:
        return {
            "clients": self.clients,
            "duration_s": self.duration_s,
            "requests": self.requests,
            "rows": self.rows,
            "requests_per_s": self.requests / self.duration_s if self.duration_s else 0.0,
            "latency_ms": {f"p{q}": self.percentile(q) for q in (50, 90, 99)},
            "errors": self.errors,
            "label_mismatches": self.label_mismatches,
            "probability_mismatches": self.probability_mismatches,
            "max_probability_diff": self.max_probability_diff,
            "kinds": dict(self.kinds),
            "labels": dict(self.labels),
            "error_samples": self.error_samples,
            "ok": self.ok,
            "pool": workload.pool,
            "reference": [{"label": answer.label, "probabilities": answer.probabilities} for answer in reference],
        }

    def summary(self) -> str:
        rate = self.requests / self.duration_s if self.duration_s else 0.0
        lines = [
            f"clients {self.clients}, {self.duration_s:.1f} s: {self.requests} requests ({rate:.0f} req/s), "
            f"{self.rows} rows ({self.rows / self.duration_s:.0f} rows/s)",
            f"latency ms: p50 {self.percentile(50):.2f}  p90 {self.percentile(90):.2f}  "
            f"p99 {self.percentile(99):.2f}  max {max(self.latencies_ms, default=float('nan')):.2f}",
            f"requests by kind: {dict(sorted(self.kinds.items()))}; labels seen: {dict(sorted(self.labels.items()))}",
            f"errors {self.errors}, label mismatches {self.label_mismatches}, probability mismatches "
            f"{self.probability_mismatches} (max |diff| {self.max_probability_diff:.2e})",
        ]
        lines += [f"  error: {sample}" for sample in self.error_samples]
        return "\n".join(lines)


@dataclass(frozen=True)
class Workload:
    feature_names: list[str]
    pool: list[list[Any]]
    with_probabilities: bool

    @classmethod
    def for_model(cls, model_info: dict[str, Any], seed: int) -> Workload:
        """Rows spread over [0, 8) for numeric features (for iris that covers all three classes) and uniform over
        the categories of categorical ones."""
        rng = random.Random(seed)
        features = model_info["features"]

        def value(feature: dict[str, Any]) -> Any:
            if feature["type"] == "category":
                return rng.choice(feature["categories"])
            return round(rng.uniform(0.0, 8.0), 2)

        pool = [[value(feature) for feature in features] for _ in range(POOL_ROWS)]
        return cls(model_info["feature_names"], pool, bool(model_info["has_predict_proba"]))

    def named(self, row: list[Any], rng: random.Random) -> dict[str, Any]:
        pairs = list(zip(self.feature_names, row, strict=True))
        rng.shuffle(pairs)  # key order must not matter
        return dict(pairs)

    def request(self, rng: random.Random) -> tuple[str, dict[str, Any], list[int]]:
        """One request body: (kind, body, the pool indexes of its rows in order)."""
        probabilities = self.with_probabilities and rng.random() < 0.5
        extra = {"return_probabilities": True} if probabilities else {}
        pick = rng.random()
        if pick < 0.4:
            index = rng.randrange(len(self.pool))
            return "single", {"features": self.pool[index], **extra}, [index]
        if pick < 0.6:
            index = rng.randrange(len(self.pool))
            return "named", {"features": self.named(self.pool[index], rng), **extra}, [index]
        indexes = [rng.randrange(len(self.pool)) for _ in range(rng.randint(2, MAX_BATCH))]
        rows = [self.named(self.pool[i], rng) if rng.random() < 0.3 else self.pool[i] for i in indexes]
        return "batch", {"instances": rows, **extra}, indexes


def reference_answers(url: str, workload: Workload) -> list[Answer]:
    """Each pool row, one request at a time on one connection: the answer concurrency must not change."""
    answers = []
    with httpx.Client(base_url=url, timeout=REQUEST_TIMEOUT_S) as client:
        for row in workload.pool:
            body: dict[str, Any] = {"features": row, "return_probabilities": workload.with_probabilities}
            response = client.post("/predict", json=body)
            response.raise_for_status()
            answer = response.json()
            probabilities = answer["probabilities"][0] if workload.with_probabilities else None
            answers.append(Answer(answer["prediction"][0], probabilities))
    return answers


def check_answer(report: LoadReport, answer: dict[str, Any], indexes: list[int], reference: list[Answer]) -> None:
    labels = answer.get("prediction", answer.get("predictions"))
    probabilities = answer.get("probabilities")
    if not isinstance(labels, list) or len(labels) != len(indexes):
        report.label_mismatches += len(indexes)
        return
    for position, index in enumerate(indexes):
        expected = reference[index]
        report.labels[str(labels[position])] += 1
        if labels[position] != expected.label:
            report.label_mismatches += 1
        if probabilities is not None and expected.probabilities is not None:
            got = probabilities[position]
            diff = max(abs(got[key] - value) for key, value in expected.probabilities.items())
            report.max_probability_diff = max(report.max_probability_diff, diff)
            if diff > report.probability_tolerance or got.keys() != expected.probabilities.keys():
                report.probability_mismatches += 1


async def client_loop(
    client_id: int,
    url: str,
    workload: Workload,
    reference: list[Answer],
    deadline: float,
    seed: int,
    report: LoadReport,
) -> None:
    rng = random.Random(seed * 1_000_003 + client_id)
    async with httpx.AsyncClient(base_url=url, timeout=REQUEST_TIMEOUT_S) as client:
        while time.monotonic() < deadline:
            kind, body, indexes = workload.request(rng)
            started = time.perf_counter()
            try:
                response = await client.post("/predict", json=body)
            except httpx.HTTPError as error:
                report.errors += 1
                if len(report.error_samples) < 5:
                    report.error_samples.append(f"{kind}: {type(error).__name__}: {error}")
                continue
            report.latencies_ms.append((time.perf_counter() - started) * 1000)
            report.requests += 1
            report.rows += len(indexes)
            report.kinds[kind] += 1
            if response.status_code != 200:
                report.errors += 1
                if len(report.error_samples) < 5:
                    report.error_samples.append(f"{kind}: {response.status_code} {response.text[:200]}")
                continue
            check_answer(report, response.json(), indexes, reference)


async def drive(
    url: str, workload: Workload, reference: list[Answer], clients: int, duration: float, seed: int, tolerance: float
) -> LoadReport:
    report = LoadReport(clients=clients, duration_s=duration, probability_tolerance=tolerance)
    started = time.monotonic()
    deadline = started + duration
    await asyncio.gather(
        *(client_loop(client_id, url, workload, reference, deadline, seed, report) for client_id in range(clients))
    )
    # In-flight requests finish after the deadline; the rate is over the time actually spent.
    report.duration_s = time.monotonic() - started
    return report


def validate_bounds(clients: int, duration: float) -> None:
    if not 1 <= clients <= MAX_CLIENTS:
        raise ValueError(f"--clients must be between 1 and {MAX_CLIENTS}, not {clients}")
    if not 0 < duration <= MAX_DURATION_S:
        raise ValueError(f"--duration must be more than 0 and at most {MAX_DURATION_S:.0f} s, not {duration}")


def run_load(
    model_dir: Path,
    clients: int,
    duration: float,
    seed: int = 0,
    probability_tolerance: float = 1e-12,
    log_dir: Path | None = None,
) -> tuple[LoadReport, Workload, list[Answer]]:
    """Serve `model_dir`, record the reference answers, drive the load; returns the report, the rows and the
    reference answer of each row."""
    validate_bounds(clients, duration)
    with tempfile.TemporaryDirectory(prefix="sklambda-load-") as scratch:
        log_path = (log_dir or Path(scratch)) / "serve.log"
        with ServedApp(model_dir, log_path) as server:
            health = server.wait_ready()
            if health.status_code != 200:
                raise RuntimeError(f"the model did not load ({health.status_code}):\n{server.log()}")
            workload = Workload.for_model(httpx.get(f"{server.url}/model", timeout=10).json(), seed)
            reference = reference_answers(server.url, workload)
            report = asyncio.run(drive(server.url, workload, reference, clients, duration, seed, probability_tolerance))
            if server.process.poll() is not None:
                report.errors += 1
                report.error_samples.append(f"server exited with {server.process.returncode}")
    return report, workload, reference


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=32, help=f"concurrent async clients (1-{MAX_CLIENTS})")
    parser.add_argument("--duration", type=float, default=20.0, help=f"seconds of load (at most {MAX_DURATION_S:.0f})")
    parser.add_argument(
        "--model-dir", type=Path, default=DEFAULT_MODEL_DIR, help="model to serve (default: make model's)"
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the rows and of each client's request mix")
    parser.add_argument(
        "--probability-tolerance",
        type=float,
        default=1e-12,
        help="largest |difference| allowed between a probability under load and its single-threaded value",
    )
    parser.add_argument("--json", type=Path, help="also write the figures, rows and reference answers here")
    parser.add_argument("--log-dir", type=Path, help="keep the server's log (serve.log) here")
    args = parser.parse_args(argv)
    try:
        validate_bounds(args.clients, args.duration)
    except ValueError as error:
        parser.error(str(error))
    print(f"serving {args.model_dir} on 127.0.0.1 with `sklambda serve`; {os.cpu_count()} CPUs shared with the clients")
    report, workload, reference = run_load(
        args.model_dir, args.clients, args.duration, args.seed, args.probability_tolerance, args.log_dir
    )
    print(f"reference: {len(reference)} rows answered one request at a time")
    print(report.summary())
    if args.json:
        args.json.write_text(json.dumps(report.as_json(workload, reference), indent=1), encoding="utf-8")
    print("OK: no errors, every answer equals the single-threaded one" if report.ok else "FAILED")
    return 0 if report.ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
