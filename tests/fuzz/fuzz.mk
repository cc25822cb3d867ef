## tests/fuzz/fuzz.mk, included by Makefile.am: `make fuzz [FUZZ_SECONDS=N]`.
##
## Builds the libFuzzer targets tests/fuzz/fuzz_<target>.c with clang
## (-fsanitize=fuzzer,address,undefined) against the library's C sources
## compiled with the same flags in $(FUZZ_DIR)/ (the normal build is gcc;
## nothing of it is reused but config.h, less the CUDA backend, which the
## parsers do not touch), then runs each target for FUZZ_SECONDS seconds on a
## copy of its seed corpus (tests/fuzz/corpus/<target>/) plus its regression
## inputs (tests/fuzz/regressions/<target>/). Any crash, leak, sanitizer
## report, timeout (FUZZ_TIMEOUT s for one input) or out-of-memory
## (FUZZ_RSS_MB: above the readers' designed worst case, a 2^28-pixel
## progressive JPEG at about 2.4 GB with its coefficient buffer) fails the
## target, keeps its artifact in $(FUZZ_DIR)/run/<target>/ and fails the rule
## after all targets ran. Needs clang-14, libFuzzer (libclang-rt-14-dev),
## libomp-14-dev and llvm-14 (the symbolizer), all from ./bootstrap.
FUZZ_SECONDS = 10
FUZZ_TIMEOUT = 10
FUZZ_RSS_MB = 3072
FUZZ_CC = clang
FUZZ_DIR = build-fuzz
FUZZ_TARGETS = safetensors config split png jpeg
FUZZ_FLAGS = -g -O1 -fno-omit-frame-pointer -Wno-pass-failed -fsanitize=address,undefined -fno-sanitize-recover=all \
	-ffp-contract=off -pthread -fopenmp
FUZZ_CPPFLAGS = -I$(FUZZ_DIR) -I$(top_builddir) -I$(top_srcdir)/include -D_GNU_SOURCE $(PNG_CFLAGS) $(JANSSON_CFLAGS) $(INIH_CFLAGS)
FUZZ_LIBS = $(PNG_LIBS) $(JPEG_LIBS) $(JANSSON_LIBS) $(INIH_LIBS) $(DNNL_LIBS) $(LIBS) -lm

fuzz_lib_objs = $(patsubst %.c,$(FUZZ_DIR)/%.o,$(filter %.c,$(libsemiseg_a_SOURCES)))
fuzz_bins = $(FUZZ_TARGETS:%=$(FUZZ_DIR)/fuzz_%)
fuzz_headers = $(wildcard $(top_srcdir)/include/*.h $(top_srcdir)/include/semiseg/*.h $(top_srcdir)/src/*/*.h)

$(FUZZ_DIR)/config.h: config.h
	@$(MKDIR_P) $(FUZZ_DIR)
	$(AM_V_GEN)sed '/SG_HAVE_CUDA/d' config.h > $@
$(FUZZ_DIR)/%.o: $(top_srcdir)/%.c $(FUZZ_DIR)/config.h $(fuzz_headers) | $(BUILT_SOURCES)
	@$(MKDIR_P) $(@D)
	$(AM_V_CC)$(FUZZ_CC) $(FUZZ_CPPFLAGS) $(FUZZ_FLAGS) -fsanitize=fuzzer-no-link -c $< -o $@
$(FUZZ_DIR)/libsemiseg-fuzz.a: $(fuzz_lib_objs)
	$(AM_V_AR)rm -f $@ && $(AR) cr $@ $(fuzz_lib_objs) && $(RANLIB) $@
$(FUZZ_DIR)/fuzz_%: $(top_srcdir)/tests/fuzz/fuzz_%.c $(top_srcdir)/tests/fuzz/fuzz_file.h $(FUZZ_DIR)/libsemiseg-fuzz.a
	$(AM_V_CCLD)$(FUZZ_CC) $(FUZZ_CPPFLAGS) $(FUZZ_FLAGS) -fsanitize=fuzzer $< $(FUZZ_DIR)/libsemiseg-fuzz.a \
		$(FUZZ_LIBS) -o $@

fuzz-build: $(fuzz_bins)

fuzz: $(fuzz_bins)
	@fail=""; for t in $(FUZZ_TARGETS); do \
	  d=$(FUZZ_DIR)/run/$$t; rm -rf $$d; $(MKDIR_P) $$d/corpus || exit 1; \
	  cp $(top_srcdir)/tests/fuzz/corpus/$$t/* $$d/corpus/ || exit 1; \
	  regs=$(top_srcdir)/tests/fuzz/regressions/$$t; test -d $$regs || regs=; \
	  echo "  FUZZ     $$t ($(FUZZ_SECONDS) s)"; \
	  tmp=`mktemp -d /dev/shm/sg-fuzz-run.XXXXXX 2>/dev/null || mktemp -d`; \
	  if SG_FUZZ_TMPDIR=$$tmp $(FUZZ_DIR)/fuzz_$$t -max_total_time=$(FUZZ_SECONDS) -timeout=$(FUZZ_TIMEOUT) \
	      -rss_limit_mb=$(FUZZ_RSS_MB) -print_final_stats=1 -artifact_prefix=$$d/ $$d/corpus $$regs \
	      > $$d/fuzz.log 2>&1; then \
	    sed -n 's/^stat::number_of_executed_units: */        executions: /p; s/^stat::peak_rss_mb: */        peak RSS MB: /p' $$d/fuzz.log; \
	    grep -E "^#[0-9]+[[:space:]]+DONE" $$d/fuzz.log | sed 's/^/        /'; \
	  else \
	    tail -n 60 $$d/fuzz.log; echo "FAIL: fuzz target $$t (log and input: $$d/)"; fail="$$fail $$t"; \
	  fi; \
	  rm -rf "$$tmp"; \
	done; \
	test -z "$$fail" || { echo "make fuzz: failing targets:$$fail"; exit 1; }

clean-local: clean-fuzz
clean-fuzz:
	rm -rf $(FUZZ_DIR)
.PHONY: fuzz fuzz-build clean-fuzz
EXTRA_DIST += tests/fuzz
