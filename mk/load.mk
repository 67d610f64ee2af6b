# `make load`: concurrent load on `sklambda serve` over loopback, every answer checked against the single-threaded one.
# LOAD_CLIENTS / LOAD_DURATION (seconds) override the defaults: make load LOAD_CLIENTS=8 LOAD_DURATION=5
LOAD_CLIENTS ?= 32
LOAD_DURATION ?= 20

.PHONY: load
load: install model
	$(PY) -m bench.load --clients $(LOAD_CLIENTS) --duration $(LOAD_DURATION) --model-dir $(MODEL_DIR)
