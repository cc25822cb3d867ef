/*
 * test_config.c: the configuration module (config.h): parsing with line
 * numbers, typed getters and their defaults, range and syntax errors naming
 * file:line or --set, --set overrides, unknown keys, duplicates, the
 * resolved record (values normalised, origins) and the hash (independent of
 * where a value came from, sensitive to the value), misuse aborts; layers:
 * include (relative to the including file, nested, its keys overridden by
 * the including file's, origins "file:line (over base:line)"), unset, and
 * the errors that remain (a key twice in one file or in two separate loads,
 * a second include, include inside a section, a missing included file, a
 * cycle, unset of a key no included file gives).
 */
#include "semiseg/config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "expect_abort.h"
#include "tap.h"

static const char *text =
    "# a comment\n"
    "[train]\n"
    "lr = 0.030\n"
    "iterations = 900   ; inline comment\n"
    "\n"
    "[model]\n"
    "widths = 16, 32,64 ,128\n"
    "multi_grid = yes\n"
    "stem = deep\n"
    "mean = 0.5,0.25,1e-1\n"
    "name = a b c\n";

static sg_config *load_(const char *t, sg_err *err)
{
    sg_config *c = sg_config_new();
    if (sg_config_load_string(c, t, "t.conf", err)) {
        sg_config_free(c);
        return NULL;
    }
    return c;
}

static int has_(const char *msg, const char *want)
{
    int ok = strstr(msg, want) != NULL;
    if (!ok) tap_diag("message '%s' lacks '%s'", msg, want);
    return ok;
}

static void write_(const char *dir, const char *name, const char *body)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *fp = fopen(path, "w");
    if (fp) {
        fputs(body, fp);
        fclose(fp);
    }
}

/* Loads dir/name into a new config; NULL with err set on failure. */
static sg_config *load_file_(const char *dir, const char *name, sg_err *err)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    sg_config *c = sg_config_new();
    if (sg_config_load(c, path, err)) {
        sg_config_free(c);
        return NULL;
    }
    return c;
}

static int origin_is_(const sg_config *c, const char *key, const char *dir, const char *want)
{
    char full[512];
    snprintf(full, sizeof full, want, dir, dir);
    const char *o = sg_config_origin(c, key);
    int ok = o && !strcmp(o, full);
    if (!ok) tap_diag("origin of %s: '%s', expected '%s'", key, o ? o : "(none)", full);
    return ok;
}

/* include, override, unset and their errors (config.h "Layers"). */
static void layers_(void)
{
    sg_err err = {{0}};
    char dir[] = "/tmp/test_config_layers.XXXXXX";
    if (!mkdtemp(dir)) {
        tap_ok(0, "temp dir");
        return;
    }
    char sub[300];
    snprintf(sub, sizeof sub, "%s/m", dir);
    mkdir(sub, 0755);
    write_(dir, "base.conf", "# base\n[a]\nx = 1\ny = 2\nz = 3\n[b]\nw = 4\n");
    write_(dir, "m/top.conf", "# top\ninclude = ../base.conf\n\n[a]\ny = 20\n[c]\nv = 5\n");
    sg_config *c = load_file_(dir, "m/top.conf", &err);
    tap_ok(c != NULL, "include relative to the including file: %s", c ? "ok" : err.msg);
    if (!c) return;
    long x, y, z, w, v;
    tap_ok(!sg_config_int(c, "a.x", 0, 0, 99, &x, &err) && x == 1 && !sg_config_int(c, "a.y", 0, 0, 99, &y, &err) &&
               y == 20 && !sg_config_int(c, "a.z", 0, 0, 99, &z, &err) && z == 3 &&
               !sg_config_int(c, "b.w", 0, 0, 99, &w, &err) && w == 4 && !sg_config_int(c, "c.v", 0, 0, 99, &v, &err) &&
               v == 5,
           "included keys, the including file's key wins");
    tap_ok(origin_is_(c, "a.x", dir, "%s/base.conf:3"), "origin of an included key: its file:line, path normalised");
    tap_ok(origin_is_(c, "a.y", dir, "%s/m/top.conf:5 (over %s/base.conf:4)"),
           "origin of an override names the winner and the value it replaced");
    tap_ok(!sg_config_check_unused(c, &err), "every key read");
    /* The same values without layers hash the same (run_hash_ excludes origins). */
    sg_config *flat = load_("[a]\nx = 1\ny = 20\nz = 3\n[b]\nw = 4\n[c]\nv = 5\n", &err);
    sg_config_int(flat, "a.x", 0, 0, 99, &x, &err);
    sg_config_int(flat, "a.y", 0, 0, 99, &y, &err);
    sg_config_int(flat, "a.z", 0, 0, 99, &z, &err);
    sg_config_int(flat, "b.w", 0, 0, 99, &w, &err);
    sg_config_int(flat, "c.v", 0, 0, 99, &v, &err);
    tap_ok(sg_config_hash(flat, NULL) == sg_config_hash(c, NULL), "layered and flat configs hash equal");
    sg_config_free(flat);
    /* --set still beats every file. */
    tap_ok(!sg_config_set(c, "a.y=7", &err) && !sg_config_int(c, "a.y", 0, 0, 99, &y, &err) && y == 7 &&
               !strcmp(sg_config_origin(c, "a.y"), "--set"),
           "--set beats the including file");
    sg_config_free(c);

    /* Nested includes: the nearest layer wins; an unread included key names its file. */
    write_(dir, "m/mid.conf", "include = ../base.conf\n[a]\nz = 30\nq = 9\n");
    write_(dir, "m/top2.conf", "include = mid.conf\n[a]\nz = 300\n");
    c = load_file_(dir, "m/top2.conf", &err);
    tap_ok(c && !sg_config_int(c, "a.z", 0, 0, 999, &z, &err) && z == 300 &&
               origin_is_(c, "a.z", dir, "%s/m/top2.conf:3 (over %s/m/mid.conf:3)"),
           "nested include: the top file wins, the origin names the layer it replaced");
    if (c) {
        sg_config_int(c, "a.x", 0, 0, 99, &x, &err);
        sg_config_int(c, "a.y", 0, 0, 99, &y, &err);
        sg_config_int(c, "b.w", 0, 0, 99, &w, &err);
        char want[512];
        snprintf(want, sizeof want, "%s/m/mid.conf:4: unknown key a.q", dir);
        tap_ok(sg_config_check_unused(c, &err) && has_(err.msg, want), "unknown key in an included file: its file:line");
        sg_config_free(c);
    }

    /* unset removes an included key: its default applies. */
    write_(dir, "m/unset.conf", "include = ../base.conf\nunset = a.x, b.w\nunset = a.z\n[a]\ny = 2\n");
    c = load_file_(dir, "m/unset.conf", &err);
    tap_ok(c && !sg_config_has(c, "a.x") && !sg_config_has(c, "b.w") && !sg_config_has(c, "a.z") &&
               !sg_config_int(c, "a.x", 42, 0, 99, &x, &err) && x == 42 && !sg_config_int(c, "a.y", 0, 0, 99, &y, &err) &&
               !sg_config_check_unused(c, &err),
           "unset: the key is gone, its default applies, it is not unknown");
    sg_config_free(c);

    /* What stays an error. */
    char want[512];
    write_(dir, "m/dup.conf", "include = ../base.conf\n[a]\ny = 5\ny = 6\n");
    snprintf(want, sizeof want, "%s/m/dup.conf:4: a.y given twice (first at %s/m/dup.conf:3 (over", dir, dir);
    tap_ok(!load_file_(dir, "m/dup.conf", &err) && has_(err.msg, want), "a key twice in the including file");
    write_(dir, "dupbase.conf", "[a]\nx = 1\nx = 2\n");
    write_(dir, "m/inc_dup.conf", "include = ../dupbase.conf\n");
    snprintf(want, sizeof want, "%s/dupbase.conf:3: a.x given twice (first at %s/dupbase.conf:2)", dir, dir);
    tap_ok(!load_file_(dir, "m/inc_dup.conf", &err) && has_(err.msg, want), "a key twice in the included file");
    write_(dir, "m/two.conf", "include = ../base.conf\ninclude = ../dupbase.conf\n");
    tap_ok(!load_file_(dir, "m/two.conf", &err) && has_(err.msg, "two.conf:2: a second include (the first is at line 1)"),
           "one include per file");
    write_(dir, "m/late.conf", "[a]\ny = 1\ninclude = ../base.conf\n");
    tap_ok(!load_file_(dir, "m/late.conf", &err) && has_(err.msg, "late.conf:3: include must come before the first [section]"),
           "include inside a section");
    write_(dir, "m/missing.conf", "\ninclude = nothere.conf\n");
    tap_ok(!load_file_(dir, "m/missing.conf", &err) &&
               has_(err.msg, "missing.conf:2: include = nothere.conf: ") && has_(err.msg, "m/nothere.conf: cannot open"),
           "missing included file: the include line and the path");
    write_(dir, "m/cycle.conf", "include = cycle.conf\n");
    tap_ok(!load_file_(dir, "m/cycle.conf", &err) && has_(err.msg, "nested more than"), "include cycle");
    write_(dir, "m/badunset.conf", "include = ../base.conf\nunset = a.nothere\n");
    tap_ok(!load_file_(dir, "m/badunset.conf", &err) &&
               has_(err.msg, "badunset.conf:2: unset a.nothere: no included file gives it"),
           "unset of a key no included file gives");
    write_(dir, "m/noinc.conf", "unset = a.x\n[a]\nx = 1\n");
    tap_ok(!load_file_(dir, "m/noinc.conf", &err) && has_(err.msg, "noinc.conf:1: unset a.x: no included file gives it"),
           "unset without include");
    /* Two separate loads (not layers) still may not give one key twice. */
    c = load_file_(dir, "base.conf", &err);
    tap_ok(c && sg_config_load_string(c, "[a]\nx = 5\n", "other.conf", &err) &&
               has_(err.msg, "other.conf:2: a.x given twice (first at"),
           "a key in two separately loaded files");
    sg_config_free(c);

    const char *names[] = {"base.conf", "dupbase.conf", "m/top.conf", "m/mid.conf", "m/top2.conf", "m/unset.conf",
                           "m/dup.conf", "m/inc_dup.conf", "m/two.conf", "m/late.conf", "m/missing.conf",
                           "m/cycle.conf", "m/badunset.conf", "m/noinc.conf"};
    for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
        char path[512];
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        unlink(path);
    }
    rmdir(sub);
    rmdir(dir);
}

static void bad_key_(void *arg)
{
    long v;
    sg_config_int(arg, "nodot", 0, 0, 1, &v, NULL);
}

int main(void)
{
    sg_err err = {{0}};
    sg_config *c = load_(text, &err);
    tap_ok(c != NULL, "parse: %s", c ? "ok" : err.msg);
    if (!c) return tap_done();

    /* Getters: present values, defaults, normalised forms. */
    long it = 0, missing = 0;
    double lr = 0;
    float mean[3] = {0};
    int widths[4] = {0}, stem = -1;
    bool mg = false, flag = true;
    const char *name = NULL;
    static const char *const stems[] = {"torchvision", "deep", NULL};
    tap_ok(!sg_config_int(c, "train.iterations", 1, 1, 100000, &it, &err) && it == 900, "int read: %ld", it);
    tap_ok(!sg_config_double(c, "train.lr", 1, 0, 10, &lr, &err) && lr == 0.03, "double read");
    tap_ok(!sg_config_int(c, "train.epochs", 80, 0, 1000, &missing, &err) && missing == 80, "int default");
    tap_ok(!sg_config_ints(c, "model.widths", (int[]){1, 2, 3, 4}, 4, 1, 4096, widths, &err) && widths[0] == 16 &&
               widths[1] == 32 && widths[2] == 64 && widths[3] == 128,
           "int list with blanks");
    tap_ok(!sg_config_floats(c, "model.mean", (float[]){0, 0, 0}, 3, mean, &err) && mean[2] == 0.1f,
           "float list");
    tap_ok(!sg_config_bool(c, "model.multi_grid", false, &mg, &err) && mg, "bool yes");
    tap_ok(!sg_config_bool(c, "model.fp", false, &flag, &err) && !flag, "bool default");
    tap_ok(!sg_config_choice(c, "model.stem", "torchvision", stems, &stem, &err) && stem == 1, "choice");
    tap_ok(!sg_config_string(c, "model.name", NULL, &name, &err) && !strcmp(name, "a b c"), "string");
    /* A second reader of a key (the driver, then a method's init) must not
     * invalidate the first one's string: read twice alike, the first pointer
     * stays the stored copy (an ASan build would flag a freed one). */
    const char *first = NULL, *again = NULL;
    tap_ok(!sg_config_string(c, "model.name", NULL, &first, &err) &&
               !sg_config_string(c, "model.name", "x", &again, &err) && first == again && first == name,
           "a string read again alike keeps its storage");
    tap_ok(sg_config_has(c, "train.lr") && !sg_config_has(c, "train.epochs"), "has");
    tap_ok(!strcmp(sg_config_origin(c, "train.lr"), "t.conf:3") && !sg_config_origin(c, "train.epochs") &&
               !sg_config_origin(c, "train.nothing"),
           "origin: file:line of a given key, NULL for a default or an absent key");
    tap_ok(!sg_config_check_unused(c, &err), "every key read: no unknown key");

    /* The resolved record: normalised values and origins, sorted. */
    char dir[] = "/tmp/test_config.XXXXXX";
    tap_ok(mkdtemp(dir) != NULL, "temp dir");
    char path[256];
    snprintf(path, sizeof path, "%s/config.resolved", dir);
    tap_ok(!sg_config_write_resolved(c, path, &err), "write resolved");
    char buf[4096] = "";
    FILE *fp = fopen(path, "r");
    size_t n = fp ? fread(buf, 1, sizeof buf - 1, fp) : 0;
    buf[n] = 0;
    if (fp) fclose(fp);
    tap_ok(has_(buf, "[model]\nfp = false ; default\nmean = 0.5,0.25,0.1 ; t.conf:10\nmulti_grid = true ; t.conf:8\n"
                     "name = a b c ; t.conf:11\nstem = deep ; t.conf:9\nwidths = 16,32,64,128 ; t.conf:7\n"),
           "resolved [model]");
    tap_ok(has_(buf, "[train]\nepochs = 80 ; default\niterations = 900 ; t.conf:4\nlr = 0.03 ; t.conf:3\n"),
           "resolved [train]");
    /* The resolved file reads back as a config with the same hash. */
    sg_config *back = sg_config_new();
    tap_ok(!sg_config_load(back, path, &err), "resolved file parses: %s", err.msg);
    sg_config_double(back, "train.lr", 1, 0, 10, &lr, &err);
    sg_config_int(back, "train.iterations", 1, 1, 100000, &it, &err);
    sg_config_int(back, "train.epochs", 1, 0, 1000, &missing, &err);
    sg_config_ints(back, "model.widths", (int[]){1, 2, 3, 4}, 4, 1, 4096, widths, &err);
    sg_config_floats(back, "model.mean", (float[]){0, 0, 0}, 3, mean, &err);
    sg_config_bool(back, "model.multi_grid", false, &mg, &err);
    sg_config_bool(back, "model.fp", true, &flag, &err);
    sg_config_choice(back, "model.stem", "torchvision", stems, &stem, &err);
    sg_config_string(back, "model.name", NULL, &name, &err);
    tap_ok(sg_config_hash(back, NULL) == sg_config_hash(c, NULL), "hash independent of origins");
    tap_ok(!sg_config_check_unused(back, &err), "resolved file: no unknown key");
    sg_config_free(back);
    unlink(path);
    rmdir(dir);

    /* --set overrides change the value, the origin and the hash. */
    uint64_t h0 = sg_config_hash(c, NULL);
    tap_ok(!sg_config_set(c, " train.lr = 0.5 ", &err), "--set with blanks");
    tap_ok(!sg_config_double(c, "train.lr", 1, 0, 10, &lr, &err) && lr == 0.5, "--set value wins");
    tap_ok(!strcmp(sg_config_origin(c, "train.lr"), "--set"), "origin of an override: --set");
    tap_ok(sg_config_hash(c, NULL) != h0, "hash follows the value");
    static const char *const skip[] = {"train", NULL};
    uint64_t hs = sg_config_hash(c, skip);
    sg_config_set(c, "train.lr=0.25", &err);
    sg_config_double(c, "train.lr", 1, 0, 10, &lr, &err);
    tap_ok(sg_config_hash(c, skip) == hs, "skipped sections do not enter the hash");
    /* Published FNV-1a 64 test vectors (Fowler/Noll/Vo, "a" and "foobar"). */
    tap_ok(sg_fnv1a(SG_FNV1A_BASIS, "a") == 0xaf63dc4c8601ec8cull, "FNV-1a 64 of \"a\"");
    tap_ok(sg_fnv1a(sg_fnv1a(SG_FNV1A_BASIS, "foo"), "bar") == 0x85944171f73967e8ull, "FNV-1a 64 of \"foobar\"");
    static const char *const skip_lr[] = {"train.lr", NULL}, *const skip_l[] = {"train.l", NULL};
    uint64_t hk = sg_config_hash(c, skip_lr), hl = sg_config_hash(c, skip_l);
    sg_config_set(c, "train.lr=0.125", &err);
    sg_config_double(c, "train.lr", 1, 0, 10, &lr, &err);
    tap_ok(sg_config_hash(c, skip_lr) == hk, "a skipped key does not enter the hash");
    tap_ok(sg_config_hash(c, skip_lr) != sg_config_hash(c, NULL), "a skipped key is left out");
    tap_ok(sg_config_hash(c, skip_l) != hl, "a key is skipped by its whole name only");
    tap_ok(sg_config_set(c, "trainlr=1", &err) && has_(err.msg, "--set trainlr=1: expected section.key=value"),
           "--set without a section");
    tap_ok(sg_config_set(c, "train.lr", &err) && has_(err.msg, "expected section.key=value"), "--set without =");
    tap_ok(!sg_config_set(c, "train.warmup=3", &err), "--set of a new key is accepted");
    tap_ok(sg_config_check_unused(c, &err) && has_(err.msg, "--set train.warmup=3: unknown key train.warmup"),
           "an unread --set key is unknown");
    sg_config_free(c);

    /* Errors name file:line. */
    c = load_("[a]\nx = 1\ny = 2\nz = q\n", &err);
    long v;
    tap_ok(sg_config_int(c, "a.z", 0, 0, 9, &v, &err) && has_(err.msg, "t.conf:4: a.z = q: not an integer"),
           "not an integer");
    tap_ok(sg_config_int(c, "a.y", 0, 0, 1, &v, &err) && has_(err.msg, "t.conf:3: a.y = 2: out of range [0, 1]"),
           "out of range");
    tap_ok(sg_config_check_unused(c, &err) && has_(err.msg, "t.conf:2: unknown key a.x"), "unknown key in file");
    double d;
    tap_ok(!sg_config_set(c, "a.x=inf", &err) && sg_config_double(c, "a.x", 0, -1e30, 1e30, &d, &err) &&
               has_(err.msg, "--set: a.x = inf: not a number"),
           "non-finite rejected, origin --set");
    bool b;
    sg_config_set(c, "a.b=maybe", &err);
    tap_ok(sg_config_bool(c, "a.b", false, &b, &err) && has_(err.msg, "not a boolean"), "bad boolean");
    int ch;
    tap_ok(sg_config_choice(c, "a.z", "x", (const char *const[]){"x", "y", NULL}, &ch, &err) &&
               has_(err.msg, "t.conf:4: a.z = q: expected one of: x y"),
           "bad choice");
    int two[2];
    sg_config_set(c, "a.l=1,2,3", &err);
    tap_ok(sg_config_ints(c, "a.l", (int[]){0, 0}, 2, 0, 9, two, &err) && has_(err.msg, "expected 2 comma-separated"),
           "wrong list length");
    const char *s;
    tap_ok(sg_config_string(c, "a.none", NULL, &s, &err) && has_(err.msg, "a.none is required"), "required string");
    tap_ok(sg_config_require(c, "a.none2", &err) && has_(err.msg, "a.none2 is required"), "require");
    sg_config_free(c);

    tap_ok(load_("[a]\nx = 1\n\n[a]\nx = 2\n", &err) == NULL && has_(err.msg, "t.conf:5: a.x given twice (first at t.conf:2)"),
           "duplicate key");
    tap_ok(load_("x = 1\n", &err) == NULL && has_(err.msg, "t.conf:1: key 'x' outside a [section]"), "no section");
    tap_ok(load_("[a]\nx = 1\n[b\n", &err) == NULL && has_(err.msg, "t.conf:3: syntax error"), "bad header");
    tap_ok(load_("[a]\nx = 1\njunk\n", &err) == NULL && has_(err.msg, "t.conf:3: syntax error"), "line without =");
    c = sg_config_new();
    tap_ok(sg_config_load(c, "/nonexistent/x.conf", &err) && has_(err.msg, "/nonexistent/x.conf: cannot open"),
           "missing file");
    /* A line longer than inih's buffer is refused (inih would cut it). */
    char longt[1200] = "[a]\nok = 1\nlong = ";
    memset(longt + strlen(longt), 'v', 600);
    strcat(longt, "\nbad = q\n");
    tap_ok(sg_config_load_string(c, longt, "t.conf", &err) && has_(err.msg, "t.conf:3: line longer than"),
           "a too long line is an error naming it");
    tap_ok(sg_expect_abort(bad_key_, c, (const char *const[]){"not section.key"}, 1), "key without a section aborts");
    sg_config_free(c);

    /* Numbers are written back in their shortest exact form, integer digits
     * kept: 10 is "10" (not "1e+01"), as a reader of config.resolved expects. */
    strcpy(dir, "/tmp/test_config.XXXXXX");
    c = load_("[n]\nten = 10.0\nbig = 1500\nsmall = 2.5e-5\nthird = 0.33333334\n", &err);
    double x;
    float f;
    tap_ok(c && !sg_config_double(c, "n.ten", 0, 0, 1e9, &x, &err) && !sg_config_double(c, "n.big", 0, 0, 1e9, &x, &err) &&
               !sg_config_double(c, "n.small", 0, 0, 1, &x, &err) && !sg_config_float(c, "n.third", 0, 0, 1, &f, &err) &&
               mkdtemp(dir) && snprintf(path, sizeof path, "%s/config.resolved", dir) > 0 &&
               !sg_config_write_resolved(c, path, &err),
           "numbers read and written");
    fp = fopen(path, "r");
    n = fp ? fread(buf, 1, sizeof buf - 1, fp) : 0;
    buf[n] = 0;
    if (fp) fclose(fp);
    tap_ok(has_(buf, "big = 1500 ;") && has_(buf, "ten = 10 ;") && has_(buf, "small = 2.5e-05 ;") &&
               has_(buf, "third = 0.33333334 ;"),
           "resolved numbers: 10, 1500, 2.5e-05, float 0.33333334");
    unlink(path);
    rmdir(dir);
    sg_config_free(c);
    layers_();
    return tap_done();
}
