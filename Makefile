# leakproxy -- see README.md.  make | make test | make test-asan | make demo | make deps | make bench |
#                              make check-arch | make install | make uninstall | make clean
#
# Flags. CPPFLAGS, CFLAGS and LDFLAGS are the builder's (environment or
# command line: `make CFLAGS=-O1`, dpkg-buildflags, a distribution's
# defaults) and come last, so they can override ours. What the build needs
# (-Iinclude, -std=gnu11, the pkg-config flags) lives in LP_* and is always
# there, whatever the builder passes.
#   HARDEN=0    no stack protector, _FORTIFY_SOURCE, RELRO/BIND_NOW or PIE
#   WERROR=1    warnings are errors: the default for the developer's and
#               CI's targets (test, test-asan, test-long, units; .ci/run
#               passes it to its first make too), off for a plain `make` or
#               `make install`, so that a packager's newer compiler with new
#               warnings still builds the release
#   SANITIZER=address,undefined   an instrumented ./leakproxy-san in build/san
#   REVISION=abc1234   what leakproxy_build_info says (default: git rev-parse)
CC       ?= cc
PKGS     := libevent jansson
CFLAGS   ?= -O2 -g
HARDEN   ?= 1
WERROR   ?= $(if $(filter test test-suite test-asan test-long units,$(MAKECMDGOALS)),1,0)
PREFIX   ?= /usr/local
BINDIR   ?= $(PREFIX)/bin
MANDIR   ?= $(PREFIX)/share/man
DOCDIR   ?= $(PREFIX)/share/doc/leakproxy
# systemd's system unit directory: /lib/systemd/system under PREFIX=/usr
# (Debian 12), /usr/local/lib/systemd/system for a local install
UNITDIR  ?= $(PREFIX)/lib/systemd/system
INSTALL  ?= install
REVISION ?= $(shell git rev-parse --short HEAD 2>/dev/null || echo unknown)

LP_CPPFLAGS := -Iinclude $(shell pkg-config --cflags $(PKGS))
LP_CFLAGS   := -std=gnu11 -Wall -Wextra -Wshadow -MMD -MP
LP_LDFLAGS  :=
LDLIBS      += $(shell pkg-config --libs $(PKGS)) -lm
ifeq ($(WERROR),1)
LP_CFLAGS   += -Werror
endif
ifeq ($(HARDEN),1)
LP_CFLAGS   += -fstack-protector-strong -fPIE
LP_LDFLAGS  += -pie -Wl,-z,relro,-z,now
# _FORTIFY_SOURCE needs optimisation (glibc warns without it), is left to
# the builder when its flags set it already (dpkg-buildflags does), and is
# not combined with the sanitizers (they intercept the same functions)
ifneq ($(filter-out -O0,$(filter -O%,$(CFLAGS))),)
ifeq ($(findstring _FORTIFY_SOURCE,$(CPPFLAGS) $(CFLAGS))$(SANITIZER),)
LP_CPPFLAGS += -D_FORTIFY_SOURCE=2
endif
endif
endif
ifdef SANITIZER      # make test SANITIZER=address,undefined
LP_CFLAGS   += -fsanitize=$(SANITIZER) -fno-sanitize-recover=all -fno-omit-frame-pointer
LP_LDFLAGS  += -fsanitize=$(SANITIZER)
BUILD   := build/san
else
BUILD   := build/rel
endif
ALL_CFLAGS   = $(LP_CPPFLAGS) $(CPPFLAGS) $(LP_CFLAGS) $(CFLAGS)
ALL_LDFLAGS  = $(LP_LDFLAGS) $(LDFLAGS)

SRC     := $(wildcard src/*.c)
DASH    := src/dashboard/index.html src/dashboard/app.js src/dashboard/app.css
OBJ     := $(SRC:src/%.c=$(BUILD)/%.o) $(BUILD)/dashboard_assets.o
LIBOBJ  := $(filter-out $(BUILD)/main.o,$(OBJ))
BIN     := $(if $(SANITIZER),leakproxy-san,leakproxy)
UNITS   := $(patsubst tests/unit/%.c,$(BUILD)/tests/%,$(wildcard tests/unit/test_*.c))

all: $(BIN)

# Objects are rebuilt when the flags change (`make CFLAGS=-O1` after a
# plain make), not only when sources do: $(BUILD)/flags holds the compile
# command and is rewritten only when it differs. -Werror is left out: it
# changes whether a warning stops the build, not what is built.
FLAGS_NOW := $(CC) $(filter-out -Werror,$(ALL_CFLAGS)) | $(ALL_LDFLAGS) $(LDLIBS)
$(BUILD)/flags: FORCE
	@mkdir -p $(dir $@)
	@[ "$$(cat $@ 2>/dev/null)" = '$(subst ','\'',$(FLAGS_NOW))' ] || echo '$(subst ','\'',$(FLAGS_NOW))' > $@

# The git revision reaches only the files that print it (admin.c's
# /api/status, metrics.c's leakproxy_build_info, main.c's --version), so a
# new commit does not rebuild everything.
$(BUILD)/revision: FORCE
	@mkdir -p $(dir $@)
	@[ "$$(cat $@ 2>/dev/null)" = '$(REVISION)' ] || echo '$(REVISION)' > $@
$(BUILD)/admin.o $(BUILD)/metrics.o $(BUILD)/main.o: $(BUILD)/revision
$(BUILD)/admin.o $(BUILD)/metrics.o $(BUILD)/main.o: LP_CPPFLAGS += -DLEAKPROXY_REVISION='"$(REVISION)"'

$(BIN): $(OBJ)
	$(CC) $(ALL_LDFLAGS) -o $@ $(OBJ) $(LDLIBS)

$(BUILD)/%.o: src/%.c $(BUILD)/flags
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -c -o $@ $<

# the dashboard's files, compiled in (no files to install, works offline)
$(BUILD)/dashboard_assets.c: $(DASH) src/dashboard/embed.sh
	@mkdir -p $(dir $@)
	sh src/dashboard/embed.sh $@ $(DASH)

$(BUILD)/dashboard_assets.o: $(BUILD)/dashboard_assets.c $(BUILD)/flags
	$(CC) $(ALL_CFLAGS) -c -o $@ $<

# Unit tests link against an archive of the modules, so each binary holds
# only the objects its module reaches (the graph is acyclic: make check-arch):
# test_fmt links fmt.o alone, test_route route.o and config_err.o.
$(BUILD)/libleakproxy.a: $(LIBOBJ)
	rm -f $@
	$(AR) rcs $@ $(LIBOBJ)

$(BUILD)/tests/%: tests/unit/%.c $(BUILD)/libleakproxy.a
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(shell pkg-config --cflags cmocka) $(ALL_LDFLAGS) -o $@ $< $(BUILD)/libleakproxy.a \
	    $(LDLIBS) $(shell pkg-config --libs cmocka) -lm

units: $(UNITS)

# What make test and make demo need and is missing: Debian packages (apt-get,
# sudo when not root, a Node.js already installed is kept) and npm ci where
# there is a package-lock.json. tools/deps.sh says what it installs and fails
# with the list to install by hand where it cannot.
deps:
	@tools/deps.sh test

# The test command of the README: installs what is missing, then (in a new
# make, which reads pkg-config's flags once the libraries are there) unit
# tests, fuzz corpora, integration tests against the real binary, contrib
# checks, the dashboard in headless Chromium, the demo apps through the proxy.
test:
	@tools/deps.sh test
	@$(MAKE) --no-print-directory test-suite

test-suite: $(BIN) units check-arch
	@./tests/run.sh $(BUILD) ./$(BIN)

test-asan:
	$(MAKE) test SANITIZER=address,undefined CC=clang

test-long: $(BIN)    # minutes: the full-speed guard cases, a 5-minute soak, 1M distinct paths; ASan: add SANITIZER=address,undefined CC=clang
	LEAKPROXY_IT_LONG=1 LEAKPROXY_BIN=./$(BIN) node tests/integration/run.mjs t_guard_fast t_bisect \
	    --test-name-pattern 'guard at full speed|bisect: full speed.*(no forced GC|without designed rows)'
	bench/soak.sh --duration 300 --interval 30 --bin ./$(BIN) && bench/soak.sh --distinct --bin ./$(BIN)
.PHONY: test-long

demo:
	@tools/deps.sh demo
	@$(MAKE) --no-print-directory leakproxy
	./demo/run.sh

truth:
	node demo/truth.mjs

bench: leakproxy
	./bench/proxy.sh

# make install [PREFIX=/usr/local] [DESTDIR=...]: the binary, the man page,
# the example configs (in $(DOCDIR): copy one to /etc/leakproxy/leakproxy.json,
# the path the unit reads; nothing is written to /etc) and the systemd unit,
# its paths rewritten to $(BINDIR). The dashboard is compiled in.
install: leakproxy
	$(INSTALL) -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(DOCDIR) $(DESTDIR)$(UNITDIR)
	$(INSTALL) -m 0755 leakproxy $(DESTDIR)$(BINDIR)/leakproxy
	$(INSTALL) -m 0644 docs/leakproxy.1 $(DESTDIR)$(MANDIR)/man1/leakproxy.1
	$(INSTALL) -m 0644 conf/leakproxy.example.json $(DESTDIR)$(DOCDIR)/leakproxy.example.json
	$(INSTALL) -m 0644 README.md LICENSE $(DESTDIR)$(DOCDIR)/
	sed 's|/usr/local/bin/leakproxy|$(BINDIR)/leakproxy|g' contrib/systemd/leakproxy.service \
	    > $(DESTDIR)$(UNITDIR)/leakproxy.service
	chmod 0644 $(DESTDIR)$(UNITDIR)/leakproxy.service

uninstall:
	rm -f $(DESTDIR)$(BINDIR)/leakproxy $(DESTDIR)$(MANDIR)/man1/leakproxy.1 \
	      $(DESTDIR)$(DOCDIR)/leakproxy.example.json $(DESTDIR)$(DOCDIR)/README.md \
	      $(DESTDIR)$(DOCDIR)/LICENSE $(DESTDIR)$(UNITDIR)/leakproxy.service
	-rmdir $(DESTDIR)$(DOCDIR) 2>/dev/null

clean:
	rm -rf build leakproxy leakproxy-san

FORCE:
# The module graph from the object files (who uses whose symbols): fails on
# a cycle, or on a call docs/architecture.md's module table does not list.
check-arch: $(OBJ)
	@tools/archgraph.sh --check docs/architecture.md $(BUILD)
	@echo "check-arch: no cycle; every call is in docs/architecture.md's table"

.PHONY: all units deps test check-arch test-suite test-asan demo truth bench install uninstall clean FORCE
-include $(OBJ:.o=.d)
