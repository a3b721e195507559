# ivs-syncd - see README.md. `make run` and `make test` are all a newcomer types.
VERSION   := 0.1.0
PREFIX    ?= /usr/local
DESTDIR   ?=
BUILD     ?= build
CC        ?= cc
PKGS      := libevent libevent_openssl libcurl openssl json-c libpq
PYTHON    ?= /usr/bin/python3
TESTDATA  ?= $(CURDIR)/tests/fixtures

PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null)
GIT_REV    ?= $(shell git rev-parse --short HEAD 2>/dev/null || echo unknown)

OPT     ?= -O2 -g
SAN     ?=
override CFLAGS += $(OPT) $(SAN) -std=gnu11 -Wall -Wextra -Werror -Wshadow -Wformat=2 -Wno-format-nonliteral \
           -D_GNU_SOURCE -Iinclude $(PKG_CFLAGS) \
           -DIVS_VERSION='"$(VERSION)"' -DIVS_GIT_REV='"$(GIT_REV)"' -MMD -MP
override LDFLAGS += $(SAN)
LDLIBS  += $(PKG_LIBS) -lm

SRCS      := $(sort $(wildcard src/*.c))
OBJS      := $(SRCS:src/%.c=$(BUILD)/obj/%.o)
LIB_OBJS  := $(filter-out $(BUILD)/obj/main.o,$(OBJS))
TEST_SRCS := $(sort $(wildcard tests/unit/test_*.c))
TEST_BINS := $(TEST_SRCS:tests/unit/%.c=$(BUILD)/%)
BIN       := $(BUILD)/ivs-syncd

.PHONY: all deps test unit integration asan lint format format-check install clean run \
        bench-ingest bench-reconcile bench-storm fuzz valgrind test-faults soak bench-push

all: $(BIN)

deps:
	@sh infra/setup-debian.sh

$(BUILD)/obj/%.o: src/%.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c $< -o $@

$(BUILD)/obj/tests/%.o: tests/unit/%.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Itests/unit -c $< -o $@

$(BUILD)/libivs.a: $(LIB_OBJS)
	@rm -f $@
	ar rcs $@ $^

$(BIN): $(BUILD)/obj/main.o $(BUILD)/libivs.a
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/test_%: $(BUILD)/obj/tests/test_%.o $(BUILD)/obj/tests/t_util.o $(BUILD)/libivs.a
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(LDLIBS)

# Unit tests, then integration tests (real PostgreSQL, the real binary, a fake IVS).
test: deps
	@$(MAKE) --no-print-directory all $(TEST_BINS)
	@$(MAKE) --no-print-directory unit integration

unit: $(TEST_BINS)
	@$(PYTHON) tests/run_unit.py $(TEST_BINS) -- "$(TESTDATA)"

integration: $(BIN)
	@IVS_SYNCD_BIN=$(abspath $(BIN)) IVS_TESTDATA="$(TESTDATA)" \
	  $(PYTHON) -m pytest -q -p no:cacheprovider tests/integration $(PYTEST_ARGS)

# The whole suite under AddressSanitizer + UBSan (separate build dir).
asan: deps
	@IVS_ASAN=1 $(MAKE) --no-print-directory BUILD=build-asan OPT="-O1 -g -fno-omit-frame-pointer" \
	  SAN="-fsanitize=address,undefined -fno-sanitize-recover=undefined" test

lint:
	@clang-format --dry-run --Werror src/*.c include/*.h tests/unit/*.c tests/unit/*.h
	@cppcheck --quiet --error-exitcode=1 --enable=warning,performance,portability \
	  --inline-suppr --std=c11 -D__GNUC__ -Iinclude --suppress=missingIncludeSystem src tests/unit
	@sh tests/checksrc.sh
	@echo "lint: clean"

format:
	clang-format -i src/*.c include/*.h tests/unit/*.c tests/unit/*.h

install: $(BIN)
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/share/ivs-syncd/sql \
	  $(DESTDIR)$(PREFIX)/share/man/man8 $(DESTDIR)$(PREFIX)/lib/systemd/system
	install -m 0755 $(BIN) $(DESTDIR)$(PREFIX)/bin/ivs-syncd
	install -m 0644 infra/sql/*.sql $(DESTDIR)$(PREFIX)/share/ivs-syncd/sql/
	if [ -f doc/ivs-syncd.8 ]; then install -m 0644 doc/ivs-syncd.8 $(DESTDIR)$(PREFIX)/share/man/man8/; fi
	install -d $(DESTDIR)$(PREFIX)/lib/sysusers.d
	install -m 0644 infra/systemd/ivs-syncd.sysusers $(DESTDIR)$(PREFIX)/lib/sysusers.d/ivs-syncd.conf
	if [ -f infra/systemd/ivs-syncd.service ]; then \
	  sed 's|/usr/local/bin/ivs-syncd|$(PREFIX)/bin/ivs-syncd|g' infra/systemd/ivs-syncd.service \
	    > $(DESTDIR)$(PREFIX)/lib/systemd/system/ivs-syncd.service; fi

# Start a project-local PostgreSQL under ./var and ivs-syncd on 127.0.0.1:8080.
run: deps
	@$(MAKE) --no-print-directory all
	@sh infra/run-local.sh $(abspath $(BIN))

clean:
	rm -rf build build-asan

-include $(OBJS:.o=.d) $(wildcard $(BUILD)/obj/tests/*.d)
-include tests/fuzz/fuzz.mk

# Ingest benchmark (tests/bench/README.md): throwaway PostgreSQL + ivs-syncd + load generator.
$(BUILD)/ingest_load: tests/bench/ingest_load.c
	@mkdir -p $(dir $@)
	$(CC) -O2 -g -std=gnu11 -Wall -Wextra -Werror $(PKG_CFLAGS) -o $@ $< $(PKG_LIBS)

bench-ingest: $(BIN) $(BUILD)/ingest_load
	@$(PYTHON) tests/bench/ingest_batch_check.py --bin $(abspath $(BIN)) --seeds 8
	@$(PYTHON) tests/bench/ingest.py --bin $(abspath $(BIN)) --load $(abspath $(BUILD)/ingest_load) $(BENCH_ARGS)

# Issue 7: long fault runs, a bounded soak, and a representative subset under valgrind.
SOAK_SECONDS ?= 600
VALGRIND_TESTS ?= \
  tests/integration/test_events.py::test_start_then_end_over_sns \
  tests/integration/test_events.py::test_sns_rejections \
  tests/integration/test_events.py::test_eventbridge_validation \
  tests/integration/test_events.py::test_concurrent_duplicates_apply_once \
  tests/integration/test_hostile.py::test_malformed_http \
  tests/integration/test_hostile.py::test_oversized_headers_and_bodies \
  tests/integration/test_hostile.py::test_jwt_brute_force \
  tests/integration/test_faults.py::test_pg_slow_bounded_queue_503_then_recovery \
  tests/integration/test_faults.py::test_cert_host_unreachable_is_503_then_redelivery_applies \
  tests/integration/test_faults.py::test_ivs_faults_reconcile_once \
  tests/integration/test_faults.py::test_sigterm_during_load

test-faults: $(BIN)
	@IVS_SYNCD_BIN=$(abspath $(BIN)) IVS_TESTDATA="$(TESTDATA)" \
	  $(PYTHON) -m pytest -q -p no:cacheprovider -s tests/faults $(PYTEST_ARGS)

soak: $(BIN)
	@IVS_SYNCD_BIN=$(abspath $(BIN)) $(PYTHON) tests/faults/soak.py $(SOAK_SECONDS)

valgrind: $(BIN)
	@IVS_SYNCD_BIN=$(abspath tests/faults/valgrind-wrap.sh) IVS_SYNCD_REAL_BIN=$(abspath $(BIN)) \
	  IVS_VALGRIND=1 IVS_TESTDATA="$(TESTDATA)" \
	  $(PYTHON) -m pytest -q -p no:cacheprovider $(VALGRIND_TESTS) $(PYTEST_ARGS)

# Reconcile pass and polling-storm benchmarks (tests/bench/README.md).
bench-reconcile: $(BIN)
	@IVS_SYNCD_BIN=$(abspath $(BIN)) $(PYTHON) tests/bench/reconcile.py $(BENCH_ARGS)

bench-storm: $(BIN)
	@IVS_SYNCD_BIN=$(abspath $(BIN)) $(PYTHON) tests/bench/storm.py $(BENCH_ARGS)

# Container image (README "Container image"); neither target is part of `make test`.
# `make image` builds infra/container/Containerfile with podman from a local Debian 12
# base (mmdebstrap), tagged $(IMAGE):$(GIT_REV) and :latest; `make image-test` runs
# that image's ivs-syncd under chroot against a throwaway PostgreSQL. Both need root.
IMAGE ?= localhost/ivs-syncd

.PHONY: image image-test
image:
	@GIT_REV="$(GIT_REV)" IMAGE="$(IMAGE)" sh infra/container/build-image.sh

image-test: image
	@$(PYTHON) tests/image/image_test.py --image "$(IMAGE):$(GIT_REV)" --rev "$(GIT_REV)"

# Live push benchmark (issue 16; tests/bench/README.md): 2,000 and 10,000 event-stream
# subscribers on one replica, 50 changes. Not part of `make test`.
$(BUILD)/push_load: tests/bench/push_load.c
	@mkdir -p $(dir $@)
	$(CC) -O2 -g -std=gnu11 -Wall -Wextra -Werror -D_GNU_SOURCE -o $@ $<

bench-push: $(BIN) $(BUILD)/push_load
	@$(PYTHON) tests/bench/push.py --bin $(abspath $(BIN)) --load $(abspath $(BUILD)/push_load) $(BENCH_ARGS)
