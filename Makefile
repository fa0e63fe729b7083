# Convenience wrapper over meson/ninja. `make run` serves www/, `make test` runs every test.
BUILD      ?= build
BUILD_ASAN ?= build-asan
BUILD_FUZZ ?= build-fuzz
PORT       ?= 8080
TLS_PORT   ?= 8443

PREFIX     ?= /usr/local
SYSCONFDIR ?= /etc
DESTDIR    ?=
BINDIR      = $(PREFIX)/bin

.PHONY: all deps run test format clean bench install

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

# Binary, man pages, the systemd unit (with this BINDIR), the configuration reference, the
# bundled site and the example configuration serving it (an existing one is kept). NO_BUILD=1 installs what $(BUILD) holds.
install: $(if $(NO_BUILD),,all)
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(PREFIX)/share/man/man1 \
	  $(DESTDIR)$(PREFIX)/share/man/man5 $(DESTDIR)$(PREFIX)/lib/systemd/system \
	  $(DESTDIR)$(PREFIX)/share/doc/tern $(DESTDIR)$(PREFIX)/share/tern/www \
	  $(DESTDIR)$(SYSCONFDIR)/tern
	install -m 0755 $(BUILD)/tern $(DESTDIR)$(BINDIR)/tern
	install -m 0644 docs/man/tern.1 $(DESTDIR)$(PREFIX)/share/man/man1/tern.1
	install -m 0644 docs/man/tern.yaml.5 $(DESTDIR)$(PREFIX)/share/man/man5/tern.yaml.5
	sed 's#@BINDIR@#$(BINDIR)#g; s#/etc/tern/#$(SYSCONFDIR)/tern/#g' dist/tern.service \
	  > $(DESTDIR)$(PREFIX)/lib/systemd/system/tern.service
	chmod 0644 $(DESTDIR)$(PREFIX)/lib/systemd/system/tern.service
	install -m 0644 docs/config.md examples/tern.yaml $(DESTDIR)$(PREFIX)/share/doc/tern/
	install -m 0644 www/* $(DESTDIR)$(PREFIX)/share/tern/www/
	[ -e $(DESTDIR)$(SYSCONFDIR)/tern/tern.yaml ] || \
	  sed 's#^root: \.\./www #root: $(PREFIX)/share/tern/www #' examples/tern.yaml \
	    > $(DESTDIR)$(SYSCONFDIR)/tern/tern.yaml

format:
	clang-format -i $$(git ls-files '*.c' '*.h')

# Runs the shared harness (../shared/bench) with tern beside nginx, h2o and lighttpd.
bench: all
	TERN_BIN=$(CURDIR)/$(BUILD)/tern BENCH_RESULTS=$(CURDIR)/bench/results \
	  ../shared/bench/run.sh -c bench/targets.conf

clean:
	rm -rf $(BUILD) $(BUILD_ASAN) $(BUILD_FUZZ)
