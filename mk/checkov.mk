# checkov (infrastructure-as-code scanner) in its own venv, like the SAM CLI in mk/deploy.mk. Included by the
# Makefile (`-include mk/*.mk`), which defines PYTHON and TEST_PREREQS.
# tests/deploy/test_operations.py runs it on template.yaml and expects no finding: every skip is written, with its
# reason, in the template's Metadata.checkov.skip of the resource it concerns.

CHECKOV_VENV := .venv-checkov
CHECKOV := $(CHECKOV_VENV)/bin/checkov

.PHONY: checkov-install checkov

$(CHECKOV_VENV)/.installed: requirements-checkov.txt
	@test -x $(CHECKOV_VENV)/bin/python || $(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/python -m pip install --quiet --disable-pip-version-check pip==26.3
	$(CHECKOV_VENV)/bin/python -m pip install --quiet --disable-pip-version-check -r requirements-checkov.txt
	@touch $@

checkov-install: $(CHECKOV_VENV)/.installed

# --skip-download: offline, no Bridgecrew/Prisma Cloud account (only the doc links in the report are lost).
checkov: $(CHECKOV_VENV)/.installed
	$(CHECKOV) --file template.yaml --framework cloudformation --skip-download --compact

# `make test` runs the checkov test too.
TEST_PREREQS += $(CHECKOV_VENV)/.installed
