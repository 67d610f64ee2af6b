# Deploy side: SAM CLI venv, `make build` (validate + build + size report), deploy tests, test events.
# Included by the Makefile (`-include mk/*.mk`), which defines VENV, PY, `install` and `model`.

# The Lambda Python version: template.yaml's Runtime (python$(LAMBDA_PYTHON)) must say the same, and
# tests/deploy/test_template.py checks it. Handed to both makefile builds as PY_VER.
LAMBDA_PYTHON := 3.13
# x86_64 (default) or arm64; `make build ARCH=arm64` builds both the function and the layer for Graviton.
ARCH ?= x86_64
# MB (MiB) allowed for function + layers, unzipped; Lambda refuses more than 250.
BUDGET_MB ?= 200

SAM_VENV := .venv-sam
SAM := $(SAM_VENV)/bin/sam
SAM_BUILD_DIR ?= .aws-sam/build
# One cache per architecture: SAM's cache key does not include the layer's target platform, so a shared cache
# would hand an x86_64 layer to an arm64 build.
SAM_CACHE_DIR ?= .aws-sam/cache-$(ARCH)
# The Python that byte-compiles the build (and that the deploy tests run the artifacts with); empty when absent.
ifeq ($(origin TARGET_PYTHON),undefined)
TARGET_PYTHON := $(shell $(PYTHON) -m deploy.toolchain $(LAMBDA_PYTHON))
endif
# The model directory the layer is built from (layers/model/Makefile's default: layers/model/model).
LAYER_MODEL_DIR ?=
# Handed to both makefile builds through the environment (make reads it into their `?=` variables).
LAYER_TOOLS := PY_VER=$(LAMBDA_PYTHON) ARCH=$(ARCH) TARGET_PYTHON=$(TARGET_PYTHON) \
               PIP="$(abspath $(SAM_VENV))/bin/python -m pip" PYTHON="$(abspath $(SAM_VENV))/bin/python"
SAM_ENV := SAM_CLI_TELEMETRY=0 $(LAYER_TOOLS) $(if $(LAYER_MODEL_DIR),MODEL_SRC="$(abspath $(LAYER_MODEL_DIR))")

EVENT_BODY := {"features":[5.1,3.5,1.4,0.2]}

.PHONY: sam-install validate sam-build build sizes test-deploy events

$(SAM_VENV)/.installed: requirements-sam.txt
	@test -x $(SAM_VENV)/bin/python || $(PYTHON) -m venv $(SAM_VENV)
	@# A current pip: the old bundled one resolves the two --platform tags of the makefile builds less reliably.
	$(SAM_VENV)/bin/python -m pip install --quiet --disable-pip-version-check pip==26.3
	$(SAM_VENV)/bin/python -m pip install --quiet --disable-pip-version-check -r requirements-sam.txt
	@touch $@

sam-install: $(SAM_VENV)/.installed

validate: $(SAM_VENV)/.installed
	SAM_CLI_TELEMETRY=0 $(SAM) validate --lint

# Only the resource(s) named here are built when set (e.g. SAM_BUILD_RESOURCE=ModelLayer).
SAM_BUILD_RESOURCE ?=
# The deploy tests pass --no-cached: they check what the makefile builds actually do.
SAM_CACHE ?= --cached

sam-build: $(SAM_VENV)/.installed model
	@test -n "$(TARGET_PYTHON)" || echo "WARNING: no Python $(LAMBDA_PYTHON) found: the build ships without .pyc (slower cold starts)"
	$(SAM_ENV) $(SAM) build $(SAM_BUILD_RESOURCE) --parameter-overrides Architecture=$(ARCH) \
	  --build-dir $(SAM_BUILD_DIR) --cache-dir $(SAM_CACHE_DIR) $(SAM_CACHE) --parallel

# The runtime the model was packaged for decides the layer; every other runtime of the registry
# (predict_service.runtimes) has its libraries built too (no model, not deployed) so the report shows each size.
OTHER_RUNTIMES = $(shell $(PY) -m deploy.sizes $(SAM_BUILD_DIR) --other-runtimes)
compare_dir = $(dir $(abspath $(SAM_BUILD_DIR)))compare-$(1)-$(ARCH)

build: validate sam-build install
	@$(foreach runtime,$(OTHER_RUNTIMES),$(MAKE) --no-print-directory -s -C layers/model build-stack STACK_ONLY=1 \
	  MODEL_RUNTIME=$(runtime) ARTIFACTS_DIR="$(call compare_dir,$(runtime))" $(LAYER_TOOLS) >/dev/null && ) true
	$(PY) -m deploy.sizes $(SAM_BUILD_DIR) --budget-mb $(BUDGET_MB) --zip \
	  $(foreach runtime,$(OTHER_RUNTIMES),--compare $(runtime)="$(call compare_dir,$(runtime))")

sizes: install
	$(PY) -m deploy.sizes $(SAM_BUILD_DIR) --budget-mb $(BUDGET_MB) --zip

# The deploy tests build for themselves (into test-artifacts/), translate offline and run moto; no AWS account.
test-deploy: install model $(SAM_VENV)/.installed
	$(PY) -m pytest tests/deploy tests/unit/test_model_source.py

# Regenerate the committed API Gateway test events (see events/README.md).
events: $(SAM_VENV)/.installed
	SAM_CLI_TELEMETRY=0 $(SAM) local generate-event apigateway http-api-proxy --method POST --path predict --body '$(EVENT_BODY)' > events/http-api-predict.json
	SAM_CLI_TELEMETRY=0 $(SAM) local generate-event apigateway aws-proxy --method POST --path predict --body '$(EVENT_BODY)' > events/rest-api-predict.json
	SAM_CLI_TELEMETRY=0 $(SAM) local generate-event apigateway http-api-proxy --method GET --path health > events/http-api-health.json
	SAM_CLI_TELEMETRY=0 $(SAM) local generate-event apigateway aws-proxy --method GET --path health > events/rest-api-health.json
	SAM_CLI_TELEMETRY=0 $(SAM) local generate-event apigateway http-api-proxy --method GET --path model > events/http-api-model.json

# `make test` (and so .ci/run) runs the deploy tests too; they need the SAM CLI venv.
TEST_PREREQS += $(SAM_VENV)/.installed
