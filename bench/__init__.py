"""`make bench` (python -m bench.run) and `make load` (python -m bench.load): measurements, not tests."""
