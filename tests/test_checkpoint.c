/*
 * test_checkpoint.c: safetensors files, checkpoints and pretrained weights
 * (checkpoint.h).
 *
 * (a) write -> read is bitwise (odd bit patterns, scalars, empty and 4-D
 *     tensors, I64, metadata), the header is sorted and padded to 8 bytes,
 *     and rewriting gives identical bytes;
 * (b) a file written by tools/pth2safetensors.py (tests/data/
 *     checkpoint_py.safetensors from tests/ref/gen_checkpoint.py) reads back
 *     the F32, F16, BF16, I64 and I32 values its docstring lists, bitwise;
 * (c) sg_weights_load maps, skips and reports, and rejects bad maps without
 *     touching the set;
 * (d) every damaged file (truncations, header length, offsets out of range,
 *     overlapping, gaps, size mismatch, bad JSON, unknown dtype, duplicate
 *     names, bad shapes) is an error naming the file and, where there is
 *     one, the tensor;
 * (e) training the tiny net of tests/tiny_net.c for 3 steps, saving, loading
 *     into freshly built sets and continuing 3 steps gives bitwise the
 *     weights, BN statistics, momentum, EMA and generator of 6 uninterrupted
 *     steps; mismatching sets are rejected with a list and left untouched;
 * (f) a checkpoint write that fails for lack of space (RLIMIT_FSIZE in a
 *     child, as tests/test_io.c) leaves the previous checkpoint intact.
 * All comparisons are bitwise, so there are no tolerances.
 * (g) extra sets (a second network with its optimizer, a queue set) under
 *     their prefixes: restored exactly, strictly; reserved prefixes abort.
 */
#include "expect_abort.h"
#include "tap.h"
#include "tiny_net.h"

#include "semiseg.h"
#include "semiseg/checkpoint.h"

#include <dirent.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

static char dir[256];
static char py_path[4096]; /* tests/data/checkpoint_py.safetensors */

static char *tmp_path(const char *name)
{
    static char buf[8][512];
    static int next;
    char *p = buf[next++ % 8];
    snprintf(p, 512, "%s/%s", dir, name);
    return p;
}

static unsigned char *slurp(const char *path, size_t *len)
{
    FILE *fp = fopen(path, "rb");
    if (!fp) return NULL;
    fseek(fp, 0, SEEK_END);
    long n = ftell(fp);
    fseek(fp, 0, SEEK_SET);
    unsigned char *buf = malloc((size_t)n + 1);
    *len = fread(buf, 1, (size_t)n, fp);
    fclose(fp);
    return buf;
}

static void spit(const char *path, const void *data, size_t len)
{
    FILE *fp = fopen(path, "wb");
    if (!fp) return;
    fwrite(data, 1, len, fp);
    fclose(fp);
}

static int count_entries(void)
{
    DIR *d = opendir(dir);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (e->d_name[0] != '.') n++;
    closedir(d);
    return n;
}

static bool same_bits(const void *a, const void *b, size_t n) { return n == 0 || memcmp(a, b, n) == 0; }

/* ---- (a) roundtrip ---------------------------------------------------------------- */

static void test_roundtrip(void)
{
    /* Bit patterns a float conversion could disturb: -0, NaN payloads,
     * subnormals, infinities, plus random words. */
    uint32_t bits[2 * 3 * 4 * 5];
    sg_rng r;
    sg_rng_init(&r, 7, sg_rng_stream(SG_RNG_TEST, 1, 0));
    for (int i = 0; i < 120; i++) bits[i] = sg_rng_u32(&r);
    bits[0] = 0x80000000u;
    bits[1] = 0x7fc12345u;
    bits[2] = 0xffa00001u;
    bits[3] = 0x00000001u;
    bits[4] = 0x7f800000u;
    float w4[120];
    memcpy(w4, bits, sizeof w4);
    float scalar = -1.5f, vec[3] = {1, 2, 3};
    int64_t ints[3] = {INT64_MIN, -1, INT64_MAX}, i_scalar = 42;

    sg_st_writer w;
    sg_st_writer_init(&w);
    sg_st_add_f32(&w, "z.weight", 4, (const int[]){2, 3, 4, 5}, w4);
    sg_st_add_f32(&w, "a.scalar", 0, NULL, &scalar);
    sg_st_add_f32(&w, "m.empty", 2, (const int[]){0, 7}, NULL);
    sg_st_add_f32(&w, "b.vec", 1, (const int[]){3}, vec);
    sg_st_add_i64(&w, "c.ints", 1, (const int[]){3}, ints);
    sg_st_add_i64(&w, "c.count", 0, NULL, &i_scalar);
    sg_st_add_meta(&w, "config", "sha256:abc \"quoted\" \xc3\xa9");
    sg_st_add_meta(&w, "git", "deadbeef");
    sg_err err;
    const char *path = tmp_path("rt.safetensors"), *path2 = tmp_path("rt2.safetensors");
    int rc = sg_st_write(&w, path, &err);
    tap_ok(rc == 0, "write a safetensors file%s%s", rc ? ": " : "", rc ? err.msg : "");
    rc = sg_st_write(&w, path2, &err);
    sg_st_writer_free(&w);

    size_t n1 = 0, n2 = 0;
    unsigned char *b1 = slurp(path, &n1), *b2 = slurp(path2, &n2);
    tap_ok(rc == 0 && b1 && b2 && n1 == n2 && memcmp(b1, b2, n1) == 0, "writing twice gives identical bytes");
    uint64_t hlen = 0;
    if (b1 && n1 >= 8) memcpy(&hlen, b1, 8);
    bool sorted = false;
    if (b1 && hlen % 8 == 0 && hlen + 8 <= n1) {
        char *h = strndup((const char *)b1 + 8, hlen);
        const char *pa = strstr(h, "\"a.scalar\""), *pb = strstr(h, "\"b.vec\""), *pc = strstr(h, "\"c.count\""),
                   *pm = strstr(h, "\"m.empty\""), *pz = strstr(h, "\"z.weight\"");
        sorted = pa && pb && pc && pm && pz && pa < pb && pb < pc && pc < pm && pm < pz && h[hlen - 1] != 0;
        free(h);
    }
    tap_ok(sorted && hlen % 8 == 0, "the header is padded to a multiple of 8 (%llu) and names are sorted",
           (unsigned long long)hlen);
    free(b1);
    free(b2);

    sg_st_file f;
    rc = sg_st_open(&f, path, &err);
    tap_ok(rc == 0 && f.n_tensors == 6, "read it back: %d tensors%s%s", rc ? -1 : f.n_tensors, rc ? ": " : "",
           rc ? err.msg : "");
    if (rc) return;
    const sg_st_tensor *t = sg_st_find(&f, "z.weight");
    float got[120];
    bool ok = t && t->dtype == SG_ST_F32 && t->ndim == 4 && t->shape[0] == 2 && t->shape[3] == 5 &&
              t->numel == 120 && sg_st_read_f32(&f, t, got, &err) == 0 && same_bits(got, w4, sizeof w4);
    tap_ok(ok, "4-D F32 with NaN payloads, -0 and subnormals is bitwise");
    t = sg_st_find(&f, "a.scalar");
    ok = t && t->ndim == 0 && t->numel == 1 && sg_st_read_f32(&f, t, got, &err) == 0 && got[0] == -1.5f;
    t = sg_st_find(&f, "m.empty");
    ok = ok && t && t->ndim == 2 && t->shape[0] == 0 && t->shape[1] == 7 && t->numel == 0 && t->nbytes == 0;
    t = sg_st_find(&f, "b.vec");
    ok = ok && t && sg_st_read_f32(&f, t, got, &err) == 0 && same_bits(got, vec, sizeof vec);
    tap_ok(ok, "scalar, empty and vector tensors keep shape and values");
    int64_t gi[3];
    t = sg_st_find(&f, "c.ints");
    ok = t && t->dtype == SG_ST_I64 && sg_st_read_i64(&f, t, gi, &err) == 0 && same_bits(gi, ints, sizeof ints);
    t = sg_st_find(&f, "c.count");
    ok = ok && t && t->ndim == 0 && sg_st_read_i64(&f, t, gi, &err) == 0 && gi[0] == 42;
    tap_ok(ok, "I64 tensors (INT64_MIN, INT64_MAX, scalar) are exact");
    tap_ok(sg_st_meta(&f, "git") && strcmp(sg_st_meta(&f, "git"), "deadbeef") == 0 && sg_st_meta(&f, "config") &&
               strcmp(sg_st_meta(&f, "config"), "sha256:abc \"quoted\" \xc3\xa9") == 0 && !sg_st_meta(&f, "nope"),
           "metadata strings (quotes, UTF-8) round-trip");
    tap_ok(!sg_st_find(&f, "b") && !sg_st_find(&f, "zz"), "absent names are not found");
    sg_st_writer bad;
    sg_st_writer_init(&bad);
    sg_st_add_f32(&bad, "bad\xff.name", 1, (const int[]){3}, vec);
    rc = sg_st_write(&bad, tmp_path("utf8.safetensors"), &err);
    sg_st_writer_free(&bad);
    tap_ok(rc != 0 && strstr(err.msg, "utf8.safetensors") && strstr(err.msg, "UTF-8") && access(tmp_path("utf8.safetensors"), F_OK) != 0,
           "a name that is not UTF-8 is a write error, no file written: %s", err.msg);
    t = sg_st_find(&f, "c.ints");
    rc = sg_st_read_f32(&f, t, got, &err);
    tap_ok(rc != 0 && strstr(err.msg, path) && strstr(err.msg, "c.ints"),
           "reading an integer tensor as float is an error naming file and tensor: %s", err.msg);
    sg_st_close(&f);
}

/* ---- (b) a file from tools/pth2safetensors.py ------------------------------------------ */

static void test_python_file(const char *path)
{
    sg_st_file f;
    sg_err err;
    int rc = sg_st_open(&f, path, &err);
    tap_ok(rc == 0 && f.n_tensors == 6, "read the converter's file%s%s", rc ? ": " : "", rc ? err.msg : "");
    if (rc) return;
    float got[8];
    const sg_st_tensor *t = sg_st_find(&f, "enc.weight");
    bool ok = t && t->dtype == SG_ST_F32 && t->ndim == 2 && t->shape[0] == 2 && t->shape[1] == 3 &&
              sg_st_read_f32(&f, t, got, &err) == 0;
    for (int i = 0; ok && i < 6; i++) ok = got[i] == ((float)i - 2.5f) * 0.375f;
    tap_ok(ok, "F32 enc.weight = (i - 2.5) * 0.375 with the \"module.\" prefix stripped");

    t = sg_st_find(&f, "enc.half");
    const float half[6] = {1.0f, -2.5f, 65504.0f, ldexpf(1, -24), 3 * ldexpf(1, -20), INFINITY};
    ok = t && t->dtype == SG_ST_F16 && t->numel == 6 && sg_st_read_f32(&f, t, got, &err) == 0 &&
         same_bits(got, half, sizeof half);
    tap_ok(ok, "F16 values convert exactly (normal, max, subnormals, inf)");

    t = sg_st_find(&f, "enc.bf16");
    const float bf[4] = {1.0f, -3.0f, ldexpf(1, 100), 1.5f * ldexpf(1, -130)};
    ok = t && t->dtype == SG_ST_BF16 && t->ndim == 2 && sg_st_read_f32(&f, t, got, &err) == 0 &&
         same_bits(got, bf, sizeof bf);
    tap_ok(ok, "BF16 values convert exactly (including an f32 subnormal)");

    int64_t gi[3];
    t = sg_st_find(&f, "bn.num_batches_tracked");
    ok = t && t->dtype == SG_ST_I64 && t->ndim == 0 && sg_st_read_i64(&f, t, gi, &err) == 0 && gi[0] == 12345678901LL;
    t = sg_st_find(&f, "idx");
    ok = ok && t && t->dtype == SG_ST_I32 && sg_st_read_i64(&f, t, gi, &err) == 0 && gi[0] == -7 && gi[1] == 0 &&
         gi[2] == 2147483647;
    tap_ok(ok, "I64 scalar beyond 32 bits and I32 vector are exact");
    t = sg_st_find(&f, "empty");
    tap_ok(t && t->numel == 0 && t->shape[0] == 0 && t->shape[1] == 3, "empty [0, 3] tensor");
    tap_ok(sg_st_meta(&f, "format") && strcmp(sg_st_meta(&f, "format"), "pt") == 0, "metadata format = pt");
    sg_st_close(&f);
}

/* ---- (c) pretrained weights through a name map -------------------------------------- */

static void test_weights(const char *path)
{
    sg_param_set s;
    sg_param_set_init(&s);
    sg_tensor *w = sg_param_add(&s, "backbone.enc.weight", 0, 2, (const int[]){2, 3});
    sg_tensor *h = sg_param_add(&s, "backbone.enc.half", 0, 1, (const int[]){6});
    sg_tensor *b = sg_buffer_add(&s, "backbone.enc.bf16", 2, (const int[]){2, 2});
    sg_param_add(&s, "head.cls.weight", 1, 1, (const int[]){4});
    const sg_name_rule rules[] = {{"enc.", "backbone.enc."}};
    const char *skip[] = {"idx", "empty"};
    sg_weights_opts o = {rules, 1, skip, 2, "backbone.", true};
    sg_weights_report rep;
    sg_err err;
    int rc = sg_weights_load(&s, path, &o, &rep, &err);
    tap_ok(rc == 0 && rep.n_loaded == 3 && rep.n_skipped == 3 && rep.n_missing == 0 && rep.n_unexpected == 0,
           "strict load under \"backbone.\": 3 loaded, 3 skipped (2 by prefix, num_batches_tracked)%s%s",
           rc ? ": " : "", rc ? err.msg : "");
    tap_ok(w->data[5] == 0.9375f && h->data[2] == 65504.0f && isinf(h->data[5]) && b->data[2] == ldexpf(1, 100),
           "loaded values land in the mapped entries (F16/BF16 converted)");
    sg_weights_report_free(&rep);

    /* Everything expected: the head is missing, which strict refuses. */
    memset(w->data, 0, 6 * sizeof(float));
    o.target_prefix = NULL;
    rc = sg_weights_load(&s, path, &o, &rep, &err);
    tap_ok(rc != 0 && strstr(err.msg, path) && strstr(err.msg, "head.cls.weight") && rep.n_missing == 1 &&
               w->data[5] == 0.0f,
           "strict: a missing entry is an error naming it, and nothing is loaded: %s", err.msg);
    sg_weights_report_free(&rep);
    o.strict = false;
    rc = sg_weights_load(&s, path, &o, &rep, &err);
    tap_ok(rc == 0 && rep.n_loaded == 3 && rep.n_missing == 1 && strcmp(rep.missing[0], "head.cls.weight") == 0 &&
               w->data[5] == 0.9375f,
           "non-strict: loads and reports the missing entry");
    sg_weights_report_free(&rep);

    /* No skip list: "idx" and "empty" are unexpected. */
    o.n_skip = 0;
    o.strict = true;
    o.target_prefix = "backbone.";
    rc = sg_weights_load(&s, path, &o, &rep, &err);
    tap_ok(rc != 0 && rep.n_unexpected == 2 && strstr(err.msg, "idx") && strstr(err.msg, "empty"),
           "strict: unexpected file entries are listed: %s", err.msg);
    sg_weights_report_free(&rep);

    /* A shape mismatch is an error even when not strict, and leaves the set alone. */
    sg_param_set s2;
    sg_param_set_init(&s2);
    sg_tensor *w2 = sg_param_add(&s2, "backbone.enc.weight", 0, 2, (const int[]){3, 2});
    sg_tensor *h2 = sg_param_add(&s2, "backbone.enc.half", 0, 1, (const int[]){6});
    o.strict = false;
    rc = sg_weights_load(&s2, path, &o, NULL, &err);
    tap_ok(rc != 0 && strstr(err.msg, path) && strstr(err.msg, "enc.weight") && strstr(err.msg, "[3, 2]") &&
               h2->data[0] == 0.0f && w2->data[0] == 0.0f,
           "a shape mismatch is an error, nothing loaded: %s", err.msg);
    /* An integer tensor mapped onto a float entry. */
    sg_param_set_free(&s2);
    sg_param_set_init(&s2);
    sg_param_add(&s2, "backbone.idx", 0, 1, (const int[]){3});
    const sg_name_rule all[] = {{"", "backbone."}};
    sg_weights_opts o2 = {all, 1, NULL, 0, NULL, false};
    rc = sg_weights_load(&s2, path, &o2, NULL, &err);
    tap_ok(rc != 0 && strstr(err.msg, "idx") && strstr(err.msg, "I32"), "an I32 tensor onto a float entry is an error: %s",
           err.msg);
    sg_param_set_free(&s2);

    rc = sg_weights_load(&s, tmp_path("absent.safetensors"), &o, NULL, &err);
    tap_ok(rc != 0 && strstr(err.msg, "absent.safetensors"), "a missing file is an error naming it: %s", err.msg);
    sg_param_set_free(&s);
}

/* ---- (d) damaged files --------------------------------------------------------------- */

/* Writes u64 length + header + data_len bytes (0x11) and expects sg_st_open
 * to fail with a message naming the file and `want` (a tensor name or a
 * phrase; NULL: the file only). */
static void expect_bad_raw(const char *what, const char *header, uint64_t declared, size_t data_len, const char *want)
{
    size_t hlen = strlen(header);
    size_t len = 8 + hlen + data_len;
    unsigned char *buf = malloc(len);
    memcpy(buf, &declared, 8);
    memcpy(buf + 8, header, hlen);
    memset(buf + 8 + hlen, 0x11, data_len);
    char name[64];
    static int n;
    snprintf(name, sizeof name, "bad%02d.safetensors", n++);
    const char *path = tmp_path(name);
    spit(path, buf, len);
    free(buf);
    sg_st_file f;
    sg_err err;
    strcpy(err.msg, "(no message)");
    int rc = sg_st_open(&f, path, &err);
    tap_ok(rc != 0 && strstr(err.msg, path) && (!want || strstr(err.msg, want)), "%s: %s", what, err.msg);
    if (rc == 0) sg_st_close(&f);
    unlink(path);
}

static void expect_bad(const char *what, const char *header, size_t data_len, const char *want)
{
    expect_bad_raw(what, header, strlen(header), data_len, want);
}

static void test_corruption(void)
{
    /* A valid file to truncate. */
    float a[6] = {1, 2, 3, 4, 5, 6}, b[2] = {7, 8};
    sg_st_writer w;
    sg_st_writer_init(&w);
    sg_st_add_f32(&w, "a", 2, (const int[]){2, 3}, a);
    sg_st_add_f32(&w, "b", 1, (const int[]){2}, b);
    sg_err err;
    const char *good = tmp_path("good.safetensors");
    sg_st_write(&w, good, &err);
    sg_st_writer_free(&w);
    size_t len = 0;
    unsigned char *bytes = slurp(good, &len);
    uint64_t hlen;
    memcpy(&hlen, bytes, 8);
    size_t cuts[] = {0, 5, 8, 8 + (size_t)hlen / 2, 8 + (size_t)hlen, len - 1};
    for (size_t i = 0; i < sizeof cuts / sizeof cuts[0]; i++) {
        const char *path = tmp_path("cut.safetensors");
        spit(path, bytes, cuts[i]);
        sg_st_file f;
        int rc = sg_st_open(&f, path, &err);
        tap_ok(rc != 0 && strstr(err.msg, path), "truncated to %zu of %zu bytes: %s", cuts[i], len, err.msg);
        if (rc == 0) sg_st_close(&f);
        unlink(path);
    }
    free(bytes);

    const char *ok_hdr = "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}";
    expect_bad_raw("header length larger than the file", ok_hdr, 4096, 8, "header length");
    expect_bad_raw("header length near 2^64", ok_hdr, UINT64_MAX - 3, 8, "header length");
    expect_bad("offsets past the buffer", "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,16]}}", 8, "\"a\"");
    expect_bad("begin after end", "{\"a\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[8,4]}}", 8, "\"a\"");
    expect_bad("negative offset", "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[-8,0]}}", 8, "\"a\"");
    expect_bad("size does not match shape", "{\"a\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}", 8,
               "\"a\"");
    expect_bad("overlapping tensors",
               "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
               "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}",
               12, "overlaps");
    expect_bad("a gap between tensors",
               "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
               "\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[8,12]}}",
               12, "\"b\"");
    expect_bad("bytes after the last tensor", ok_hdr, 12, "\"a\"");
    expect_bad("invalid JSON", "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]", 8, "JSON");
    expect_bad("JSON that is not an object", "[1, 2, 3]", 0, "not an object");
    expect_bad("unknown dtype", "{\"a\":{\"dtype\":\"F64\",\"shape\":[1],\"data_offsets\":[0,8]}}", 8, "F64");
    expect_bad("duplicate names",
               "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
               "\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}",
               8, "duplicate");
    expect_bad("negative dimension", "{\"a\":{\"dtype\":\"F32\",\"shape\":[-2],\"data_offsets\":[0,8]}}", 8, "\"a\"");
    expect_bad("element count overflow",
               "{\"a\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296,16],\"data_offsets\":[0,8]}}", 8, "\"a\"");
    expect_bad("byte size overflow", "{\"a\":{\"dtype\":\"I64\",\"shape\":[4611686018427387904],\"data_offsets\":[0,8]}}",
               8, "\"a\"");
    expect_bad("fractional dimension", "{\"a\":{\"dtype\":\"F32\",\"shape\":[2.0],\"data_offsets\":[0,8]}}", 8, "\"a\"");
    expect_bad("missing data_offsets", "{\"a\":{\"dtype\":\"F32\",\"shape\":[2]}}", 8, "\"a\"");
    expect_bad("unknown field", "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8],\"x\":1}}", 8,
               "\"a\"");
    expect_bad("metadata value not a string", "{\"__metadata__\":{\"k\":3}}", 0, "\"k\"");
    expect_bad("empty tensor name", "{\"\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8, "empty");
    expect_bad("too many dimensions",
               "{\"a\":{\"dtype\":\"F32\",\"shape\":[1,1,1,1,1,1,1,1,1],\"data_offsets\":[0,4]}}", 4, "\"a\"");
    tap_ok(sg_st_open(&(sg_st_file){0}, tmp_path("no-such-file"), &err) != 0 && strstr(err.msg, "no-such-file"),
           "a missing file is an error naming it");
}

/* ---- (e) checkpoint resume ------------------------------------------------------------ */

#define C 8
#define K 3
#define N 2
#define HW 8

static const struct {
    const char *name;
    int group, ndim, shape[4];
    bool buffer;
} specs[] = {
    {"conv1.weight", 0, 4, {C, 3, 3, 3}, false}, {"conv1.bias", 0, 1, {C}, false},
    {"bn1.weight", 0, 1, {C}, false},           {"bn1.bias", 0, 1, {C}, false},
    {"conv2.weight", 0, 4, {C, C, 3, 3}, false}, {"bn2.weight", 0, 1, {C}, false},
    {"bn2.bias", 0, 1, {C}, false},             {"cls.weight", 1, 4, {K, C, 1, 1}, false},
    {"cls.bias", 1, 1, {K}, false},             {"bn1.running_mean", 0, 1, {C}, true},
    {"bn1.running_var", 0, 1, {C}, true},       {"bn2.running_mean", 0, 1, {C}, true},
    {"bn2.running_var", 0, 1, {C}, true},
};
#define N_SPECS (int)(sizeof specs / sizeof specs[0])

/* Random values from `seed`, so that a fresh set differs from the saved one;
 * the entries whose bit is set in skip_mask are left out. */
static void build_net(sg_param_set *s, uint64_t seed, unsigned skip_mask)
{
    sg_param_set_init(s);
    for (int i = 0; i < N_SPECS; i++) {
        if (skip_mask & (1u << i)) continue;
        sg_tensor *t = specs[i].buffer ? sg_buffer_add(s, specs[i].name, specs[i].ndim, specs[i].shape)
                                       : sg_param_add(s, specs[i].name, specs[i].group, specs[i].ndim, specs[i].shape);
        sg_rng r;
        sg_rng_init(&r, seed, sg_rng_stream(SG_RNG_INIT, (uint64_t)i, 0));
        sg_rng_fill_normal(&r, t->data, sg_numel(t), strstr(specs[i].name, "var") ? 1.0f : 0.0f, 0.3f);
        if (strstr(specs[i].name, "var"))
            for (size_t j = 0; j < sg_numel(t); j++) t->data[j] = fabsf(t->data[j]);
    }
}

typedef struct run_state {
    sg_param_set model, ema;
    sg_sgd opt;
    sg_rng data;
    int64_t iter;
} run_state;

static void run_init(run_state *st, uint64_t seed)
{
    build_net(&st->model, seed, 0);
    build_net(&st->ema, seed + 1, 0);
    sg_sgd_init(&st->opt, &st->model, 2, 0.9f, 1e-4f);
    st->opt.groups[1].lr_mult = 10.0f;
    sg_rng_init(&st->data, seed, sg_rng_stream(SG_RNG_DATA_ORDER, 0, 0));
    st->iter = 0;
}

static void run_free(run_state *st)
{
    sg_param_set_free(&st->model);
    sg_param_set_free(&st->ema);
    sg_sgd_free(&st->opt);
}

/* Steps drawing each batch from the data generator; the label draws take an
 * odd number of words, so a checkpoint lands mid-block (used != 4). */
static void run_steps(run_state *st, int steps)
{
    sg_ctx ctx;
    sg_ctx_init(&ctx);
    for (int k = 0; k < steps; k++, st->iter++) {
        sg_tensor *x = sg_tensor_new(&ctx, SG_F32, 4, (const int[]){N, 3, HW, HW});
        sg_tensor *y = sg_tensor_new(&ctx, SG_I32, 3, (const int[]){N, HW, HW});
        sg_rng_fill_normal(&st->data, x->data, sg_numel(x), 0.0f, 1.0f);
        for (size_t i = 0; i < sg_numel(y); i++) y->i32[i] = (int32_t)sg_rng_below(&st->data, K);
        (void)sg_rng_u32(&st->data);
        sg_param_zero_grad(&st->model);
        sg_tensor *loss = tiny_net_loss(&ctx, &st->model, x, y);
        sg_backward(&ctx, loss);
        sg_sgd_step(&st->opt, &st->model, sg_poly_lr(0.05f, (long)st->iter, 6, 0.9f));
        sg_ema_update(&st->ema, &st->model, 0.99f, false);
        sg_ctx_reset(&ctx);
    }
    sg_ctx_free(&ctx);
}

static int differing(const sg_param_set *a, const sg_param_set *b)
{
    int bad = 0;
    for (int i = 0; i < a->n_params; i++)
        bad += !same_bits(a->params[i].t->data, b->params[i].t->data, sg_numel(a->params[i].t) * sizeof(float));
    for (int i = 0; i < a->n_buffers; i++)
        bad += !same_bits(a->buffers[i].t->data, b->buffers[i].t->data, sg_numel(a->buffers[i].t) * sizeof(float));
    return bad;
}

static sg_checkpoint ckpt_of(run_state *st)
{
    sg_checkpoint ck = {.model = &st->model, .opt = &st->opt, .ema = &st->ema, .iteration = st->iter, .n_rngs = 1};
    ck.rngs[0] = (sg_ckpt_rng){"data", &st->data};
    return ck;
}

static void test_resume(void)
{
    const char *path = tmp_path("ckpt.safetensors");
    sg_err err;
    run_state ref, a, b;
    run_init(&ref, 11);
    run_steps(&ref, 6);

    run_init(&a, 11);
    run_steps(&a, 3);
    sg_checkpoint ck = ckpt_of(&a);
    sg_checkpoint_set_meta(&ck, "config_hash", "0123abcd");
    sg_checkpoint_set_meta(&ck, "git", "v0-12-gdeadbee");
    int rc = sg_checkpoint_save(&ck, path, &err);
    tap_ok(rc == 0 && a.data.used != 4, "save a checkpoint after 3 steps, generator mid-block (used %d)%s%s",
           a.data.used, rc ? ": " : "", rc ? err.msg : "");

    run_init(&b, 99);
    sg_checkpoint lk = ckpt_of(&b);
    rc = sg_checkpoint_load(&lk, path, &err);
    tap_ok(rc == 0, "load into freshly built sets%s%s", rc ? ": " : "", rc ? err.msg : "");
    b.iter = lk.iteration;
    tap_ok(lk.iteration == 3 && b.opt.steps == 3 && differing(&a.model, &b.model) == 0 &&
               differing(&a.ema, &b.ema) == 0,
           "iteration, steps, model and EMA restored");
    bool mom = true;
    for (int i = 0; i < a.model.n_params; i++)
        mom = mom && b.opt.bufs[i] &&
              same_bits(a.opt.bufs[i], b.opt.bufs[i], sg_numel(a.model.params[i].t) * sizeof(float));
    tap_ok(mom, "momentum buffers restored");
    tap_ok(lk.n_meta == 2 && sg_checkpoint_get_meta(&lk, "git") &&
               strcmp(sg_checkpoint_get_meta(&lk, "git"), "v0-12-gdeadbee") == 0 &&
               strcmp(sg_checkpoint_get_meta(&lk, "config_hash"), "0123abcd") == 0,
           "metadata restored");
    sg_rng r1 = a.data, r2 = b.data;
    bool same = true;
    for (int i = 0; i < 9; i++) same = same && sg_rng_u32(&r1) == sg_rng_u32(&r2);
    tap_ok(same, "the restored generator continues the same sequence");

    run_steps(&b, 3);
    tap_ok(differing(&ref.model, &b.model) == 0 && differing(&ref.ema, &b.ema) == 0 && b.iter == 6,
           "3 more steps after resume give bitwise the weights, BN stats and EMA of 6 steps (%d, %d entries differ)",
           differing(&ref.model, &b.model), differing(&ref.ema, &b.ema));
    mom = true;
    for (int i = 0; i < ref.model.n_params; i++)
        mom = mom && same_bits(ref.opt.bufs[i], b.opt.bufs[i], sg_numel(ref.model.params[i].t) * sizeof(float));
    tap_ok(mom && sg_rng_u32(&ref.data) == sg_rng_u32(&b.data), "and the same momentum and generator state");
    /* A flipped byte in the tensor data, or the iteration entry edited,
     * fails the digest instead of resuming silently. */
    {
        size_t len = 0;
        unsigned char *bytes = slurp(path, &len);
        const char *flip = tmp_path("flip.safetensors");
        bytes[len - 20] ^= 0x01;
        spit(flip, bytes, len);
        run_state d;
        run_init(&d, 99);
        sg_checkpoint dk = ckpt_of(&d);
        rc = sg_checkpoint_load(&dk, flip, &err);
        tap_ok(rc != 0 && strstr(err.msg, flip) && strstr(err.msg, "do not match the checkpoint's digest"),
               "a flipped data byte is refused: %s", err.msg);
        bytes[len - 20] ^= 0x01;
        sg_st_file sf;
        sg_st_open(&sf, path, &err);
        const sg_st_tensor *it = sg_st_find(&sf, "iteration");
        size_t off = (size_t)(it->data - sf.bytes);
        sg_st_close(&sf);
        bytes[off] ^= 0x02; /* iteration 3 -> 1 */
        spit(flip, bytes, len);
        rc = sg_checkpoint_load(&dk, flip, &err);
        tap_ok(rc != 0 && strstr(err.msg, "digest"), "an edited iteration entry is refused: %s", err.msg);
        run_free(&d);
        free(bytes);
        unlink(flip);
    }
    /* The control: without the load, the fresh run does not match. */
    run_state c;
    run_init(&c, 99);
    run_steps(&c, 3);
    tap_ok(differing(&ref.model, &c.model) > 0, "(control) a fresh run without the checkpoint differs");
    run_free(&c);

    /* Strict mismatches: a model without bn2.bias (specs[6]), with conv1.bias
     * (specs[1]) of another shape and an extra entry; and no EMA, optimizer
     * or generator requested although the file holds them. */
    sg_param_set bad;
    build_net(&bad, 5, 1u << 1 | 1u << 6);
    sg_param_add(&bad, "conv1.bias", 0, 1, (const int[]){C / 2});
    sg_param_add(&bad, "extra.weight", 0, 1, (const int[]){C});
    float before = bad.params[0].t->data[0];
    sg_checkpoint bk = {.model = &bad};
    rc = sg_checkpoint_load(&bk, path, &err);
    tap_ok(rc != 0 && strstr(err.msg, path) && strstr(err.msg, "1 missing") && strstr(err.msg, "model/extra.weight") &&
               strstr(err.msg, "model/bn2.bias") && strstr(err.msg, "model/conv1.bias (file F32 [8], expected [4]") &&
               strstr(err.msg, "ema/conv1.weight") && strstr(err.msg, "optim/steps") && strstr(err.msg, "rng/data") &&
               bad.params[0].t->data[0] == before,
           "a mismatching model is rejected with a list, untouched: %s", err.msg);
    sg_param_set_free(&bad);

    /* Asking for an EMA and a generator the file does not hold. */
    sg_checkpoint nk = {.model = &b.model};
    const char *no_ema = tmp_path("noema.safetensors");
    rc = sg_checkpoint_save(&nk, no_ema, &err);
    sg_rng other;
    sg_rng_init(&other, 1, 2);
    sg_checkpoint wk = {.model = &b.model, .ema = &b.ema, .n_rngs = 1};
    wk.rngs[0] = (sg_ckpt_rng){"aug", &other};
    rc = rc || sg_checkpoint_load(&wk, no_ema, &err) == 0;
    tap_ok(rc == 0 && strstr(err.msg, "ema/") && strstr(err.msg, "rng/aug") && other.counter == 0,
           "missing EMA and generator are errors: %s", err.msg);
    rc = sg_checkpoint_load(&nk, no_ema, &err);
    tap_ok(rc == 0, "a model-only checkpoint loads into a model-only request");

    rc = sg_checkpoint_load(&nk, py_path, &err);
    tap_ok(rc != 0 && strstr(err.msg, "not a semiseg checkpoint"), "a plain safetensors file is not a checkpoint: %s",
           err.msg);

    /* (f) a write that runs out of space leaves the previous checkpoint. */
    size_t len0 = 0, len1 = 0;
    unsigned char *old = slurp(path, &len0);
    int entries = count_entries();
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        struct rlimit rl = {1024, 1024};
        signal(SIGXFSZ, SIG_IGN);
        setrlimit(RLIMIT_FSIZE, &rl);
        sg_checkpoint ck2 = ckpt_of(&b);
        sg_err e;
        int r = sg_checkpoint_save(&ck2, path, &e);
        _exit(r == 0 ? 0 : (strstr(e.msg, path) ? 3 : 4));
    }
    int status;
    waitpid(pid, &status, 0);
    unsigned char *now = slurp(path, &len1);
    tap_ok(WIFEXITED(status) && WEXITSTATUS(status) == 3 && len0 > 1024,
           "a checkpoint write that hits the size limit fails naming the path (child status %d, %zu bytes)",
           WIFEXITED(status) ? WEXITSTATUS(status) : -1, len0);
    tap_ok(old && now && len0 == len1 && memcmp(old, now, len0) == 0 && count_entries() == entries,
           "the previous checkpoint is intact and no temporary is left");
    free(old);
    free(now);
    run_free(&ref);
    run_free(&a);
    run_free(&b);
}

static void cleanup(void)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    while ((e = readdir(d)))
        if (e->d_name[0] != '.') unlink(tmp_path(e->d_name));
    closedir(d);
    rmdir(dir);
}

/* (g) extra sets (a method's state: a second network with its optimizer, a
 * buffer-only set of queues) are saved under their prefixes and restored
 * exactly, strictly; bad prefixes are programmer errors. */
static void save_bad_prefix_(void *arg)
{
    run_state *st = arg;
    sg_checkpoint ck = ckpt_of(st);
    ck.n_extra = 1;
    ck.extra[0] = (sg_ckpt_part){"ema/", &st->ema, NULL};
    sg_err err;
    sg_checkpoint_save(&ck, tmp_path("bad-prefix.safetensors"), &err);
}

static void test_extra_sets(void)
{
    const char *path = tmp_path("extra.safetensors");
    sg_err err;
    run_state a, a2, b, b2;
    run_init(&a, 21);
    run_init(&a2, 22);
    run_steps(&a, 2);
    run_steps(&a2, 3);
    sg_param_set qa, qb;
    sg_param_set_init(&qa);
    sg_param_set_init(&qb);
    sg_tensor *ta = sg_buffer_add(&qa, "0.rows", 2, (const int[]){4, 3});
    sg_tensor *tb = sg_buffer_add(&qb, "0.rows", 2, (const int[]){4, 3});
    for (int i = 0; i < 12; i++) ta->data[i] = (float)i * 0.25f - 1.0f;
    sg_checkpoint ck = ckpt_of(&a);
    ck.n_extra = 2;
    ck.extra[0] = (sg_ckpt_part){"student_r/", &a2.model, &a2.opt};
    ck.extra[1] = (sg_ckpt_part){"queue/", &qa, NULL};
    int rc = sg_checkpoint_save(&ck, path, &err);
    tap_ok(rc == 0, "save with a second network + optimizer and a queue set%s%s", rc ? ": " : "", rc ? err.msg : "");

    run_init(&b, 91);
    run_init(&b2, 92);
    sg_checkpoint lk = ckpt_of(&b);
    lk.n_extra = 2;
    lk.extra[0] = (sg_ckpt_part){"student_r/", &b2.model, &b2.opt};
    lk.extra[1] = (sg_ckpt_part){"queue/", &qb, NULL};
    rc = sg_checkpoint_load(&lk, path, &err);
    bool mom = rc == 0;
    for (int i = 0; mom && i < a2.model.n_params; i++)
        mom = b2.opt.bufs[i] && same_bits(a2.opt.bufs[i], b2.opt.bufs[i], sg_numel(a2.model.params[i].t) * sizeof(float));
    tap_ok(rc == 0 && differing(&a.model, &b.model) == 0 && differing(&a2.model, &b2.model) == 0 && b.opt.steps == 2 &&
               b2.opt.steps == 3 && mom && same_bits(ta->data, tb->data, 12 * sizeof(float)),
           "both networks, both optimizers (steps 2 and 3, momentum) and the queue are restored%s%s", rc ? ": " : "",
           rc ? err.msg : "");

    /* Strict: a request without the extra sets finds their entries
     * unexpected; one with a set the file lacks finds it missing. */
    sg_checkpoint plain = ckpt_of(&b);
    rc = sg_checkpoint_load(&plain, path, &err);
    tap_ok(rc != 0 && strstr(err.msg, "student_r/conv1.weight") && strstr(err.msg, "student_r/optim/steps") &&
               strstr(err.msg, "queue/0.rows"),
           "extra sets the request lacks are unexpected entries: %.200s", err.msg);
    sg_checkpoint more = lk;
    more.n_extra = 3;
    more.extra[2] = (sg_ckpt_part){"teacher_r/", &b2.ema, NULL};
    rc = sg_checkpoint_load(&more, path, &err);
    tap_ok(rc != 0 && strstr(err.msg, "teacher_r/conv1.weight"), "an extra set the file lacks is missing: %.200s",
           err.msg);
    const char *const want[] = {"sg_checkpoint_save", "ema/"};
    tap_ok(sg_expect_abort(save_bad_prefix_, &a, want, 2), "a reserved prefix is a programmer error");
    run_free(&a);
    run_free(&a2);
    run_free(&b);
    run_free(&b2);
    sg_param_set_free(&qa);
    sg_param_set_free(&qb);
    unlink(path);
}

int main(void)
{
    const char *top = getenv("top_srcdir") ? getenv("top_srcdir") : ".";
    snprintf(py_path, sizeof py_path, "%s/tests/data/checkpoint_py.safetensors", top);
    snprintf(dir, sizeof dir, "%s/semiseg-ckpt.XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    if (!mkdtemp(dir)) tap_skip_all("cannot create a temp dir");
    test_roundtrip();
    test_python_file(py_path);
    test_weights(py_path);
    test_corruption();
    test_resume();
    test_extra_sets();
    cleanup();
    return tap_done();
}
