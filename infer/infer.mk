# infer.mk - build fragment for libcapstan-infer (included by the top-level
# Makefile). The library depends on libc and libm only. Release objects get
# their own rule (shortest-stem pattern wins) for -O3 and -fPIC so the same
# objects make the static and the shared library; ASan objects reuse the
# Makefile's build/asan/%.o rule.

INFER_SRCS     := $(wildcard infer/*.c)
INFER_REL_OBJS := $(INFER_SRCS:%.c=build/rel/%.o)
INFER_ASAN_OBJS := $(INFER_SRCS:%.c=build/asan/%.o)
INFER_LIB_REL  := build/rel/libcapstan-infer.a
INFER_LIB_ASAN := build/asan/libcapstan-infer.a
INFER_SO       := build/rel/libcapstan-infer.so
# The version is written once, in the public header.
INFER_VERSION  := $(shell sed -n 's/^\#define INFER_VERSION "\(.*\)"/\1/p' include/capstan/infer.h)
INFER_SOMAJOR  := $(firstword $(subst ., ,$(INFER_VERSION)))
# defined before any rule names it: prerequisites expand when make reads them
INFER_PREDICT  := build/rel/tests/infer/predict
INFER_CFLAGS   := -O3 -g -fPIC -fno-trapping-math -fvisibility=hidden
# the matrix kernels may fuse multiply-adds (ISO C mode turns that off)
build/rel/infer/gemm.o: INFER_CFLAGS += -ffp-contract=fast
# Optional OpenBLAS for large Gemm/MatMul (release objects only; off by
# default, the library builds and passes without it):
#   make INFER_BLAS=openblas infer test-infer bench-infer
# A stamp file holding the setting makes gemm.o rebuild when it changes.
# Whatever links the release library then needs $(INFER_BLAS_LIBS), which
# is added to PKG_LIBS for the binaries here.
INFER_BLAS ?=
INFER_BLAS_STAMP := build/rel/infer/blas-stamp
$(shell mkdir -p build/rel/infer && (echo '$(INFER_BLAS)' | cmp -s - $(INFER_BLAS_STAMP) || echo '$(INFER_BLAS)' > $(INFER_BLAS_STAMP)))
build/rel/infer/gemm.o: $(INFER_BLAS_STAMP)
ifeq ($(INFER_BLAS),openblas)
INFER_BLAS_CFLAGS := -DCAP_INFER_OPENBLAS $(shell pkg-config --cflags openblas)
INFER_BLAS_LIBS   := $(shell pkg-config --libs openblas)
ifeq ($(INFER_BLAS_LIBS),)
$(error INFER_BLAS=openblas: pkg-config cannot find openblas (Debian: libopenblas-dev))
endif
build/rel/infer/gemm.o: INFER_CFLAGS += $(INFER_BLAS_CFLAGS)
PKG_LIBS += $(INFER_BLAS_LIBS)
else ifneq ($(INFER_BLAS),)
$(error INFER_BLAS must be empty or openblas)
endif
TEST_TARGETS   += test-infer
FUZZ_TARGETS   += infer_load

.PHONY: test-infer test-infer-unit test-infer-symbols test-infer-py test-infer-py-asan install-infer bench-infer infer fuzz-infer

infer: $(INFER_LIB_REL) $(INFER_SO)

build/rel/infer/%.o: infer/%.c
	@mkdir -p $(dir $@)
	$(CC) $(WARN) $(INC) $(INFER_CFLAGS) -MMD -MP -c $< -o $@

$(INFER_LIB_REL): $(INFER_REL_OBJS)
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^

$(INFER_LIB_ASAN): $(INFER_ASAN_OBJS)
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^

$(INFER_SO): $(INFER_REL_OBJS)
	$(CC) -shared -Wl,-soname,libcapstan-infer.so.$(INFER_SOMAJOR) -o $@ $^ $(INFER_BLAS_LIBS) -lm

# C unit tests (cmocka) under ASan/UBSan
INFER_UNIT_SRCS := $(wildcard tests/infer/test_*.c)
INFER_UNIT_BINS := $(INFER_UNIT_SRCS:tests/infer/%.c=build/asan/tests/infer/%)

build/asan/tests/infer/%: tests/infer/%.c $(INFER_LIB_ASAN)
	@mkdir -p $(dir $@)
	$(CC) $(WARN) $(INC) $(ASAN_FLAGS) -o $@ $< $(INFER_LIB_ASAN) -lcmocka -lpthread -lm

test-infer-unit: $(INFER_UNIT_BINS)
	@sh tests/unit/run.sh $(INFER_UNIT_BINS)

# Python tests drive the release shared library through ctypes
test-infer-py: $(INFER_SO) $(INFER_PREDICT) $(PYTEST)
	CAPSTAN_INFER_LIB=$(CURDIR)/$(INFER_SO) CAPSTAN_PREDICT=$(CURDIR)/$(INFER_PREDICT) $(PYTEST) -q tests/infer

# the exported symbols are the header's functions, and nothing else leaks
test-infer-symbols: $(INFER_SO) $(INFER_LIB_REL)
	@sh tests/infer/check_symbols.sh $(INFER_SO) $(INFER_LIB_REL)

test-infer: test-infer-unit test-infer-symbols test-infer-py

# benchmark harness (not part of make test)
build/rel/bench/infer/bench_infer: bench/infer/bench_infer.c $(INFER_LIB_REL)
	@mkdir -p $(dir $@)
	$(CC) $(WARN) $(INC) -O2 -g -o $@ $< $(INFER_LIB_REL) $(INFER_BLAS_LIBS) -lm

bench-infer: build/rel/bench/infer/bench_infer build/rel/capstan $(PYTEST)
	$(PYTHON_VENV)/bin/python bench/infer/bench.py --harness build/rel/bench/infer/bench_infer $(BENCH_ARGS)

install-infer: $(INFER_LIB_REL) $(INFER_SO)
	install -D -m 644 $(INFER_LIB_REL) $(DESTDIR)$(PREFIX)/lib/libcapstan-infer.a
	install -D -m 755 $(INFER_SO) $(DESTDIR)$(PREFIX)/lib/libcapstan-infer.so.$(INFER_VERSION)
	ln -sf libcapstan-infer.so.$(INFER_VERSION) $(DESTDIR)$(PREFIX)/lib/libcapstan-infer.so.$(INFER_SOMAJOR)
	ln -sf libcapstan-infer.so.$(INFER_SOMAJOR) $(DESTDIR)$(PREFIX)/lib/libcapstan-infer.so
	install -D -m 644 include/capstan/infer.h $(DESTDIR)$(PREFIX)/include/capstan/infer.h
	@mkdir -p $(DESTDIR)$(PREFIX)/lib/pkgconfig
	printf 'prefix=%s\nlibdir=$${prefix}/lib\nincludedir=$${prefix}/include\n\nName: capstan-infer\nDescription: Embeddable ONNX classic-ML inference runtime\nVersion: $(INFER_VERSION)\nLibs: -L$${libdir} -lcapstan-infer\nLibs.private: $(INFER_BLAS_LIBS) -lm\nCflags: -I$${includedir}\n' \
	    '$(PREFIX)' > $(DESTDIR)$(PREFIX)/lib/pkgconfig/capstan-infer.pc

# Coverage-guided fuzzing of the loader with clang's libFuzzer:
#   make fuzz-infer FUZZ_SECONDS=60
fuzz-infer:
	@mkdir -p build/fuzz/corpus-infer_load
	clang -std=c17 -D_GNU_SOURCE -g -O1 -fsanitize=fuzzer,address,undefined $(INC) \
	    -o build/fuzz/infer_load_fuzz tests/fuzz/infer_load_fuzz.c $(INFER_SRCS) -lm
	build/fuzz/infer_load_fuzz -max_total_time=$(FUZZ_SECONDS) -rss_limit_mb=2048 \
	    build/fuzz/corpus-infer_load tests/fuzz/corpus/infer_load

# `capstan predict` as its own binary for tests/infer/test_predict.py
# (cli.o needs only the core modules and cmd_predict.o the payload module,
# which reads the cells, so a broken server module elsewhere does not stop
# these tests)
INFER_PREDICT_OBJS := build/rel/cli/cmd_predict.o build/rel/cli/cli.o \
    $(patsubst %.c,build/rel/%.o,$(filter-out cli/main.c,$(wildcard $(addsuffix /*.c,$(CORE_MODULES) payload))))
$(INFER_PREDICT): tests/infer/predict_main.c $(INFER_PREDICT_OBJS) $(INFER_LIB_REL)
	@mkdir -p $(dir $@)
	$(CC) $(WARN) $(INC) $(PKG_CFLAGS) $(REL_FLAGS) -o $@ $^ $(PKG_LIBS) -lpthread -lm

# The Python suite against an ASan/UBSan shared build (not part of make
# test: it preloads libasan into Python, which some setups refuse).
INFER_ASAN_SO := build/asan-pic/libcapstan-infer.so
build/asan-pic/infer/%.o: infer/%.c
	@mkdir -p $(dir $@)
	$(CC) $(WARN) $(INC) $(ASAN_FLAGS) -fPIC -MMD -MP -c $< -o $@
$(INFER_ASAN_SO): $(INFER_SRCS:%.c=build/asan-pic/%.o)
	$(CC) -shared $(ASAN_FLAGS) -o $@ $^ -lm
test-infer-py-asan: $(INFER_ASAN_SO) $(INFER_PREDICT) $(PYTEST)
	LD_PRELOAD="$$($(CC) -print-file-name=libasan.so) $$($(CC) -print-file-name=libubsan.so)" \
	    ASAN_OPTIONS=detect_leaks=0 CAPSTAN_INFER_LIB=$(CURDIR)/$(INFER_ASAN_SO) \
	    CAPSTAN_PREDICT=$(CURDIR)/$(INFER_PREDICT) $(PYTEST) -q -p no:cacheprovider tests/infer
