# minirun — see README.md. `make demo` and `make test` set up everything they need.
CARGO    ?= cargo
FIXTURES ?= /var/tmp/minirun-fixtures
PREFIX   ?= /usr/local
BIN      := target/release/minirun
export MINIRUN_FIXTURES := $(FIXTURES)

.PHONY: all setup build release fixtures test unit demo bench install lint clean

all: build

setup:
	@bash scripts/setup.sh

build: setup
	$(CARGO) build

release: setup
	$(CARGO) build --release

fixtures: setup
	python3 rootfs-fixtures/build.py $(FIXTURES)

# Everything: unit tests, then integration tests through the real binary, as root and
# as the unprivileged test user.
test: setup fixtures
	$(CARGO) test --no-fail-fast -- --test-threads=2

demo: setup release fixtures
	@bash scripts/demo.sh $(BIN) $(FIXTURES)

bench: release fixtures
	@bash scripts/setup.sh --clients
	@bash bench/run.sh $(BIN)

install: release
	install -D -m 0755 $(BIN) $(DESTDIR)$(PREFIX)/bin/minirun
	ln -sf minirun $(DESTDIR)$(PREFIX)/bin/minirun-oci

lint:
	$(CARGO) fmt --check
	$(CARGO) clippy --all-targets -- -D warnings

clean:
	$(CARGO) clean
	rm -rf $(FIXTURES)
