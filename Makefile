# workerctl: every target installs what it needs on a fresh clone.
NODE_MODULES_STAMP := node_modules/.package-lock.json
BUILD_STAMP := dist/.build-stamp
SOURCES := $(shell find controller test bench -name '*.ts' 2>/dev/null) tsconfig.json

.PHONY: all install build check lint format typecheck test test-unit run bench clean chaos

all: build

# npm ci when node_modules is missing or older than the lock file.
$(NODE_MODULES_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund
	@touch $(NODE_MODULES_STAMP)

install: $(NODE_MODULES_STAMP)

# A rebuild starts from an empty dist/, so a deleted test never lingers as stale JS.
$(BUILD_STAMP): $(NODE_MODULES_STAMP) $(SOURCES)
	rm -rf dist
	npx tsc -p tsconfig.json
	@touch $(BUILD_STAMP)

build: $(BUILD_STAMP)

typecheck: install
	npx tsc -p tsconfig.json --noEmit
	npx tsc -p tsconfig.web.json

lint: install
	npx eslint .

format: install
	npx prettier --write .

check: install typecheck lint
	npx prettier --check .

test: build
	npx mocha

# The unit tests alone (*.unit.test.ts: no simulator, no child process; lint keeps them so): seconds.
test-unit: build
	npx mocha --no-config --timeout 20000 --reporter dot 'dist/test/**/*.unit.test.js'

run: build
	node dist/controller/main.js run -f examples/ --simulate

bench: build
	node dist/bench/run.js

# The chaos and soak suite (test/chaos/, not part of make test): CHAOS_MINUTES (default 2), CHAOS_SEED to
# repeat a run, CHAOS_KEEP=1 to keep its logs and state.
chaos: build
	node dist/test/chaos/chaos.js

# Proxmox API requests per worker and per fleet, task waits per task vs per node, and Ansible's
# proxmox_kvm side by side (bench/api-economy.bench.ts; BENCHMARKS.md "API economy").
.PHONY: bench-api
bench-api: build
	node dist/bench/run.js api-economy

clean:
	rm -rf dist .workerctl

# proxmoxer and Ansible proxmox_kvm against `workerctl simulator --tls` (apt-installs them when missing).
.PHONY: real-clients
real-clients: build
	bash test/real-clients/run.sh

# The fleet page in headless Chromium (Debian's package) driven by playwright-core (installed into a
# directory of its own, no browser download); screenshots in dist/browser/. Not part of make test.
.PHONY: browser
browser: build
	bash test/browser/run.sh
