"""The sklambda prediction service: model runtime, FastAPI app and settings (no Lambda code here)."""
