# Convenience wrapper over meson/ninja. `make run` serves www/, `make test` runs every test.
BUILD      ?= build
BUILD_ASAN ?= build-asan
BUILD_FUZZ ?= build-fuzz
PORT       ?= 8080
TLS_PORT   ?= 8443

.PHONY: all deps run test format clean bench

all: deps
	@[ -f $(BUILD)/build.ninja ] || meson setup $(BUILD) --buildtype=release
	ninja -C $(BUILD)

deps:
	@scripts/deps.sh build

run: all
	@scripts/run.sh $(BUILD)/tern $(PORT) $(TLS_PORT)

test:
	@scripts/deps.sh test
	@scripts/test.sh

format:
	clang-format -i $$(git ls-files '*.c' '*.h')

# Runs the shared harness (../shared/bench) with tern beside nginx, h2o and lighttpd.
bench: all
	TERN_BIN=$(CURDIR)/$(BUILD)/tern BENCH_RESULTS=$(CURDIR)/bench/results \
	  ../shared/bench/run.sh -c bench/targets.conf

clean:
	rm -rf $(BUILD) $(BUILD_ASAN) $(BUILD_FUZZ)
