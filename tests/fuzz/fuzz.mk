# libFuzzer targets for the parsers (issue 7). Included at the end of the Makefile.
#
#   make fuzz                    build every target and run each for FUZZ_SECONDS (default 60)
#   make fuzz FUZZ_SECONDS=600   longer
#   make fuzz FUZZ_TARGETS=jwt   only some targets
#   make fuzz-smoke              ~5 s per target (CI); non-zero exit only on a finding
#   make fuzz-build              just build build/fuzz/fuzz_<target>
#
# Working corpora: tests/fuzz/corpus-<target>/ (gitignored); committed seeds:
# tests/fuzz/seeds/<target>/ (+ $(TESTDATA) where relevant); crashes, leaks
# and timeouts: build/fuzz/artifacts/<target>/; logs: build/fuzz/logs/.
# Reproduce a finding: build/fuzz/fuzz_<target> build/fuzz/artifacts/<target>/crash-...

FUZZ_CC       ?= clang
FUZZ_BUILD    ?= build/fuzz
FUZZ_SECONDS  ?= 60
FUZZ_SMOKE_SECONDS ?= 5
FUZZ_MAX_LEN  ?= 16384
FUZZ_RSS_MB   ?= 2048
FUZZ_TIMEOUT  ?= 25
FUZZ_ARGS     ?=
FUZZ_ALL      := sns sns_cert event jwt ivs config
FUZZ_TARGETS  ?= $(FUZZ_ALL)

FUZZ_SAN    := -fsanitize=address,undefined -fno-sanitize-recover=undefined
FUZZ_CFLAGS := -g -O1 -fno-omit-frame-pointer $(FUZZ_SAN) -std=gnu11 -Wall -Wextra -Werror \
               -Wshadow -Wformat=2 -Wno-format-nonliteral -D_GNU_SOURCE -Iinclude $(PKG_CFLAGS) \
               -DIVS_VERSION='"$(VERSION)"' -DIVS_GIT_REV='"$(GIT_REV)"' -MMD -MP

# src/*.c each target links (never main.c)
FUZZ_SRC_sns      := sns jsonx arn b64 errbuf iso8601
FUZZ_SRC_sns_cert := sns jsonx arn b64 errbuf iso8601
FUZZ_SRC_event    := ivsevent arn jsonx errbuf iso8601
FUZZ_SRC_jwt      := jwt jsonx b64 errbuf
FUZZ_SRC_ivs      := ivs_proto arn aws_creds aws_fetch aws_profile errbuf iso8601 jsonx clock config secret_file cidr http_client log metrics ratelimit
FUZZ_SRC_config   := config secret_file cidr log arn errbuf

# extra seed directories from the test fixtures
FUZZ_TD_sns       := $(wildcard $(TESTDATA)/sns-real)
FUZZ_TD_sns_cert  := $(wildcard $(TESTDATA)/sns-real)
FUZZ_TD_event     := $(wildcard $(TESTDATA)/ivs-events)

FUZZ_BINS := $(FUZZ_ALL:%=$(FUZZ_BUILD)/fuzz_%)
FUZZ_OBJS := $(sort $(foreach t,$(FUZZ_ALL),$(FUZZ_BUILD)/obj/fuzz_$(t).o \
               $(patsubst %,$(FUZZ_BUILD)/obj/%.o,$(FUZZ_SRC_$(t)))))
# keep the objects (pattern-built intermediates) for incremental rebuilds
.SECONDARY: $(FUZZ_OBJS)

.PHONY: fuzz fuzz-smoke fuzz-build

$(FUZZ_BUILD)/obj/%.o: src/%.c
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -c $< -o $@

$(FUZZ_BUILD)/obj/fuzz_%.o: tests/fuzz/fuzz_%.c
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -c $< -o $@

fuzz_objs = $(patsubst %,$(FUZZ_BUILD)/obj/%.o,$(FUZZ_SRC_$(1)))

# one explicit link rule per target (no .SECONDEXPANSION: this file is included mid-Makefile)
define fuzz_link
$(FUZZ_BUILD)/fuzz_$(1): $(FUZZ_BUILD)/obj/fuzz_$(1).o $(call fuzz_objs,$(1))
	$$(FUZZ_CC) $$(FUZZ_SAN) -fsanitize=fuzzer -o $$@ $$^ $$(PKG_LIBS) -lm
endef
$(foreach t,$(FUZZ_ALL),$(eval $(call fuzz_link,$(t))))

fuzz-build: $(FUZZ_TARGETS:%=$(FUZZ_BUILD)/fuzz_%)

# shell text: run each of FUZZ_TARGETS for $(1) seconds in mode $(2) (run|smoke)
fuzz_run_all = rc=0; for t in $(FUZZ_TARGETS); do \
	  case "$$t" in \
	    sns) td="$(FUZZ_TD_sns)";; sns_cert) td="$(FUZZ_TD_sns_cert)";; \
	    event) td="$(FUZZ_TD_event)";; *) td="";; esac; \
	  FUZZ_MAX_LEN=$(FUZZ_MAX_LEN) FUZZ_RSS_MB=$(FUZZ_RSS_MB) FUZZ_TIMEOUT=$(FUZZ_TIMEOUT) \
	  FUZZ_ARGS="$(FUZZ_ARGS)" FUZZ_BUILD=$(FUZZ_BUILD) \
	    sh tests/fuzz/run.sh $(2) "$$t" $(1) $$td || rc=1; \
	done; \
	if [ $$rc -ne 0 ]; then echo "fuzz: FINDINGS (see $(FUZZ_BUILD)/artifacts and $(FUZZ_BUILD)/logs)"; \
	else echo "fuzz: no findings"; fi; exit $$rc

fuzz: fuzz-build
	@$(call fuzz_run_all,$(FUZZ_SECONDS),run)

# Skips (exit 0, with a message) only when the compiler cannot build a libFuzzer binary at all.
fuzz-smoke:
	@if ! FUZZ_BUILD=$(FUZZ_BUILD) sh tests/fuzz/run.sh probe "$(FUZZ_CC)"; then \
	  echo "fuzz-smoke: SKIPPED: $(FUZZ_CC) cannot build libFuzzer+ASan binaries (clang, libclang-rt-dev)"; \
	  exit 0; fi; \
	$(MAKE) --no-print-directory fuzz-build || exit 1; \
	$(call fuzz_run_all,$(FUZZ_SMOKE_SECONDS),smoke)

-include $(wildcard $(FUZZ_BUILD)/obj/*.d)
