# Gavel: build, run, test.
#   make run       serve the HTTP API on the shipped policies (127.0.0.1:7700)
#   make test      every test (unit, integration, policy cases)
#   make policies  rebuild every component from policies-src/
#   make lint      cargo fmt --check and clippy -D warnings
#   make bench     every benchmark figure, into BENCHMARKS.md
#   make bench-quick  the harness compiles, peers agree, figures run (CI)
#   make bench-quick-cedar  the same agreement check for the Cedar peer (own build)

CARGO    ?= cargo
GAVEL    := target/release/gavel
DATA     := target/gavel-data
LISTEN   ?= 127.0.0.1:7700
WASM_OUT := policies-src/target/wasm32-wasip2/release
# Reproducible components: no machine-specific paths in the output, so a
# rebuild from unchanged sources gives the same bytes (and digests).
POLICY_RUSTFLAGS := --remap-path-prefix=$(CURDIR)=/gavel --remap-path-prefix=$(HOME)/.cargo=/cargo --remap-path-prefix=$(HOME)/.rustup=/rustup

.PHONY: all build run test mcp-deps c-toolchain fleet-services lint policies wasm-target bench bench-build bench-cedar-build bench-quick bench-quick-cedar bench-micro ci clean-data

all: build

# One cargo invocation shape for everything that builds the workspace: the
# whole workspace with its dev-dependencies (examples need them), so that
# `make run`, `make test` and `make bench` resolve one feature set and share
# one compile of wasmtime. (`cargo build -p gavel`, `cargo run --example` or
# `-p gavel-bench` alone would each resolve a different set and rebuild it.)
BUILD := $(CARGO) build --release --locked --workspace --bins --examples

build:
	$(BUILD)

run: build
	$(GAVEL) policies --policies policies-wasm --data-dir $(DATA)
	$(GAVEL) serve --policies policies-wasm --data-dir $(DATA) --listen $(LISTEN)

# Debian's clang 19, lld and wasi-libc: the C policy, its fixtures, the C
# scaffold and the C SDK's native checks. Installed if missing.
c-toolchain:
	@command -v clang-19 >/dev/null && command -v wasm-ld-19 >/dev/null && [ -f /usr/lib/wasm32-wasi/libc.a ] || \
	  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
	    clang-19 lld-19 wasi-libc libclang-rt-19-dev-wasm32 >/dev/null; }

# The engines a fleet runs on, which the fleet tests start on loopback:
# Redis (shared counters), PostgreSQL 15 (the shipped log) and Docker's
# registry 2.8 (signed policy sets). Debian's packages, installed if
# missing; the registry is only extracted (its package would start a
# service with auth on all interfaces), to /opt/docker-registry.
REGISTRY_DIR := /opt/docker-registry
fleet-services:
	@command -v redis-server >/dev/null && [ -x /usr/lib/postgresql/15/bin/initdb ] || \
	  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
	    redis-server postgresql-15 >/dev/null; }
	@command -v docker-registry >/dev/null || [ -x $(REGISTRY_DIR)/usr/bin/docker-registry ] || \
	  { tmp=$$(mktemp -d) && (cd $$tmp && apt-get download -qq docker-registry 2>/dev/null || \
	    { apt-get update -qq && apt-get download -qq docker-registry; }) && \
	    dpkg -x $$tmp/docker-registry_*.deb $(REGISTRY_DIR) && rm -rf $$tmp; }

# The Python MCP SDK (client and upstream of the MCP gateway's tests and
# README examples), installed if missing, at the version the tests pin.
mcp-deps:
	@python3 -c "import mcp" 2>/dev/null || python3 -m pip install -q -r tests/mcp/requirements.txt

# Host and SDK tests, the policies' native unit tests, then every policy's
# case files through `gavel test` against the built components.
test: build mcp-deps c-toolchain wasm-target fleet-services
	$(CARGO) test --release --locked --workspace
	cd policies-src && $(CARGO) test --release --locked
	$(GAVEL) test policies-src --policies policies-wasm --data-dir $(DATA) --quiet
	$(GAVEL) test policies-src/rules/limits/fuel.toml --policies policies-src/rules/limits --data-dir $(DATA) --quiet
	$(GAVEL) test policies-src/sensitive-actions --policies policies-wasm --component sensitive_actions_py.wasm --data-dir $(DATA) --quiet
	python3 -m unittest discover -s policies-src/sensitive-actions-py/tests
	$(GAVEL) test policies-src/sensitive-actions --policies policies-wasm --component sensitive_actions_js.wasm --data-dir $(DATA) --quiet
	node --test sdk/js/test/
	$(GAVEL) test policies-src/sensitive-actions --policies policies-wasm --component sensitive_actions_c.wasm --data-dir $(DATA) --quiet
	policies-src/sensitive-actions-c/tests/run.sh
	cd policies-src/sensitive-actions-js && { [ -d node_modules ] || npm ci --no-audit --no-fund --loglevel=error; } && node --test test/
	python3 -m unittest discover -s clients/python/tests
	target/release/examples/embed
	GAVEL=$(CURDIR)/$(GAVEL) tests/scaffolds.sh

lint:
	$(CARGO) fmt --all -- --check
	cd policies-src && $(CARGO) fmt --all -- --check
	$(CARGO) clippy --release --locked --workspace --all-targets -- -D warnings

wasm-target:
	@rustup target list --installed | grep -qx wasm32-wasip2 || rustup target add wasm32-wasip2

# Build every component, then copy those whose bytes changed: shipped
# policies into policies-wasm/, hostile fixtures into tests/fixtures/.
policies: wasm-target build c-toolchain
	cd policies-src && RUSTFLAGS="$(POLICY_RUSTFLAGS)" $(CARGO) build --release --locked --target wasm32-wasip2
	@mkdir -p policies-wasm tests/fixtures
	@for f in $(WASM_OUT)/*.wasm; do \
	  name=$$(basename $$f); \
	  case $$name in hostile_*) dest=tests/fixtures/$$name ;; *) dest=policies-wasm/$$name ;; esac; \
	  if cmp -s $$f $$dest; then echo "unchanged  $$dest"; else cp $$f $$dest; echo "updated    $$dest"; fi; \
	done
	FORCE=$(PY_FORCE) policies-src/sensitive-actions-py/build.sh policies-wasm/sensitive_actions_py.wasm
	FORCE=$(JS_FORCE) policies-src/sensitive-actions-js/build.sh policies-wasm/sensitive_actions_js.wasm
	GAVEL=$(GAVEL) policies-src/sensitive-actions-c/build.sh policies-wasm/sensitive_actions_c.wasm
	GAVEL=$(GAVEL) tests/fixtures/componentize_build.sh

# componentize-py output differs on every build, so locally the Python
# component is rebuilt only when its sources change (build.sh stamps it with
# their digest); CI sets PY_FORCE=1 to rebuild it from source regardless.
PY_FORCE ?= 0
# componentize-js output differs on every build too: the JS component is
# stamped and rebuilt only when its sources change; JS_FORCE=1 rebuilds.
JS_FORCE ?= 0

# The benchmark harness (bench/) as shipped is part of `make build`. The
# Cedar peer is built apart, in its own target directory: cedar-policy turns
# on serde_json's `preserve_order` for its whole build, which would change
# the features of everything above serde_json and rebuild it in target/.
BENCH       := target/release/gavel-bench
CEDAR_DIR   := target/cedar
BENCH_CEDAR := $(CEDAR_DIR)/release/gavel-bench

bench-build: build

bench-cedar-build:
	$(CARGO) build --release --locked -p gavel-bench --features cedar --target-dir $(CEDAR_DIR)

# Every figure, from one run, into BENCHMARKS.md (a few minutes).
bench: bench-build bench-cedar-build
	$(BENCH_CEDAR) peers --out target/bench-peers.md
	$(BENCH) report --peers target/bench-peers.md --out BENCHMARKS.md
	@echo "wrote BENCHMARKS.md"

# CI: the harness still builds, every peer in the shipped build (native,
# Rego) still gives Gavel's verdicts on the workload, and every figure's
# code still runs (tiny budgets, no timing asserted; the report goes to
# target/, not BENCHMARKS.md). It reuses `make build`'s compile. The Cedar
# peer needs its own build of everything (see above), so it is checked by
# `make bench` (which refuses to time peers that disagree) and by
# `make bench-quick-cedar`.
bench-quick: bench-build
	$(BENCH) peers --n 2000 --rounds 0 --out target/bench-peers.quick.md
	$(BENCH) report --quick --peers target/bench-peers.quick.md --out target/BENCHMARKS.quick.md
	@echo "bench-quick: peers agree, report ran (target/BENCHMARKS.quick.md)"

bench-quick-cedar: bench-cedar-build
	$(BENCH_CEDAR) peers --n 2000 --rounds 0 --out target/bench-peers.cedar-quick.md

# The micro-benchmarks behind the figures (criterion and plain timers).
bench-micro:
	$(CARGO) bench --locked --workspace --bench evaluate --bench log --bench reload

ci: policies lint test

clean-data:
	rm -rf $(DATA)
