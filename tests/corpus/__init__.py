"""Pipelines written the way scikit-learn's example gallery writes them, fitted on offline data.

Each entry names the gallery example it follows; the pipeline is kept as written there, and only the data changes
(`tests/corpus/data.py`: generated DataFrames with the gallery data's columns and dtypes, or datasets bundled in
scikit-learn's wheel). A builder returns the fitted model, the data it was fitted on (a DataFrame, or a list of
strings for text models) and example rows of the same kind.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.calibration import CalibratedClassifierCV
from sklearn.cluster import KMeans
from sklearn.compose import (
    ColumnTransformer,
    TransformedTargetRegressor,
    make_column_selector,
    make_column_transformer,
)
from sklearn.ensemble import (
    HistGradientBoostingClassifier,
    HistGradientBoostingRegressor,
    IsolationForest,
    RandomForestClassifier,
    RandomForestRegressor,
    StackingRegressor,
    VotingClassifier,
)
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.feature_selection import SelectPercentile, chi2
from sklearn.impute import KNNImputer, MissingIndicator, SimpleImputer
from sklearn.linear_model import LassoCV, LogisticRegression, RidgeCV
from sklearn.model_selection import GridSearchCV
from sklearn.multioutput import MultiOutputClassifier
from sklearn.naive_bayes import GaussianNB
from sklearn.pipeline import FeatureUnion, Pipeline, make_pipeline
from sklearn.preprocessing import OneHotEncoder, OrdinalEncoder, QuantileTransformer, StandardScaler
from sklearn.svm import LinearSVC

from tests.corpus import data


@dataclass(frozen=True)
class CorpusEntry:
    """A fitted gallery pipeline, what it was fitted on, and example rows of the same kind."""

    name: str
    model: Any
    X: Any
    """The training DataFrame, or the list of training texts."""
    example: Any
    """A DataFrame of example rows (or a list of texts) given to the model as the gallery would."""


def _example(X: pd.DataFrame, n_rows: int = 3) -> pd.DataFrame:
    return X.iloc[:n_rows].reset_index(drop=True)


def _titanic_numeric_categorical() -> tuple[Pipeline, Pipeline]:
    numeric_transformer = Pipeline(steps=[("imputer", SimpleImputer(strategy="median")), ("scaler", StandardScaler())])
    categorical_transformer = Pipeline(
        steps=[
            ("encoder", OneHotEncoder(handle_unknown="ignore")),
            ("selector", SelectPercentile(chi2, percentile=50)),
        ]
    )
    return numeric_transformer, categorical_transformer


def mixed_types_by_name() -> CorpusEntry:
    """compose/plot_column_transformer_mixed_types.py: columns selected by name."""
    X, y = data.titanic()
    numeric_features = ["age", "fare"]
    categorical_features = ["embarked", "sex", "pclass"]
    numeric_transformer, categorical_transformer = _titanic_numeric_categorical()
    preprocessor = ColumnTransformer(
        transformers=[
            ("num", numeric_transformer, numeric_features),
            ("cat", categorical_transformer, categorical_features),
        ]
    )
    clf = Pipeline(steps=[("preprocessor", preprocessor), ("classifier", LogisticRegression())])
    clf.fit(X, y)
    return CorpusEntry("mixed_types_by_name", clf, X, _example(X))


def mixed_types_by_dtype() -> CorpusEntry:
    """compose/plot_column_transformer_mixed_types.py: columns selected by dtype with make_column_selector."""
    X, y = data.titanic()
    subset_feature = ["embarked", "sex", "pclass", "age", "fare"]
    X = X[subset_feature]
    numeric_transformer, categorical_transformer = _titanic_numeric_categorical()
    preprocessor = ColumnTransformer(
        transformers=[
            ("num", numeric_transformer, make_column_selector(dtype_exclude="category")),
            ("cat", categorical_transformer, make_column_selector(dtype_include="category")),
        ]
    )
    clf = Pipeline(steps=[("preprocessor", preprocessor), ("classifier", LogisticRegression())])
    clf.fit(X, y)
    return CorpusEntry("mixed_types_by_dtype", clf, X, _example(X))


def mixed_types_grid_search() -> CorpusEntry:
    """compose/plot_column_transformer_mixed_types.py: the pipeline inside GridSearchCV."""
    X, y = data.titanic()
    numeric_transformer, categorical_transformer = _titanic_numeric_categorical()
    preprocessor = ColumnTransformer(
        transformers=[
            ("num", numeric_transformer, ["age", "fare"]),
            ("cat", categorical_transformer, ["embarked", "sex", "pclass"]),
        ]
    )
    clf = Pipeline(steps=[("preprocessor", preprocessor), ("classifier", LogisticRegression())])
    param_grid = {
        "preprocessor__num__imputer__strategy": ["mean", "median"],
        "classifier__C": [0.1, 1.0, 10, 100],
    }
    search_cv = GridSearchCV(clf, param_grid, cv=3)
    search_cv.fit(X, y)
    return CorpusEntry("mixed_types_grid_search", search_cv, X, _example(X))


def gradient_boosting_native_categorical() -> CorpusEntry:
    """ensemble/plot_gradient_boosting_categorical.py: native categorical support from the category dtype."""
    X, y = data.ames()
    hist_native = HistGradientBoostingRegressor(random_state=42, categorical_features="from_dtype", max_iter=10)
    hist_native.fit(X, y)
    return CorpusEntry("gradient_boosting_native_categorical", hist_native, X, _example(X))


def gradient_boosting_ordinal_pandas_output() -> CorpusEntry:
    """ensemble/plot_gradient_boosting_categorical.py: OrdinalEncoder by dtype with pandas output, categorical
    features named for the gradient boosting (the names come from the DataFrame as a pandas Index)."""
    X, y = data.ames()
    categorical_columns = X.select_dtypes(include="category").columns
    ordinal_encoder = make_column_transformer(
        (
            OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=np.nan),
            make_column_selector(dtype_include="category"),
        ),
        remainder="passthrough",
        verbose_feature_names_out=False,
    ).set_output(transform="pandas")
    hist_native = make_pipeline(
        ordinal_encoder,
        HistGradientBoostingRegressor(random_state=42, categorical_features=categorical_columns, max_iter=10),
    )
    hist_native.fit(X, y)
    return CorpusEntry("gradient_boosting_ordinal_pandas_output", hist_native, X, _example(X))


def gradient_boosting_one_hot() -> CorpusEntry:
    """ensemble/plot_gradient_boosting_categorical.py: one-hot encoding by dtype, numbers passed through."""
    X, y = data.ames()
    one_hot_encoder = make_column_transformer(
        (
            OneHotEncoder(sparse_output=False, handle_unknown="ignore"),
            make_column_selector(dtype_include="category"),
        ),
        remainder="passthrough",
    )
    hist_one_hot = make_pipeline(one_hot_encoder, HistGradientBoostingRegressor(random_state=42, max_iter=10))
    hist_one_hot.fit(X, y)
    return CorpusEntry("gradient_boosting_one_hot", hist_one_hot, X, _example(X))


def stack_predictors() -> CorpusEntry:
    """ensemble/plot_stack_predictors.py: a tree and a linear preprocessor by dtype, stacked regressors."""
    X, y = data.ames()
    cat_selector = make_column_selector(dtype_include=["category", "object"])
    num_selector = make_column_selector(dtype_include="number")
    cat_tree_processor = OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=-1, encoded_missing_value=-2)
    num_tree_processor = SimpleImputer(strategy="mean", add_indicator=True)
    tree_preprocessor = make_column_transformer((num_tree_processor, num_selector), (cat_tree_processor, cat_selector))
    cat_linear_processor = OneHotEncoder(handle_unknown="ignore")
    num_linear_processor = make_pipeline(StandardScaler(), SimpleImputer(strategy="mean", add_indicator=True))
    linear_preprocessor = make_column_transformer(
        (num_linear_processor, num_selector), (cat_linear_processor, cat_selector)
    )
    lasso_pipeline = make_pipeline(linear_preprocessor, LassoCV())
    rf_pipeline = make_pipeline(tree_preprocessor, RandomForestRegressor(n_estimators=20, random_state=42))
    gbdt_pipeline = make_pipeline(tree_preprocessor, HistGradientBoostingRegressor(random_state=0, max_iter=10))
    estimators = [("Random Forest", rf_pipeline), ("Lasso", lasso_pipeline), ("Gradient Boosting", gbdt_pipeline)]
    stacking_regressor = StackingRegressor(estimators=estimators, final_estimator=RidgeCV(), cv=3)
    stacking_regressor.fit(X, y)
    return CorpusEntry("stack_predictors", stacking_regressor, X, _example(X))


def missing_values_imputation() -> CorpusEntry:
    """impute/plot_missing_values.py: mean imputation with missing indicators before a random forest."""
    X, y = data.diabetes_with_missing()
    imputer = SimpleImputer(missing_values=np.nan, add_indicator=True, strategy="mean")
    regressor = RandomForestRegressor(random_state=0, n_estimators=20)
    estimator = make_pipeline(imputer, regressor)
    estimator.fit(X, y)
    return CorpusEntry("missing_values_imputation", estimator, X, _example(X))


def missing_values_knn() -> CorpusEntry:
    """impute/plot_missing_values.py: scaled KNN imputation."""
    X, y = data.diabetes_with_missing(seed=1)
    imputer = KNNImputer(missing_values=np.nan, add_indicator=True)
    estimator = make_pipeline(StandardScaler(), imputer, RidgeCV())
    estimator.fit(X, y)
    return CorpusEntry("missing_values_knn", estimator, X, _example(X))


def missing_indicator_union() -> CorpusEntry:
    """impute MissingIndicator in a FeatureUnion with the imputer (the MissingIndicator documentation example)."""
    X, y = data.diabetes_with_missing(seed=2)
    transformer = FeatureUnion(
        transformer_list=[
            ("features", SimpleImputer(strategy="mean")),
            ("indicators", MissingIndicator()),
        ]
    )
    clf = make_pipeline(transformer, RandomForestRegressor(n_estimators=20, random_state=0))
    clf.fit(X, y)
    return CorpusEntry("missing_indicator_union", clf, X, _example(X))


def text_classification() -> CorpusEntry:
    """text/plot_document_classification_20newsgroups.py: TF-IDF features and a linear SVM."""
    docs, labels = data.news()
    pipeline = make_pipeline(TfidfVectorizer(sublinear_tf=True, max_df=0.5, min_df=2), LinearSVC())
    pipeline.fit(docs, labels)
    return CorpusEntry("text_classification", pipeline, docs, docs[:3])


def text_column_heterogeneous() -> CorpusEntry:
    """compose/plot_column_transformer.py: TF-IDF on one text column of a DataFrame, chosen by name."""
    X, y = data.emails()
    pipeline = Pipeline(
        [
            (
                "union",
                ColumnTransformer(
                    [
                        ("subject", TfidfVectorizer(min_df=2), "subject"),
                        ("body_bow", TfidfVectorizer(min_df=2), "body"),
                    ],
                    transformer_weights={"subject": 0.8, "body_bow": 0.5},
                ),
            ),
            ("svc", LinearSVC(dual=False)),
        ],
    )
    pipeline.fit(X, y)
    return CorpusEntry("text_column_heterogeneous", pipeline, X, _example(X))


def transformed_target() -> CorpusEntry:
    """compose/plot_transformed_target.py: a ridge regressor on a quantile-transformed target."""
    X, y = data.diabetes_with_missing(seed=3)
    X = X.fillna(X.mean())
    regr_trans = TransformedTargetRegressor(
        regressor=RidgeCV(alphas=np.logspace(-3, 3, 10)),
        transformer=QuantileTransformer(n_quantiles=300, output_distribution="normal"),
    )
    regr_trans.fit(X, y)
    return CorpusEntry("transformed_target", regr_trans, X, _example(X))


def kmeans_clustering() -> CorpusEntry:
    """cluster/plot_kmeans_digits.py: scaled features into k-means."""
    X, _ = data.wine_frame()
    kmeans = make_pipeline(StandardScaler(), KMeans(init="k-means++", n_clusters=3, n_init=4, random_state=0))
    kmeans.fit(X)
    return CorpusEntry("kmeans_clustering", kmeans, X, _example(X))


def isolation_forest() -> CorpusEntry:
    """ensemble/plot_isolation_forest.py: outlier detection, 1 for inliers and -1 for outliers."""
    X, _ = data.iris_frame()
    clf = IsolationForest(max_samples=100, random_state=0)
    clf.fit(X)
    return CorpusEntry("isolation_forest", clf, X, _example(X))


def multioutput_regression() -> CorpusEntry:
    """ensemble/plot_random_forest_regression_multioutput.py: a random forest predicting several targets."""
    X, y = data.linnerud_frame()
    regr_rf = RandomForestRegressor(n_estimators=20, max_depth=4, random_state=2)
    regr_rf.fit(X, y)
    return CorpusEntry("multioutput_regression", regr_rf, X, _example(X))


def multioutput_classification() -> CorpusEntry:
    """multioutput: one classifier per output over a mixed-type DataFrame."""
    X, y = data.titanic()
    targets = np.column_stack([y.to_numpy(), np.where(X["pclass"].to_numpy() == 1, "first", "other")])
    preprocessor = make_column_transformer(
        (SimpleImputer(strategy="median"), make_column_selector(dtype_include="number")),
        (OneHotEncoder(handle_unknown="ignore"), make_column_selector(dtype_include="category")),
    )
    X = X.drop(columns=["name"])
    clf = make_pipeline(preprocessor, MultiOutputClassifier(RandomForestClassifier(n_estimators=20, random_state=0)))
    clf.fit(X, targets)
    return CorpusEntry("multioutput_classification", clf, X, _example(X))


def calibrated_classifier() -> CorpusEntry:
    """calibration/plot_calibration_curve.py: a linear SVM calibrated with isotonic regression."""
    X, y = data.titanic()
    X = X.drop(columns=["name"])
    preprocessor = make_column_transformer(
        (make_pipeline(SimpleImputer(), StandardScaler()), ["age", "fare", "sibsp", "pclass"]),
        (OneHotEncoder(handle_unknown="infrequent_if_exist", min_frequency=10), ["sex", "embarked"]),
    )
    svc_isotonic = make_pipeline(preprocessor, CalibratedClassifierCV(LinearSVC(C=1.0), cv=3, method="isotonic"))
    svc_isotonic.fit(X, y)
    return CorpusEntry("calibrated_classifier", svc_isotonic, X, _example(X))


def voting_classifier() -> CorpusEntry:
    """ensemble/plot_voting_probas.py: soft voting over three classifiers."""
    X, y = data.iris_frame()
    clf1 = LogisticRegression(max_iter=1000, random_state=123)
    clf2 = RandomForestClassifier(n_estimators=20, random_state=123)
    clf3 = GaussianNB()
    eclf = VotingClassifier(estimators=[("lr", clf1), ("rf", clf2), ("gnb", clf3)], voting="soft", weights=[1, 1, 5])
    eclf.fit(X, y)
    return CorpusEntry("voting_classifier", eclf, X, _example(X))


def hist_gradient_boosting_classifier_missing() -> CorpusEntry:
    """ensemble/plot_hgbt_regression.py's missing-value support, as a classifier on the titanic columns."""
    X, y = data.titanic()
    X = X.drop(columns=["name"])
    clf = HistGradientBoostingClassifier(max_iter=10, random_state=0)
    clf.fit(X, y)
    return CorpusEntry("hist_gradient_boosting_classifier_missing", clf, X, _example(X))


FAST: dict[str, Callable[[], CorpusEntry]] = {
    builder.__name__: builder
    for builder in (
        mixed_types_by_name,
        mixed_types_by_dtype,
        gradient_boosting_native_categorical,
        gradient_boosting_ordinal_pandas_output,
        gradient_boosting_one_hot,
        missing_values_imputation,
        missing_values_knn,
        missing_indicator_union,
        text_classification,
        text_column_heterogeneous,
        transformed_target,
        kmeans_clustering,
        isolation_forest,
        multioutput_regression,
        voting_classifier,
        hist_gradient_boosting_classifier_missing,
    )
}
"""Entries that fit in well under a second each: run by default."""

SLOW: dict[str, Callable[[], CorpusEntry]] = {
    builder.__name__: builder
    for builder in (mixed_types_grid_search, stack_predictors, multioutput_classification, calibrated_classifier)
}
"""Entries with cross-validation inside (grid search, stacking, calibration): behind the `corpus` marker."""


@functools.cache
def build(name: str) -> CorpusEntry:
    """The fitted entry, fitted once per test session (models are only read by the tests)."""
    return {**FAST, **SLOW}[name]()


def entry_params(select: Callable[[str], bool] = lambda _: True) -> list[Any]:
    """pytest parameters over the corpus entries, the slow ones marked `corpus`."""
    return [pytest.param(name, id=name) for name in FAST if select(name)] + [
        pytest.param(name, id=name, marks=pytest.mark.corpus) for name in SLOW if select(name)
    ]


def is_dataframe_entry(name: str) -> bool:
    """Whether the entry is fitted on a DataFrame (not on a list of texts)."""
    return name not in TEXT_ENTRIES


TEXT_ENTRIES = frozenset({"text_classification"})
"""Entries fitted on a list of strings."""
