# TNTServe. `make test` installs what is missing, builds, generates the PaddlePaddle
# reference fixtures and runs every test.
SHELL := /bin/bash
SWIFT ?= swift
REFERENCE_DIR ?= $(CURDIR)/.build/reference

.PHONY: all deps build release test proto-check test-swift test-python fixtures bench fuzz container-smoke serve clean

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
	python3 -m pytest -q tools/tests clients/python/tests

# Speed beside references (docs/PERFORMANCE.md).
bench: release
	tools/install-deps.sh --bench
	$(SWIFT) build -c release --product tnt-server
	mkdir -p .build/bench && bench/model_vs_references.sh | tee .build/bench/model.log && python3 bench/summarize_model_bench.py .build/bench/model.log
	python3 bench/preprocess_vs_paddleclas.py
	bench/rpc_vs_model.sh
	bench/rpc_ratio.sh 3 30

# Serves models/ (the bundled digits model) on 127.0.0.1:50051, admin on 8080.
serve:
	tools/install-deps.sh --runtime
	$(SWIFT) build -c release --product tnt-server
	$(SWIFT) build -c release --product tnt
	.build/release/tnt-server --models models --port 50051 --admin-port 8080

# libFuzzer + AddressSanitizer over the protobuf-c decode path (FUZZ_SECONDS, default 60).
FUZZ_SECONDS ?= 60
fuzz:
	$(SWIFT) build --product fuzz-protocol --sanitize=fuzzer --sanitize=address -Xswiftc -DFUZZING --scratch-path .build-fuzz
	mkdir -p .build-fuzz/corpus
	SWIFT_BACKTRACE=enable=no .build-fuzz/debug/fuzz-protocol -max_total_time=$(FUZZ_SECONDS) -max_len=4096 .build-fuzz/corpus

# The Dockerfile's runtime stage built with podman and run (docs/OPERATIONS.md); needs root.
container-smoke:
	tools/install-deps.sh
	tools/container-smoke.sh

clean:
	rm -rf .build
