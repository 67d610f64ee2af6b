"""Fixtures shared by the hardening tests."""

from __future__ import annotations

from pathlib import Path

import joblib
import numpy as np
import pytest
from predict_service.manifest import FeatureSpec, FeatureValue, Label, ModelManifest, file_sha256, write_manifest
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline

from sklambda.artifact import describe_estimator, library_versions
from sklambda.invoking import Handler
from sklambda.training import DEMO_VERSION, train_csv
from tests.support.bad_inputs import PLAN_FEATURES, PLANS, TEXT_ROW
from tests.support.handlers import handler_for


@pytest.fixture(scope="module")
def lambda_handler(demo_model_dir: Path) -> Handler:
    """The service's real Lambda handler (model loaded, app behind Mangum) for the demo model."""
    return handler_for(demo_model_dir)


@pytest.fixture(scope="session")
def typed_model_dirs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The bad-input matrix's "typed" model (a number and a category, trained from a CSV) for each runtime."""
    rng = np.random.default_rng(5)
    plans = rng.choice(PLANS, size=200)
    tenure = rng.integers(0, 60, size=200)
    churn = np.where((tenure < 12) & (plans == "basic"), "yes", "no")
    root = tmp_path_factory.mktemp("typed")
    csv_file = root / "churn.csv"
    rows = [f"{t},{p},{c}" for t, p, c in zip(tenure, plans, churn, strict=True)]
    csv_file.write_text("\n".join([f"{','.join(PLAN_FEATURES)},churn", *rows]) + "\n")
    dirs = {}
    for runtime in ("sklearn", "onnx"):
        dirs[runtime] = root / runtime
        # The demo model's version: Powertools shares metric dimensions between the apps of one process.
        train_csv(csv_file, "churn", dirs[runtime], task="auto", name="churn", version=DEMO_VERSION, runtime=runtime)
    return dirs


@pytest.fixture(scope="session")
def text_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The bad-input matrix's "text" model: TF-IDF and a linear classifier, one string per row."""
    texts = [f"{word} note number {index}" for index in range(40) for word in ("friendly", "angry")]
    labels = ["good" if text.startswith("friendly") else "bad" for text in texts]
    model = make_pipeline(TfidfVectorizer(), LogisticRegression()).fit(texts, labels)
    model_dir = tmp_path_factory.mktemp("text") / "model"
    model_dir.mkdir()
    classes: list[Label] = ["bad", "good"]
    example: list[FeatureValue | None] = [*TEXT_ROW]
    joblib.dump(model, model_dir / "model.joblib")
    write_manifest(
        model_dir,
        ModelManifest(
            name="notes",
            version=DEMO_VERSION,
            created_at="2026-01-01T00:00:00+00:00",
            sha256=file_sha256(model_dir / "model.joblib"),
            estimator=describe_estimator(model),
            task="classification",
            features=[FeatureSpec(name="text", type="text")],
            feature_names=["text"],
            n_features=1,
            classes=classes,
            has_predict_proba=True,
            input_layout="text",
            example=example,
            versions=library_versions(),
        ),
    )
    return model_dir
