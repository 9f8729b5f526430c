# TNTServe. `make test` installs what is missing, builds, generates the PaddlePaddle
# reference fixtures and runs every test.
SHELL := /bin/bash
SWIFT ?= swift
REFERENCE_DIR ?= $(CURDIR)/.build/reference
# The gRPC port (tnt-server --grpc-port) is a package trait: the tests, the benchmarks and the
# container image build with it; `make serve` leaves it out unless GRPC=1, since grpc-swift
# and its dependencies double a clean build (docs/PERFORMANCE.md, "Build time").
TRAITS := --traits GRPC
SERVE_TRAITS := $(if $(GRPC),$(TRAITS),)

.PHONY: all deps build release test proto-check test-swift test-python fixtures bench fuzz-all fuzz-replay sanitize container-smoke serve clean

all: build

deps:
	tools/install-deps.sh

build:
	$(SWIFT) build $(TRAITS)

release:
	$(SWIFT) build -c release --product tnt $(TRAITS)

fixtures:
	tools/make_fixtures.sh $(REFERENCE_DIR)

test: deps fixtures proto-check test-swift test-python fuzz-replay

proto-check:
	tools/gen-proto.sh --check

test-swift:
	$(SWIFT) build --build-tests $(TRAITS)
	TNT_REFERENCE_DIR=$(REFERENCE_DIR) $(SWIFT) test --skip-build $(TRAITS)

test-python:
	python3 -m pytest -q tools/tests clients/python/tests

# Speed beside references (docs/PERFORMANCE.md).
bench: release
	tools/install-deps.sh --bench
	$(SWIFT) build -c release --product tnt-server $(TRAITS)
	mkdir -p .build/bench && bench/model_vs_references.sh | tee .build/bench/model.log && python3 bench/summarize_model_bench.py .build/bench/model.log
	python3 bench/preprocess_vs_paddleclas.py
	bench/rpc_vs_model.sh
	bench/rpc_ratio.sh 3 30

# Serves models/ (the bundled digits model) on 127.0.0.1:50051, admin on 8080.
serve:
	tools/install-deps.sh --runtime
	$(SWIFT) build -c release --product tnt-server $(SERVE_TRAITS)
	$(SWIFT) build -c release --product tnt $(SERVE_TRAITS)
	.build/release/tnt-server --models models --port 50051 --admin-port 8080 $(if $(GRPC),--grpc-port 50052,)

# libFuzzer + AddressSanitizer over every parser of untrusted bytes, FUZZ_SECONDS per target
# (default 60); protobuf-c instrumented from Debian's source package (tools/fuzz.sh).
FUZZ_SECONDS ?= 60
fuzz-all:
	tools/fuzz.sh $(FUZZ_SECONDS)

# The Swift tests once under AddressSanitizer (+ LeakSanitizer), then the TLS and fleet tests
# against the ASan server, and the server's concurrency tests under ThreadSanitizer; the
# integration tests start the tnt-server built with the same sanitizer, so the server process
# is checked too.
TSAN_TESTS ?= ServerTests|LimitTests|FailoverTests|ReloadTests|BatchQueueTests
sanitize:
	$(SWIFT) build --build-tests --sanitize=address --scratch-path .build-asan $(TRAITS)
	SWIFT_BACKTRACE=enable=no LSAN_OPTIONS=suppressions=$(CURDIR)/tools/sanitizers/lsan.supp TNT_REFERENCE_DIR=$(REFERENCE_DIR) \
		$(SWIFT) test --skip-build --sanitize=address --scratch-path .build-asan $(TRAITS)
	# TLS, tokens, the fleet and the gRPC port against the ASan-built server (a leak fails its exit code).
	SWIFT_BACKTRACE=enable=no LSAN_OPTIONS=suppressions=$(CURDIR)/tools/sanitizers/lsan.supp TNT_SERVER=$(CURDIR)/.build-asan/debug/tnt-server \
		python3 -m pytest -q tools/tests/test_security.py tools/tests/test_fleet.py tools/tests/test_grpc.py
	$(SWIFT) build --build-tests --sanitize=thread --scratch-path .build-tsan $(TRAITS)
	SWIFT_BACKTRACE=enable=no TSAN_OPTIONS=suppressions=$(CURDIR)/tools/sanitizers/tsan.supp TNT_REFERENCE_DIR=$(REFERENCE_DIR) \
		$(SWIFT) test --skip-build --sanitize=thread --scratch-path .build-tsan $(TRAITS) --filter "$(TSAN_TESTS)"

# Every committed seed and crash input through its target (part of make test).
fuzz-replay:
	$(SWIFT) build --product fuzz-tnt $(TRAITS)
	for target in frame messages png jpeg safetensors modeljson config; do \
		.build/debug/fuzz-tnt $$target fuzz/corpus/$$target fuzz/crashes/$$target || exit 1; \
	done

# The Dockerfile's runtime stage built with podman and run (docs/OPERATIONS.md); needs root.
container-smoke:
	tools/install-deps.sh
	tools/container-smoke.sh

clean:
	rm -rf .build
