"""Deploy-side helpers (no AWS account needed): target-Python discovery, package size budget, offline SAM -> CFN."""
