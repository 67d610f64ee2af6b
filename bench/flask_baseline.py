"""The seed approach this project replaces, kept as the benchmark baseline: a Flask app written the usual way.

MODEL_PATH names a model.joblib. Not used by the product; `python -m bench.run` measures against it.
"""

import os

import joblib
import numpy as np
from flask import Flask, jsonify, request

model = joblib.load(os.environ.get("MODEL_PATH", "model.joblib"))
app = Flask(__name__)


@app.route("/predict", methods=["POST"])
def predict():  # type: ignore[no-untyped-def]
    try:
        data = request.get_json()
        features = np.array(data["features"]).reshape(1, -1)
        prediction = model.predict(features)
        return jsonify({"prediction": prediction.tolist()})
    except Exception as e:  # the seed's habit, leaking internals: exactly what sklambda replaces
        return jsonify({"error": str(e)}), 500
