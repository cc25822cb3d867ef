/*
 * test_fuzz_regressions.c: replays the fuzzers' inputs through the ordinary
 * (gcc) build, so every fix made for a fuzzer finding stays tested without
 * clang or libFuzzer.
 *
 * Each target's source (tests/fuzz/fuzz_<target>.c) is included here with
 * its LLVMFuzzerTestOneInput renamed, and every file of
 * tests/fuzz/regressions/<target>/ (inputs that once crashed, leaked, hung
 * or hit undefined behaviour; fixed since) and of tests/fuzz/corpus/<target>/
 * (the seeds) is fed to it. A target aborts on a broken invariant, so a
 * regression shows as a crash of this test; under --enable-sanitizers the
 * replay also checks memory errors and leaks. Files are replayed in name
 * order, each under a time limit (an input that once hung must now return)
 * and, outside sanitizer builds, with the address space capped at 1 GiB
 * above what the process maps at start, so an input that once made a reader
 * allocate gigabytes (libFuzzer's out-of-memory findings) fails here again
 * if the fix is undone: sg_xmalloc aborts instead of reserving the memory.
 */
#include <dirent.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "tap.h"

#define LLVMFuzzerTestOneInput fuzz_safetensors_one
#include "fuzz/fuzz_safetensors.c"
#undef LLVMFuzzerTestOneInput
#define LLVMFuzzerTestOneInput fuzz_config_one
#include "fuzz/fuzz_config.c"
#undef LLVMFuzzerTestOneInput
#define LLVMFuzzerTestOneInput fuzz_split_one
#include "fuzz/fuzz_split.c"
#undef LLVMFuzzerTestOneInput
#define LLVMFuzzerTestOneInput fuzz_png_one
#include "fuzz/fuzz_png.c"
#undef LLVMFuzzerTestOneInput
#define LLVMFuzzerTestOneInput fuzz_jpeg_one
#include "fuzz/fuzz_jpeg.c"
#undef LLVMFuzzerTestOneInput

static const struct {
    const char *name;
    int (*one)(const uint8_t *, size_t);
} targets_[] = {
    {"safetensors", fuzz_safetensors_one}, {"config", fuzz_config_one}, {"split", fuzz_split_one},
    {"png", fuzz_png_one},                 {"jpeg", fuzz_jpeg_one},
};

static int cmp_str_(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Feeds every regular file of dir to one; returns the count, -1 if dir is absent. */
static int replay_dir_(const char *dir, const char *target, int (*one)(const uint8_t *, size_t))
{
    DIR *d = opendir(dir);
    if (!d) return -1;
    char *names[4096];
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) && n < 4096)
        if (e->d_name[0] != '.') names[n++] = strdup(e->d_name);
    closedir(d);
    qsort(names, (size_t)n, sizeof *names, cmp_str_);
    int count = 0;
    for (int i = 0; i < n; i++) {
        char path[8192];
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        FILE *fp = fopen(path, "rb");
        uint8_t *buf = NULL;
        size_t len = 0;
        if (fp) {
            fseek(fp, 0, SEEK_END);
            long sz = ftell(fp);
            rewind(fp);
            buf = malloc(sz > 0 ? (size_t)sz : 1);
            len = sz > 0 ? fread(buf, 1, (size_t)sz, fp) : 0;
            fclose(fp);
        }
        if (!buf) {
            tap_ok(0, "%s: cannot read %s", target, path);
            free(names[i]);
            continue;
        }
        alarm(60); /* an input that once hung must finish: SIGALRM ends the test */
        struct timespec t0, t1;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        one(buf, len);
        clock_gettime(CLOCK_MONOTONIC, &t1);
        alarm(0);
        double s = (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec);
        tap_ok(1, "%s: %s (%zu bytes) replayed in %.3f s", target, names[i], len, s);
        count++;
        free(buf);
        free(names[i]);
    }
    return count;
}

#if defined(__SANITIZE_ADDRESS__)
#define SG_REPLAY_ASAN_ 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SG_REPLAY_ASAN_ 1
#endif
#endif

/* Caps the address space at what is mapped now plus 1 GiB (AddressSanitizer
 * reserves terabytes of shadow, so not under it). */
static void cap_memory_(void)
{
#ifndef SG_REPLAY_ASAN_
    FILE *fp = fopen("/proc/self/statm", "r");
    unsigned long pages = 0;
    if (!fp || fscanf(fp, "%lu", &pages) != 1) {
        if (fp) fclose(fp);
        tap_diag("no /proc/self/statm: address space not capped");
        return;
    }
    fclose(fp);
    struct rlimit rl;
    getrlimit(RLIMIT_AS, &rl);
    rlim_t cap = (rlim_t)pages * (rlim_t)sysconf(_SC_PAGESIZE) + ((rlim_t)1 << 30);
    if (rl.rlim_max == RLIM_INFINITY || rl.rlim_max > cap) {
        rl.rlim_cur = cap;
        if (setrlimit(RLIMIT_AS, &rl)) tap_diag("setrlimit failed: address space not capped");
    }
#endif
}

int main(void)
{
    cap_memory_();
    const char *src = getenv("top_srcdir");
    if (!src) src = ".";
    for (size_t t = 0; t < sizeof targets_ / sizeof targets_[0]; t++) {
        char dir[4096];
        snprintf(dir, sizeof dir, "%s/tests/fuzz/regressions/%s", src, targets_[t].name);
        int r = replay_dir_(dir, targets_[t].name, targets_[t].one);
        snprintf(dir, sizeof dir, "%s/tests/fuzz/corpus/%s", src, targets_[t].name);
        int c = replay_dir_(dir, targets_[t].name, targets_[t].one);
        tap_ok(c > 0, "%s: %d seed(s) and %d regression input(s) replayed", targets_[t].name, c, r < 0 ? 0 : r);
    }
    return tap_done();
}
