# churnwatch — the README's two commands and their helpers. CMake does the
# building; this file only sequences it.
#   make demo   install what is missing, build, simulate a world, ingest it, show it
#   make soak   the soak test: 60 simulated days under load (about 10 minutes)
#   make install  build, then install (PREFIX=/usr/local, DESTDIR=staging folder)
#   make test   install what is missing, then every test: unit + CLI + end-to-end
#               (release and ASan/UBSan builds), valgrind, style check, short fuzz run
#   make golden rewrite the CLI cases' expected outputs (tests/cli/golden/)

BUILD      ?= build
ASAN_BUILD ?= build-asan
FUZZ_BUILD ?= build-fuzz
JOBS       ?= $(shell nproc 2>/dev/null || echo 2)
DB         ?= churnwatch.db
DEMO_DIR   ?= demo-world
FUZZ_SECONDS ?= 20

.PHONY: all deps build install demo test test-release test-asan test-valgrind style fuzz bench soak clean golden

all: build

deps:
	@scripts/install-deps.sh

build: deps
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCW_WERROR=ON >/dev/null
	cmake --build $(BUILD) -j $(JOBS)

# make install [PREFIX=/usr/local] [DESTDIR=/staging]: CMake's install
# (docs/operations.md) from the same build tree.
PREFIX ?= /usr/local
install: build
	cmake -S . -B $(BUILD) -DCMAKE_INSTALL_PREFIX=$(PREFIX) >/dev/null
	cmake --build $(BUILD) -j $(JOBS)
	DESTDIR=$(DESTDIR) cmake --install $(BUILD)

demo: build
	rm -rf $(DEMO_DIR) $(DB) $(DB)-wal $(DB)-shm
	$(BUILD)/churnwatch simulate --accounts 500 --months 12 --seed 42 --out $(DEMO_DIR)
	$(BUILD)/churnwatch init --db $(DB)
	$(BUILD)/churnwatch ingest --db $(DB) $(DEMO_DIR)/*.csv
	$(BUILD)/churnwatch status --db $(DB)
	$(BUILD)/churnwatch metrics --db $(DB) --from 2025-01-06 --to 2025-12-01 --every 7d
	$(BUILD)/churnwatch metrics --db $(DB) --no-compute --account A000002
	$(BUILD)/churnwatch report revenue --db $(DB) --by quarter --from 2025-01
	$(BUILD)/churnwatch score --db $(DB) --limit 10
	$(BUILD)/churnwatch train --db $(DB) --activate --kind logreg
# Exception management: the rules, then the daily job on the last four
# weekly days (snapshot with its user rows, score, evaluate). The first three are a
# backfill (docs/alerts.md#backfill): the customer base's existing problems
# open as alerts without messaging anyone; the last day acts on what is new.
	$(BUILD)/churnwatch rules list
	for d in 2025-12-08 2025-12-15 2025-12-22; do \
	  $(BUILD)/churnwatch run --db $(DB) --as-of $$d --deliver no --backfill || exit 1; done
	$(BUILD)/churnwatch run --db $(DB) --as-of 2025-12-29 --deliver no
	$(BUILD)/churnwatch predict --db $(DB) --top 5
	$(BUILD)/churnwatch alerts list --db $(DB) --opened-since 2025-12-29 | head -n 25
# …and the first of the messages of the last day it would send (nothing is
# sent: no mail server or webhook is configured in the demo).
	$(BUILD)/churnwatch deliver --db $(DB) --dry-run --limit 8

test: deps
	@scripts/run-tests.sh

# Rewrite the CLI cases' golden files (tests/cli/golden/) from this build's
# output; review `git diff tests/cli/golden` before committing (docs/testing.md).
golden: build
	tests/cli.sh --update $(BUILD)/churnwatch tests/cli/cases.txt .

test-release: build
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS)

test-asan: deps
	cmake -S . -B $(ASAN_BUILD) -DCMAKE_BUILD_TYPE=Debug -DCW_SANITIZE=ON -DCW_WERROR=ON >/dev/null
	cmake --build $(ASAN_BUILD) -j $(JOBS)
	cd $(ASAN_BUILD) && ctest --output-on-failure -j $(JOBS)

style:
	@scripts/check-style.sh

fuzz: deps
	@FUZZ_SECONDS=$(FUZZ_SECONDS) scripts/run-fuzz.sh $(FUZZ_BUILD)

bench: build
	bench/ingest.sh

clean:
	rm -rf $(BUILD) build-pg $(ASAN_BUILD) $(FUZZ_BUILD) $(DEMO_DIR) $(DB) $(DB)-wal $(DB)-shm

# Soak test (tests/soak.sh, about 10 minutes; not part of `make test`):
# 60 simulated days of run + deliver against a flaky receiver while serve is
# under wrk load, a slow-client attacker and a /healthz prober. SOAK_* variables
# in the environment tune it (SOAK_DAYS, SOAK_DAY_SECONDS, SOAK_SLOW_CONNS, ...).
soak: build
	tests/soak.sh $(BUILD)/churnwatch tests
