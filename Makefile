# orderbridge: set-up and everyday commands. `make run` and `make test` do everything on a fresh
# Debian 12 machine (they install what is missing first).
SHELL := /bin/bash
JOBS ?= $(shell nproc)
CONFIG ?= config/orderbridge.yaml

.PHONY: deps deps-build build build-debug run demo test test-only bench format tidy clean

deps:
	./scripts/install-deps.sh all

deps-build:
	./scripts/install-deps.sh build

build: deps-build
	cmake --preset release >/dev/null
	cmake --build build/release -j$(JOBS)

run: build
	mkdir -p data
	./build/release/src/orderbridge --config $(CONFIG) serve

# The daemon with simulated ERPNext, ShipStation and WooCommerce and a stream of orders (surge, ERP outage).
demo: build
	./scripts/demo.sh

# Sanitizers and warnings as errors; starts the services tests need on private ports, stops them after.
test: deps
	cmake --preset ci >/dev/null
	cmake --build build/ci -j$(JOBS)
	./scripts/test-services.sh run -- ctest --preset ci -j$(JOBS) --timeout 900

# Re-run the suite without the install and configure steps.
test-only:
	cmake --build build/ci -j$(JOBS)
	./scripts/test-services.sh run -- ctest --preset ci -j$(JOBS) --timeout 900

bench: deps
	cmake --preset release -DORDERBRIDGE_BUILD_BENCH=ON >/dev/null
	cmake --build build/release -j$(JOBS)
	./bench/run.sh

format:
	git ls-files '*.cpp' '*.hpp' | xargs clang-format -i

tidy:
	cmake --preset tidy >/dev/null
	cmake --build build/tidy -j$(JOBS)

clean:
	rm -rf build
