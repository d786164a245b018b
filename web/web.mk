# web/web.mk - the web UI: web/static/ is embedded into the binary as
# build/gen/web_assets.c (made by web/gen_assets.c, a host tool), compiled
# for both flavours; plus the browser tests. Included by the Makefile before
# its link rules, so the object lists below reach both binaries.

WEB_ROOT  := web/static
# The file list is rewritten only when it changes, so adding or deleting a
# file regenerates the assets (an edit does too: every file is a prerequisite).
WEB_LIST  := build/gen/web_files.txt
WEB_FILES := $(shell find $(WEB_ROOT) -type f ! -name '.*' 2>/dev/null | LC_ALL=C sort)
$(shell mkdir -p build/gen && printf '%s\n' $(WEB_FILES) > $(WEB_LIST).new && \
    (cmp -s $(WEB_LIST).new $(WEB_LIST) && rm -f $(WEB_LIST).new || mv $(WEB_LIST).new $(WEB_LIST)))

HOST_CC ?= cc
build/web/gen_assets: web/gen_assets.c
	@mkdir -p $(dir $@)
	$(HOST_CC) -std=c17 -O1 -Wall -Wextra -Werror -o $@ $<

build/gen/web_assets.c: build/web/gen_assets $(WEB_FILES) $(WEB_LIST)
	build/web/gen_assets $@ $(WEB_ROOT) $(WEB_FILES)

# The generated file lives under build/, so the flavour pattern rules
# (build/<flavour>/%.o: %.c) cannot find it: one explicit rule per flavour.
build/rel/gen/web_assets.o: build/gen/web_assets.c server/web.h
	@mkdir -p $(dir $@)
	$(CC) $(WARN) $(INC) $(PKG_CFLAGS) $(REL_FLAGS) -c $< -o $@

build/asan/gen/web_assets.o: build/gen/web_assets.c server/web.h
	@mkdir -p $(dir $@)
	$(CC) $(WARN) $(INC) $(PKG_CFLAGS) $(ASAN_FLAGS) -c $< -o $@

REL_OBJS  += build/rel/gen/web_assets.o
ASAN_OBJS += build/asan/gen/web_assets.o

# Browser tests: the real server (sanitizer build, like tests/integration)
# with data logged by the real mlflow client, driven by playwright-core with
# Debian's Chromium; the 100,000-run test loads its runs straight into the
# SQLite file (tests/e2e/bigdata.py says why). Screenshots:
# build/test-output/e2e/. About 3 minutes.
E2E_NODE_MODULES := tests/e2e/node_modules/playwright-core
$(E2E_NODE_MODULES): tests/e2e/package-lock.json
	scripts/bootstrap-web

.PHONY: test-e2e
test-e2e: build/asan/capstan $(PYTEST) $(E2E_NODE_MODULES)
	CAPSTAN_BIN=$(CURDIR)/build/asan/capstan $(PYTEST) -q tests/e2e
TEST_TARGETS += test-e2e
