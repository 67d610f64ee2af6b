# Front end: the JS client's unit tests, the React demo's build, and `npm run dev`.
# `make test` runs js-test and frontend-build first, then pytest runs tests/browser against the build.
NPM ?= npm
NODE ?= node
FRONTEND := frontend
CLIENT_JS := clients/js
FRONTEND_STAMP := $(FRONTEND)/node_modules/.package-lock.json
CLIENT_STAMP := $(CLIENT_JS)/node_modules/.package-lock.json
# Anything the bundle is made from; the client is bundled in from ../clients/js.
FRONTEND_SOURCES := $(wildcard $(FRONTEND)/src/* $(FRONTEND)/index.html $(FRONTEND)/vite.config.js \
                    $(FRONTEND)/.env $(CLIENT_JS)/index.js)

.PHONY: frontend-install frontend-build frontend-dev js-test js-typecheck test-browser frontend-screenshot

# npm ci from the committed lockfile; npm writes node_modules/.package-lock.json, touched so make sees it as new.
$(FRONTEND_STAMP): $(FRONTEND)/package.json $(FRONTEND)/package-lock.json
	cd $(FRONTEND) && $(NPM) ci --no-audit --no-fund
	@touch $@

# The client has no runtime dependencies; its only dev dependency is TypeScript, to check index.d.ts.
$(CLIENT_STAMP): $(CLIENT_JS)/package.json $(CLIENT_JS)/package-lock.json
	cd $(CLIENT_JS) && $(NPM) ci --no-audit --no-fund
	@touch $@

frontend-install: $(FRONTEND_STAMP) $(CLIENT_STAMP)

$(FRONTEND)/dist/index.html: $(FRONTEND_STAMP) $(FRONTEND_SOURCES)
	cd $(FRONTEND) && $(NPM) run build

frontend-build: $(FRONTEND)/dist/index.html

# The client has no dependencies and the page's helpers are plain JS: node's own test runner covers both.
js-test:
	cd $(CLIENT_JS) && $(NODE) --test --test-reporter=spec test/*.test.js
	cd $(FRONTEND) && $(NODE) --test --test-reporter=spec test/*.test.js

js-typecheck: $(CLIENT_STAMP)
	cd $(CLIENT_JS) && $(NPM) run --silent typecheck

# Vite dev server on http://localhost:5173 against `make serve` (whose default CORS origins include it).
frontend-dev: frontend-install
	cd $(FRONTEND) && $(NPM) run dev

test-browser: install frontend-build
	$(PY) -m pytest tests/browser

# Refresh the README screenshot (docs/img/demo.png) from the browser test of a successful prediction.
frontend-screenshot: install frontend-build
	UPDATE_DOCS_SCREENSHOT=1 $(PY) -m pytest tests/browser/test_demo.py -k allowed_origin

TEST_PREREQS += js-test js-typecheck frontend-build
