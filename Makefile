# TNTServe. `make test` installs what is missing, builds, generates the PaddlePaddle
# reference fixtures and runs every test.
SHELL := /bin/bash
SWIFT ?= swift
REFERENCE_DIR ?= $(CURDIR)/.build/reference

.PHONY: all deps build release test proto-check test-swift test-python fixtures bench serve clean

all: build

deps:
	tools/install-deps.sh

build:
	$(SWIFT) build

release:
	$(SWIFT) build -c release --product tnt

fixtures:
	tools/make_fixtures.sh $(REFERENCE_DIR)

test: deps fixtures proto-check test-swift test-python

proto-check:
	tools/gen-proto.sh --check

test-swift:
	$(SWIFT) build --build-tests
	TNT_REFERENCE_DIR=$(REFERENCE_DIR) $(SWIFT) test --skip-build

test-python:
	python3 -m pytest -q tools/tests

# Forward-pass speed beside ONNX Runtime (docs/PERFORMANCE.md).
bench: release
	tools/install-deps.sh --bench
	bench/model_vs_onnxruntime.sh

serve:
	@echo "tnt-server arrives with issue [3 of 6]; today: make test, make bench, .build/release/tnt forward" >&2
	@exit 2

clean:
	rm -rf .build
