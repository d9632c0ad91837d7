# parley — plain Makefile. `make` builds build/parley; `make check` runs every
# test twice (plain, then under ASan+UBSan); `make check SANITIZE=1` runs only
# the sanitized pass (CI calls both forms).

PREFIX    ?= /usr/local
BINDIR    ?= $(PREFIX)/bin
DATADIR   ?= $(PREFIX)/share/parley
SYSCONFDIR ?= /etc
UNITDIR   ?= $(PREFIX)/lib/systemd/system
MANDIR    ?= $(PREFIX)/share/man
DESTDIR   ?=

CC        ?= cc
PKGS      := libevent libpq libcjson libcurl openssl
VERSION   := $(shell cat VERSION 2>/dev/null || echo 0.0.0)
# The commit in parley_build_info (src/service/metrics_catalog.c); "unknown"
# outside a git checkout (a release tarball).
COMMIT    := $(shell git rev-parse --short HEAD 2>/dev/null || echo unknown)

WARN      := -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
             -Wformat=2 -Wvla -Wpointer-arith -Wundef -Werror
CSTD      := -std=c11 -D_GNU_SOURCE
OPT       ?= -O2 -g

ifeq ($(SANITIZE),1)
  BUILD   := build/san
  OPT     := -O1 -g -fno-omit-frame-pointer
  SANFLAGS := -fsanitize=address,undefined -fno-sanitize-recover=all
else
  BUILD   := build
  SANFLAGS :=
endif

# `make V=1` shows the full commands.
ifeq ($(V),1)
  Q :=
  say = @true
else
  Q := @
  say = @echo "  $(1)	$(2)"
endif

# Asked when first used, not when the Makefile is read: on a fresh machine the
# modules arrive during the run, from the deps check below, before any compile.
PKG_CONFIG   ?= pkg-config
PKG_CFLAGS  = $(eval PKG_CFLAGS := $(shell $(PKG_CONFIG) --cflags $(PKGS) 2>/dev/null))$(PKG_CFLAGS)
PKG_LIBS    = $(eval PKG_LIBS := $(shell $(PKG_CONFIG) --libs $(PKGS) 2>/dev/null))$(PKG_LIBS)
CMOCKA_LIBS = $(eval CMOCKA_LIBS := $(shell $(PKG_CONFIG) --libs cmocka 2>/dev/null))$(CMOCKA_LIBS)
# What installs missing packages (a test replaces it).
DEPS_INSTALL ?= tests/lib/deps.sh
# Tools the tests and the demo run (Debian puts initdb outside PATH).
TEST_TOOLS := psql curl jq openssl python3

# One folder per subsystem under src/, mirrored by include/ and tests/unit/
# (README "Layout"); every include/ folder is on the include path, so a
# header is included by its name alone.
SUBSYSTEMS := $(patsubst include/%/,%,$(wildcard include/*/))
INCLUDES   := $(addprefix -Iinclude/,$(SUBSYSTEMS))

CFLAGS_ALL  = $(CSTD) $(WARN) $(OPT) $(SANFLAGS) $(INCLUDES) $(PKG_CFLAGS) \
              -DPARLEY_VERSION='"$(VERSION)"' -DPARLEY_DATADIR='"$(DATADIR)"' \
              -MMD -MP $(CFLAGS)
LDFLAGS_ALL = $(SANFLAGS) $(LDFLAGS)

SRCS      := $(wildcard src/*.c src/*/*.c)
LIB_SRCS  := $(filter-out src/main.c,$(SRCS))
# Assembly sources embed files into the binary with .incbin (the widget).
ASM_SRCS  := $(wildcard src/*/*.S)
WIDGET_ASSETS := src/widget/widget.js src/widget/demo.html
LIB_OBJS  := $(LIB_SRCS:src/%.c=$(BUILD)/obj/%.o) $(ASM_SRCS:src/%.S=$(BUILD)/obj/%.o)
UNIT_SRCS := $(wildcard tests/unit/*/test_*.c)
UNIT_BINS := $(addprefix $(BUILD)/tests/,$(basename $(notdir $(UNIT_SRCS))))
# A unit test is found by its name in whichever subsystem folder holds it.
vpath test_%.c $(wildcard tests/unit/*/)
STANDIN_SRCS := $(wildcard tests/standins/*.c)
STANDIN_BINS := $(STANDIN_SRCS:tests/standins/%.c=$(BUILD)/tests/%)
BENCH_SRCS := $(wildcard tests/bench/*.c)
BENCH_BINS := $(BENCH_SRCS:tests/bench/%.c=$(BUILD)/tests/%)

.PHONY: all check check-unit check-integration check-topology unit-bins demo bench bench-scale \
        bench-reply-steps \
        schema fuzz install deb deps format format-check clean

all: $(BUILD)/parley

# Before anything compiles: the pkg-config modules (README, Building). A
# missing one runs `make deps` (DEPS_INSTALL), then must be there. The stamp
# keeps later runs from asking again; every object waits for it.
$(BUILD)/deps.ok:
	@mkdir -p $(@D)
	@missing=$$(for m in $(PKGS); do $(PKG_CONFIG) --exists $$m || printf ' %s' $$m; done); \
	if [ -n "$$missing" ]; then \
	  echo "deps: missing pkg-config module(s):$$missing; running make deps"; \
	  $(DEPS_INSTALL) || { echo "deps: make deps failed: install$$missing's development package(s) and run make again" >&2; exit 1; }; \
	  missing=$$(for m in $(PKGS); do $(PKG_CONFIG) --exists $$m || printf ' %s' $$m; done); \
	  if [ -n "$$missing" ]; then echo "deps: still missing after make deps:$$missing" >&2; exit 1; fi; \
	fi
	@touch $@

# The tests and the demo need cmocka and the tools as well.
$(BUILD)/deps-tests.ok: $(BUILD)/deps.ok
	@missing=$$($(PKG_CONFIG) --exists cmocka || printf ' cmocka'; \
	  for t in $(TEST_TOOLS); do command -v $$t >/dev/null || printf ' %s' $$t; done; \
	  ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || command -v initdb >/dev/null || printf ' initdb'); \
	if [ -n "$$missing" ]; then \
	  echo "deps: missing for the tests:$$missing; running make deps"; \
	  $(DEPS_INSTALL) || { echo "deps: make deps failed; install:$$missing" >&2; exit 1; }; \
	fi
	@touch $@

$(BUILD)/obj/%.o: src/%.c | $(BUILD)/deps.ok
	@mkdir -p $(@D)
	$(call say,CC,$<)
	$(Q)$(CC) $(CFLAGS_ALL) -c $< -o $@

$(BUILD)/obj/%.o: src/%.S | $(BUILD)/deps.ok
	@mkdir -p $(@D)
	$(call say,AS,$<)
	$(Q)$(CC) $(CFLAGS_ALL) -c $< -o $@

# The commit goes into one object only, rebuilt when the commit changes.
$(BUILD)/commit.txt: FORCE
	@mkdir -p $(@D)
	@echo '$(COMMIT)' | cmp -s - $@ 2>/dev/null || echo '$(COMMIT)' > $@
$(BUILD)/obj/service/metrics_catalog.o: $(BUILD)/commit.txt
$(BUILD)/obj/service/metrics_catalog.o: CFLAGS_ALL += -DPARLEY_COMMIT='"$(COMMIT)"'
FORCE:

# .incbin is invisible to -MMD: editing the widget must rebuild its object.
$(BUILD)/obj/webchat/webchat_assets_data.o: $(WIDGET_ASSETS)

$(BUILD)/libparley.a: $(LIB_OBJS)
	@rm -f $@
	$(Q)ar rcs $@ $^

$(BUILD)/parley: $(BUILD)/obj/main.o $(BUILD)/libparley.a
	$(call say,LD,$@)
	$(Q)$(CC) $(LDFLAGS_ALL) -o $@ $^ $(PKG_LIBS)

$(BUILD)/tests/test_%: test_%.c $(BUILD)/libparley.a | $(BUILD)/deps-tests.ok
	@mkdir -p $(@D)
	$(call say,CC,$@)
	$(Q)$(CC) $(CFLAGS_ALL) -o $@ $< $(BUILD)/libparley.a $(LDFLAGS_ALL) $(PKG_LIBS) $(CMOCKA_LIBS)

$(BUILD)/tests/%: tests/standins/%.c $(BUILD)/libparley.a | $(BUILD)/deps-tests.ok
	@mkdir -p $(@D)
	$(call say,CC,$@)
	$(Q)$(CC) $(CFLAGS_ALL) -o $@ $< $(BUILD)/libparley.a $(LDFLAGS_ALL) $(PKG_LIBS)

$(BUILD)/tests/%: tests/bench/%.c $(BUILD)/libparley.a | $(BUILD)/deps-tests.ok
	@mkdir -p $(@D)
	$(call say,CC,$@)
	$(Q)$(CC) $(CFLAGS_ALL) -o $@ $< $(BUILD)/libparley.a $(LDFLAGS_ALL) $(PKG_LIBS)

unit-bins: $(UNIT_BINS) $(STANDIN_BINS)

# Both passes by default; SANITIZE=1 runs only the sanitized one.
ifeq ($(SANITIZE),1)
check: check-unit check-integration
else
check: check-unit check-integration
	$(MAKE) --no-print-directory SANITIZE=1 check
endif

check-unit: $(UNIT_BINS)
	@tests/lib/run-unit.sh $(UNIT_BINS)

check-integration: $(BUILD)/parley $(STANDIN_BINS) | $(BUILD)/deps-tests.ok
	@PARLEY_BIN=$(abspath $(BUILD)/parley) PARLEY_BUILD=$(abspath $(BUILD)) \
	  tests/lib/run-integration.sh

# The topology test (tests/topology/run.sh): primary + synchronous standby,
# PgBouncer, HAProxy, two parley serve, faults under a steady webhook load.
# TOPOLOGY_SECONDS is the load's length (CI runs a short form).
TOPOLOGY_SECONDS ?= 60
check-topology: $(BUILD)/parley $(STANDIN_BINS) | $(BUILD)/deps-tests.ok
	@PARLEY_BIN=$(abspath $(BUILD)/parley) PARLEY_BUILD=$(abspath $(BUILD)) \
	  TOPOLOGY_SECONDS=$(TOPOLOGY_SECONDS) tests/topology/run.sh

demo: $(BUILD)/parley $(STANDIN_BINS) | $(BUILD)/deps-tests.ok
	@PARLEY_BIN=$(abspath $(BUILD)/parley) PARLEY_BUILD=$(abspath $(BUILD)) tests/demo.sh

# libFuzzer targets (clang): every tests/fuzz/fuzz_*.c against all of src/
# but main.c. FUZZ_SECONDS bounds each target's run.
FUZZ_SECONDS ?= 60
FUZZ_SRCS := $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_BINS := $(FUZZ_SRCS:tests/fuzz/%.c=build/fuzz/%)
FUZZ_CFLAGS = $(CSTD) $(WARN) -O1 -g -fsanitize=fuzzer,address,undefined $(INCLUDES) $(PKG_CFLAGS) \
              -DPARLEY_VERSION='"$(VERSION)"' -DPARLEY_DATADIR='"$(DATADIR)"'

build/fuzz/%: tests/fuzz/%.c $(LIB_SRCS) $(ASM_SRCS) $(WIDGET_ASSETS) | $(BUILD)/deps.ok
	@mkdir -p $(@D)
	$(call say,FUZZ,$@)
	$(Q)clang $(FUZZ_CFLAGS) -o $@ $< $(LIB_SRCS) $(ASM_SRCS) $(PKG_LIBS)

fuzz: $(FUZZ_BINS)
	@for f in $(FUZZ_BINS); do \
	  n=$$(basename $$f); mkdir -p build/fuzz/corpus-$$n; \
	  echo "fuzz: $$n for $(FUZZ_SECONDS)s"; \
	  $$f -max_total_time=$(FUZZ_SECONDS) -max_len=65536 build/fuzz/corpus-$$n tests/corpus >build/fuzz/$$n.log 2>&1 \
	    || { tail -50 build/fuzz/$$n.log; exit 1; }; \
	  tail -1 build/fuzz/$$n.log; \
	done

# Benchmarks: start their own PostgreSQL, parley and stand-ins; print figures
# and ratios against a baseline measured in the same run.
bench: $(BUILD)/parley $(STANDIN_BINS) $(BENCH_BINS)
	@PARLEY_BIN=$(abspath $(BUILD)/parley) PARLEY_BUILD=$(abspath $(BUILD)) tests/bench/run.sh
	@PARLEY_BIN=$(abspath $(BUILD)/parley) PARLEY_BUILD=$(abspath $(BUILD)) tests/bench/replies.sh
	@PARLEY_BIN=$(abspath $(BUILD)/parley) PARLEY_BUILD=$(abspath $(BUILD)) tests/bench/reply_steps.sh

# The reply path's write steps alone, against a set-based floor (part of bench).
bench-reply-steps: $(BUILD)/parley
	@PARLEY_BIN=$(abspath $(BUILD)/parley) PARLEY_BUILD=$(abspath $(BUILD)) tests/bench/reply_steps.sh

# Growth: the same measures with full tables (SCALE=0.1 for a tenth; tests/bench/README.md).
bench-scale: $(BUILD)/parley $(STANDIN_BINS) $(BENCH_BINS)
	@PARLEY_BIN=$(abspath $(BUILD)/parley) PARLEY_BUILD=$(abspath $(BUILD)) tests/bench/scale.sh

# sql/schema.sql from a fresh migrate in a throwaway PostgreSQL; run it after
# changing sql/migrations or sql/functions and commit the result.
schema: $(BUILD)/parley
	@PARLEY_BIN=$(abspath $(BUILD)/parley) tests/lib/schema.sh >sql/schema.sql.tmp
	@mv sql/schema.sql.tmp sql/schema.sql
	@echo "sql/schema.sql: $$(wc -l <sql/schema.sql) lines"

deps:
	@tests/lib/deps.sh

# The unit in the tree names /usr/local/bin and /etc; the installed one names
# where this install actually put things.
install: $(BUILD)/parley
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(DATADIR)/migrations $(DESTDIR)$(DATADIR)/functions \
	  $(DESTDIR)$(SYSCONFDIR)/parley $(DESTDIR)$(UNITDIR) \
	  $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(MANDIR)/man5
	install -m 0755 $(BUILD)/parley $(DESTDIR)$(BINDIR)/parley
	install -m 0644 sql/migrations/*.sql $(DESTDIR)$(DATADIR)/migrations/
	install -m 0644 sql/functions/*.sql $(DESTDIR)$(DATADIR)/functions/
	install -m 0644 config/parley.conf.example $(DESTDIR)$(SYSCONFDIR)/parley/parley.conf.example
	sed -e 's|/usr/local/bin/parley|$(BINDIR)/parley|g' -e 's|/etc/parley|$(SYSCONFDIR)/parley|g' \
	  systemd/parley.service >$(DESTDIR)$(UNITDIR)/parley.service
	chmod 0644 $(DESTDIR)$(UNITDIR)/parley.service
	install -m 0644 man/parley.1 $(DESTDIR)$(MANDIR)/man1/parley.1
	install -m 0644 man/parley.conf.5 $(DESTDIR)$(MANDIR)/man5/parley.conf.5

# build/deb/parley_<version>_<arch>.deb (dpkg-deb; packaging/deb/build.sh
# builds its own PREFIX=/usr binary in build/deb and leaves build/ alone).
deb:
	@packaging/deb/build.sh

# Every C file of the tree, formatted by Debian 12's clang-format (14) with
# .clang-format; CI runs format-check, so the config describes the code.
FORMAT_FILES = $(wildcard src/*.c src/*/*.c src/*/*.h include/*/*.h tests/unit/*/*.c tests/unit/*.h \
                 tests/standins/*.c tests/standins/*.h tests/bench/*.c tests/fuzz/*.c)

format:
	clang-format -i $(FORMAT_FILES)

# Lists the files clang-format would change and fails if there are any.
format-check:
	@bad=; for f in $(FORMAT_FILES); do \
		clang-format --dry-run -Werror "$$f" >/dev/null 2>&1 || bad="$$bad $$f"; \
	done; \
	if [ -n "$$bad" ]; then echo "format-check: run 'make format' for:$$bad"; exit 1; fi; \
	echo "format-check: $(words $(FORMAT_FILES)) files formatted"

clean:
	rm -rf build

-include $(LIB_OBJS:.o=.d) $(BUILD)/obj/main.d
