# `make local-api`: the built function + layer behind SAM CLI's own API Gateway emulation, no Docker (deploy/local_api.py).
# Included by the Makefile after mk/deploy.mk (LAMBDA_PYTHON, TARGET_PYTHON, SAM_VENV, SAM_BUILD_DIR, sam-build).
# LOCAL_API_PORT: 3000, as `sam local start-api`. PARAMETER_OVERRIDES: template parameters, as for sam, e.g.
#   make local-api PARAMETER_OVERRIDES="AllowedOrigins=http://localhost:8080 LogLevel=DEBUG"
LOCAL_API_HOST ?= 127.0.0.1
LOCAL_API_PORT ?= 3000
PARAMETER_OVERRIDES ?=
LAMBDA_VENV := .venv-lambda

# What the build is made from: a change to any of them rebuilds before serving.
LOCAL_API_BUILD_INPUTS := template.yaml $(wildcard functions/predict/Makefile functions/predict/requirements.txt \
  functions/predict/*.py functions/predict/predict_service/*.py layers/model/Makefile layers/model/requirements*.txt \
  layers/model/model/*)

.PHONY: local-api lambda-venv

# The runtime interface client runs under the Lambda Python itself (found by deploy/toolchain.py), in its own venv.
$(LAMBDA_VENV)/.installed: requirements-lambda.txt
	@test -n "$(TARGET_PYTHON)" || { echo "no Python $(LAMBDA_PYTHON) found: install it (pyenv install $(LAMBDA_PYTHON)) or set TARGET_PYTHON=/path/to/python$(LAMBDA_PYTHON)"; exit 1; }
	@test -x $(LAMBDA_VENV)/bin/python || $(TARGET_PYTHON) -m venv $(LAMBDA_VENV)
	$(LAMBDA_VENV)/bin/python -m pip install --quiet --disable-pip-version-check --no-deps -r requirements-lambda.txt
	@touch $@

lambda-venv: $(LAMBDA_VENV)/.installed

$(SAM_BUILD_DIR)/template.yaml: $(LOCAL_API_BUILD_INPUTS) | $(SAM_VENV)/.installed
	$(MAKE) --no-print-directory sam-build

local-api: $(SAM_BUILD_DIR)/template.yaml $(LAMBDA_VENV)/.installed
	$(SAM_VENV)/bin/python -m deploy.local_api --build-dir $(SAM_BUILD_DIR) --host $(LOCAL_API_HOST) \
	  --port $(LOCAL_API_PORT) --lambda-python $(LAMBDA_VENV)/bin/python \
	  $(if $(PARAMETER_OVERRIDES),--parameter-overrides $(PARAMETER_OVERRIDES))

# The local-api and browser tests run the built artifact under awslambdaric.
TEST_PREREQS += $(LAMBDA_VENV)/.installed
