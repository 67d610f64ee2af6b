"""sklambda: turn a scikit-learn model into an HTTPS prediction API on AWS Lambda."""
