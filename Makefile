# leakproxy -- see README.md.  make | make test | make test-asan | make demo | make bench | make clean
CC      ?= cc
PKGS    := libevent jansson
CFLAGS  ?= -O2 -g
CFLAGS  += -std=gnu11 -Wall -Wextra -Wshadow -Werror -Iinclude -MMD -MP \
           $(shell pkg-config --cflags $(PKGS))
LDLIBS  += $(shell pkg-config --libs $(PKGS)) -lm
ifdef SANITIZER      # make test SANITIZER=address,undefined
CFLAGS  += -fsanitize=$(SANITIZER) -fno-sanitize-recover=all -fno-omit-frame-pointer
LDFLAGS += -fsanitize=$(SANITIZER)
BUILD   := build/san
else
BUILD   := build/rel
endif

SRC     := $(wildcard src/*.c)
DASH    := src/dashboard/index.html src/dashboard/app.js src/dashboard/app.css
OBJ     := $(SRC:src/%.c=$(BUILD)/%.o) $(BUILD)/dashboard_assets.o
LIBOBJ  := $(filter-out $(BUILD)/main.o,$(OBJ))
BIN     := $(if $(SANITIZER),leakproxy-san,leakproxy)
UNITS   := $(patsubst tests/unit/%.c,$(BUILD)/tests/%,$(wildcard tests/unit/test_*.c))

all: $(BIN)

$(BIN): $(OBJ)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/%.o: src/%.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c -o $@ $<

# the dashboard's files, compiled in (no files to install, works offline)
$(BUILD)/dashboard_assets.c: $(DASH) src/dashboard/embed.sh
	@mkdir -p $(dir $@)
	sh src/dashboard/embed.sh $@ $(DASH)

$(BUILD)/dashboard_assets.o: $(BUILD)/dashboard_assets.c
	$(CC) $(CFLAGS) -c -o $@ $<

$(BUILD)/tests/%: tests/unit/%.c $(LIBOBJ)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(shell pkg-config --cflags cmocka) $(LDFLAGS) -o $@ $< $(LIBOBJ) \
	    $(LDLIBS) $(shell pkg-config --libs cmocka) -lm

units: $(UNITS)

# The test command of the README: unit tests, then integration tests against
# the real binary (and the demo apps when their npm dependencies are there).
test: $(BIN) units
	@./tests/run.sh $(BUILD) ./$(BIN)

test-asan:
	$(MAKE) test SANITIZER=address,undefined CC=clang

test-long: $(BIN)    # minutes (docs/hardening.md): a 5-minute soak, 1M distinct paths; ASan: add SANITIZER=address,undefined CC=clang
	bench/soak.sh --duration 300 --interval 30 --bin ./$(BIN) && bench/soak.sh --distinct --bin ./$(BIN)
.PHONY: test-long

demo: leakproxy
	./demo/run.sh

truth:
	node demo/truth.mjs

bench: leakproxy
	./bench/proxy.sh

clean:
	rm -rf build leakproxy leakproxy-san

.PHONY: all units test test-asan demo truth bench clean
-include $(OBJ:.o=.d)
