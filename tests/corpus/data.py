"""Offline stand-ins for the gallery's OpenML and news data: generated DataFrames with the same columns and dtypes,
and datasets that ship inside scikit-learn's wheel. Seeded, so every run fits the same models."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.datasets import load_diabetes, load_iris, load_linnerud, load_wine


def titanic(n_rows: int = 400, seed: int = 0) -> tuple[pd.DataFrame, pd.Series]:
    """Titanic's columns as `fetch_openml("titanic", as_frame=True)` types them: `embarked`/`sex` category,
    `pclass` integer, `age`/`fare` float with missing values; the target `survived` is a string label."""
    rng = np.random.default_rng(seed)
    sex = rng.choice(["female", "male"], n_rows)
    pclass = rng.choice([1, 2, 3], n_rows, p=[0.25, 0.2, 0.55])
    age = rng.normal(30, 14, n_rows).clip(0.5, 80).round(1)
    age[rng.random(n_rows) < 0.2] = np.nan
    fare = (rng.gamma(2.0, 12.0, n_rows) * (4 - pclass)).round(2)
    fare[rng.random(n_rows) < 0.02] = np.nan
    embarked = rng.choice(np.array(["S", "C", "Q"], dtype=object), n_rows, p=[0.7, 0.2, 0.1])
    embarked[rng.random(n_rows) < 0.02] = np.nan
    score = (sex == "female") * 2.0 - (pclass - 2) * 0.8 - np.nan_to_num(age, nan=30) / 40 + rng.normal(0, 0.7, n_rows)
    X = pd.DataFrame(
        {
            "pclass": pclass,
            "name": [f"Passenger {i}" for i in range(n_rows)],
            "sex": pd.Categorical(sex),
            "age": age,
            "sibsp": rng.integers(0, 4, n_rows),
            "fare": fare,
            "embarked": pd.Categorical(embarked, categories=["C", "Q", "S"]),
        }
    )
    y = pd.Series(np.where(score > 0.3, "1", "0"), name="survived", dtype="category")
    return X, y


def ames(n_rows: int = 300, seed: int = 0) -> tuple[pd.DataFrame, pd.Series]:
    """A few of the Ames housing columns `fetch_openml(data_id=42165)` returns: categorical (category dtype, some
    missing) and numerical, and the sale price as the target."""
    rng = np.random.default_rng(seed)
    neighborhoods = np.array(["NAmes", "CollgCr", "OldTown", "Edwards", "Somerst", "Gilbert"], dtype=object)
    neighborhood = rng.choice(neighborhoods, n_rows)
    condition = rng.choice(np.array(["Ex", "Gd", "TA", "Fa"], dtype=object), n_rows, p=[0.1, 0.3, 0.5, 0.1])
    garage = rng.choice(np.array(["Attchd", "Detchd", "BuiltIn"], dtype=object), n_rows)
    garage[rng.random(n_rows) < 0.05] = np.nan
    area = rng.normal(1500, 450, n_rows).clip(400, 4500).round()
    year = rng.integers(1900, 2010, n_rows)
    lot = rng.normal(9000, 3000, n_rows).clip(1500, 30000).round()
    lot[rng.random(n_rows) < 0.1] = np.nan
    quality = rng.integers(1, 11, n_rows)
    price = (
        area * 70
        + (year - 1900) * 600
        + quality * 9000
        + (neighborhood == "Somerst") * 30000
        + (condition == "Ex") * 20000
        + rng.normal(0, 15000, n_rows)
    ).clip(30000, None)
    X = pd.DataFrame(
        {
            "Neighborhood": pd.Categorical(neighborhood),
            "ExterCond": pd.Categorical(condition),
            "GarageType": pd.Categorical(garage),
            "GrLivArea": area,
            "YearBuilt": year,
            "LotArea": lot,
            "OverallQual": quality,
        }
    )
    return X, pd.Series(price, name="SalePrice")


def news(n_docs: int = 240, seed: int = 0) -> tuple[list[str], np.ndarray]:
    """Short documents from three topics (20 newsgroups' shape: one string per document, a topic label each)."""
    rng = np.random.default_rng(seed)
    topics = {
        "sci.space": "orbit launch rocket nasa moon shuttle satellite astronaut mission planet",
        "rec.autos": "engine car dealer brake tire driving wheel mileage transmission sedan",
        "talk.religion.misc": "faith church belief god scripture moral religion prayer doctrine soul",
    }
    common = ["the", "a", "of", "and", "to", "in", "is", "it", "that", "for", "on", "with", "as", "was", "this"]
    labels = np.array(list(topics))[rng.integers(0, len(topics), n_docs)]
    docs = []
    for label in labels:
        words = list(rng.choice(topics[label].split(), 6)) + list(rng.choice(common, 8))
        rng.shuffle(words)
        docs.append(" ".join(words))
    return docs, labels


def emails(n_rows: int = 200, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    """A subject and a body per message (the gallery's heterogeneous-data example), with its topic."""
    docs, labels = news(n_rows, seed)
    subjects = [" ".join(doc.split()[:3]) for doc in docs]
    return pd.DataFrame({"subject": subjects, "body": docs}), labels


def diabetes_with_missing(seed: int = 0) -> tuple[pd.DataFrame, pd.Series]:
    """Diabetes (bundled) as a DataFrame with 20% of the feature values removed, as plot_missing_values does."""
    X, y = load_diabetes(return_X_y=True, as_frame=True)
    rng = np.random.default_rng(seed)
    X = X.mask(rng.random(X.shape) < 0.2)
    return X, y


def iris_frame() -> tuple[pd.DataFrame, pd.Series]:
    X, y = load_iris(return_X_y=True, as_frame=True)
    names = np.array(load_iris().target_names)
    return X, pd.Series(names[y.to_numpy()], name="species")


def wine_frame() -> tuple[pd.DataFrame, pd.Series]:
    X, y = load_wine(return_X_y=True, as_frame=True)
    return X, y


def linnerud_frame() -> tuple[pd.DataFrame, pd.DataFrame]:
    X, y = load_linnerud(return_X_y=True, as_frame=True)
    return X, y
