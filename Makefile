# Pensieve: `make run` and `make test` set everything up on a fresh machine (scripts/setup.sh).
JOBS ?= $(shell nproc 2>/dev/null || sysctl -n hw.ncpu)
GENERATOR := $(shell command -v ninja >/dev/null && echo -G Ninja)
PORT ?= 7777
MODEL ?= mlx-community/Phi-3-mini-128k-instruct-4bit

.PHONY: setup build build-asan build-fuzz run test test-cpp test-python bench clean

setup:
	@scripts/setup.sh

build: setup
	@test -f build/CMakeCache.txt || cmake -S . -B build $(GENERATOR) -DCMAKE_BUILD_TYPE=Release
	@cmake --build build -j $(JOBS)

# Sanitizer configuration: the C++ tests and the bad-input CLI tests run against it.
build-asan: setup
	@test -f build-asan/CMakeCache.txt || cmake -S . -B build-asan $(GENERATOR) \
	  -DCMAKE_BUILD_TYPE=Debug -DPENSIEVE_SANITIZE=ON
	@cmake --build build-asan -j $(JOBS)

build-fuzz: setup
	@test -f build-fuzz/CMakeCache.txt || cmake -S . -B build-fuzz $(GENERATOR) \
	  -DCMAKE_BUILD_TYPE=Debug -DCMAKE_CXX_COMPILER=clang++ -DPENSIEVE_FUZZ=ON -DPENSIEVE_TESTS=OFF
	@cmake --build build-fuzz -j $(JOBS) --target fuzzers

run: build
	./build/pensieve serve -m $(MODEL) --port $(PORT)

test: build build-asan build-fuzz
	@.venv/bin/python tests/run_all.py

bench: build
	@cmake --build build -j $(JOBS) --target pensieve_kernels_bench
	.venv/bin/python bench/run.py --binary build/pensieve --out bench/results $(BENCH_ARGS)

clean:
	rm -rf build build-asan build-fuzz
