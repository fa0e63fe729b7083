# Convenience wrapper over meson/ninja. `make run` serves www/, `make test` runs every test.
BUILD      ?= build
BUILD_ASAN ?= build-asan
BUILD_FUZZ ?= build-fuzz
PORT       ?= 8080

.PHONY: all deps run test unit e2e fuzz asan format clean bench

all: deps
	@[ -f $(BUILD)/build.ninja ] || meson setup $(BUILD) --buildtype=release
	ninja -C $(BUILD)

deps:
	@scripts/deps.sh build

run: all
	@scripts/run.sh $(BUILD)/tern $(PORT)

test:
	@scripts/deps.sh test
	@scripts/test.sh

format:
	clang-format -i $$(git ls-files '*.c' '*.h')

bench: all
	bench/run.sh

clean:
	rm -rf $(BUILD) $(BUILD_ASAN) $(BUILD_FUZZ)
