/*
 * sg-demo-data: write the synthetic VOC-format dataset of the demo benchmark
 * (synth.h) and, optionally, its UniMatch-format split files.
 *
 *   sg-demo-data --out DIR [--version v7|v7p] [--train N] [--val N] [--test N]
 *   sg-demo-data --splits DIR [--train N] [--val N] [--test N] [--labeled 12,24,48] [--split-seed S]
 *
 * Both can be given in one call. The committed splits/demo/ lists come from
 * `sg-demo-data --splits splits/demo` (see splits/demo/README.md). Threads:
 * SG_NUM_THREADS (the output does not depend on it).
 * Exit status: 0 on success, 1 on a runtime error, 2 on a usage error.
 * Covered by tests/test_synth.c (the library calls it makes).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "semiseg/synth.h"

#define MAX_PROTOCOLS 16

static void usage_(FILE *fp)
{
    fprintf(fp,
            "usage: sg-demo-data [--out DIR] [--version v7|v7p] [--train N] [--val N] [--test N]\n"
            "                    [--splits DIR] [--labeled L1,L2,...] [--split-seed S]\n"
            "  --out DIR         write the dataset (VOC layout) under DIR\n"
            "  --version NAME    generator version: v7 (default, the demo) or v7p (its pretraining task)\n"
            "  --train N         training pool size (default: the version's, 3000)\n"
            "  --val N           validation set size (default: the version's, 500)\n"
            "  --test N          held-out test set size (default: the version's, 500; 0: none)\n"
            "  --splits DIR      write DIR/<L>/{labeled,unlabeled}.txt, DIR/val.txt and DIR/test.txt\n"
            "  --labeled LIST    labelled counts of the protocols (default 12,24,48)\n"
            "  --split-seed S    seed of the split permutation (default 0)\n");
}

static int parse_int_(const char *s, long lo, long hi, long *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi) return -1;
    *out = v;
    return 0;
}

static double now_(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

int main(int argc, char **argv)
{
    const char *out = NULL, *splits = NULL, *version = "v7", *labeled_arg = "12,24,48";
    long n_train = -1, n_val = -1, n_test = -1, split_seed = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage_(stdout);
            return 0;
        }
        if (i + 1 >= argc) {
            fprintf(stderr, "sg-demo-data: %s: unknown option or missing value\n", a);
            usage_(stderr);
            return 2;
        }
        const char *v = argv[++i];
        int bad = 0;
        if (!strcmp(a, "--out")) out = v;
        else if (!strcmp(a, "--splits")) splits = v;
        else if (!strcmp(a, "--version")) version = v;
        else if (!strcmp(a, "--labeled")) labeled_arg = v;
        else if (!strcmp(a, "--train")) bad = parse_int_(v, 1, SG_SYNTH_MAX_IMAGES, &n_train);
        else if (!strcmp(a, "--val")) bad = parse_int_(v, 0, SG_SYNTH_MAX_IMAGES, &n_val);
        else if (!strcmp(a, "--test")) bad = parse_int_(v, 0, SG_SYNTH_MAX_IMAGES, &n_test);
        else if (!strcmp(a, "--split-seed")) bad = parse_int_(v, 0, 0x7FFFFFFFL, &split_seed);
        else {
            fprintf(stderr, "sg-demo-data: unknown option %s\n", a);
            usage_(stderr);
            return 2;
        }
        if (bad) {
            fprintf(stderr, "sg-demo-data: %s %s: not a valid count\n", a, v);
            return 2;
        }
    }
    if (!out && !splits) {
        fprintf(stderr, "sg-demo-data: give --out DIR and/or --splits DIR\n");
        usage_(stderr);
        return 2;
    }
    const sg_synth_params *p = sg_synth_params_find(version);
    if (!p) {
        fprintf(stderr, "sg-demo-data: unknown generator version '%s' (known: v7, v7p)\n", version);
        return 2;
    }
    if (n_train < 0) n_train = p->default_train;
    if (n_val < 0) n_val = p->default_val;
    if (n_test < 0) n_test = p->default_test;

    int labeled[MAX_PROTOCOLS], n_protocols = 0;
    for (const char *s = splits ? labeled_arg : ""; *s;) {
        char num[32];
        size_t len = strcspn(s, ",");
        long v;
        if (len == 0 || len >= sizeof num || n_protocols == MAX_PROTOCOLS) {
            fprintf(stderr, "sg-demo-data: --labeled %s: expected up to %d counts L1,L2,...\n",
                    labeled_arg, MAX_PROTOCOLS);
            return 2;
        }
        memcpy(num, s, len);
        num[len] = 0;
        if (parse_int_(num, 1, n_train, &v)) {
            fprintf(stderr, "sg-demo-data: --labeled: '%s' is not in 1..%ld (pool of %ld)\n", num,
                    n_train, n_train);
            return 2;
        }
        labeled[n_protocols++] = (int)v;
        s += len;
        if (*s == ',') s++;
    }

    sg_err err;
    if (out) {
        double t0 = now_();
        if (sg_synth_write(out, p, (int)n_train, (int)n_val, (int)n_test, &err)) {
            fprintf(stderr, "sg-demo-data: %s\n", err.msg);
            return 1;
        }
        printf("sg-demo-data: %s: generator %s, %ld train (seed %llu) + %ld val (seed %llu) + %ld test "
               "(seed %llu) images in %.1f s\n",
               out, p->version, n_train, (unsigned long long)p->train_seed, n_val,
               (unsigned long long)p->val_seed, n_test, (unsigned long long)p->test_seed, now_() - t0);
    }
    if (splits) {
        if (sg_synth_write_splits(splits, (int)n_train, (int)n_val, (int)n_test, labeled, n_protocols,
                                  (uint64_t)split_seed, &err)) {
            fprintf(stderr, "sg-demo-data: %s\n", err.msg);
            return 1;
        }
        printf("sg-demo-data: %s: splits of a %ld-image pool (seed %ld):", splits, n_train,
               split_seed);
        for (int k = 0; k < n_protocols; k++) printf(" %d", labeled[k]);
        printf(" labelled; val.txt with %ld images", n_val);
        if (n_test > 0) printf(", test.txt with %ld", n_test);
        printf("\n");
    }
    return 0;
}
