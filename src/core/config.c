/*
 * config.c: configuration files, --set overrides, typed getters and the
 * resolved record (config.h).
 *
 * Files are parsed by inih (https://github.com/benhoyt/inih). inih's handler
 * does not receive the line number in the default build, so the file is fed
 * through ini_parse_stream with a reader that counts the lines it hands out:
 * when the handler runs, the counter is the line of the key being handled.
 *
 * Layers: a line `include = PATH` before the first [section] reads PATH
 * (relative to the including file's folder) at that point, so its keys come
 * first; the including file's own keys then replace them (the origin then
 * reads "file:line (over base:line)"), and `unset = section.key, ...` removes
 * included keys. Each file read gets a layer number and each top-level load a
 * load number: a key given twice in one layer, or by two separate loads, is
 * still an error.
 *
 * Every entry keeps its raw text and origin; a getter parses the raw text
 * (reporting origin on failure), marks the entry read and stores the
 * normalised value (integers in decimal, reals in the shortest form that
 * reads back to the same value, booleans as true/false, lists joined by
 * ","), which is what config.resolved and the hash contain.
 *
 * Covered by tests/test_config.c and tests/run_config_errors.sh.
 */
#include "semiseg/config.h"

#include <errno.h>
#include <ini.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "semiseg/io.h"

typedef struct cfg_entry_ {
    char *section, *name;
    char *raw;        /* the text as given; NULL: never given (a default) */
    char *origin;     /* "path:line", "--set" or "default" */
    char *value;      /* normalised value; NULL until read */
    bool read;
    int load;         /* the sg_config_load(_string) call that gave raw; 0: --set */
    int layer;        /* the file (an included one counts apart) that gave raw */
} cfg_entry_;

struct sg_config {
    cfg_entry_ *e;
    int n, cap;
    int loads, layers; /* counters of top-level loads and of files read */
};

static char *dup_(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = sg_xmalloc(n);
    memcpy(d, s, n);
    return d;
}

/* The same value again leaves the stored copy alone: a string a getter
 * returned stays valid when another reader (the driver, then a method's
 * init) reads the key again. */
static void replace_(char **dst, const char *s)
{
    if (*dst && s && !strcmp(*dst, s)) return;
    free(*dst);
    *dst = s ? dup_(s) : NULL;
}

static void trim_(char *s)
{
    size_t n = strlen(s);
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t')) s[--n] = 0;
    size_t k = strspn(s, " \t");
    memmove(s, s + k, n - k + 1);
}

sg_config *sg_config_new(void)
{
    return sg_xcalloc(1, sizeof(sg_config));
}

void sg_config_free(sg_config *c)
{
    if (!c) return;
    for (int i = 0; i < c->n; i++) {
        free(c->e[i].section);
        free(c->e[i].name);
        free(c->e[i].raw);
        free(c->e[i].origin);
        free(c->e[i].value);
    }
    free(c->e);
    free(c);
}

/* Splits "section.key" at the first '.'; false when either part is empty. */
static bool split_key_(const char *key, char *sec, size_t seclen, const char **name)
{
    const char *dot = strchr(key, '.');
    if (!dot || dot == key || !dot[1] || (size_t)(dot - key) >= seclen) return false;
    memcpy(sec, key, (size_t)(dot - key));
    sec[dot - key] = 0;
    *name = dot + 1;
    return true;
}

static cfg_entry_ *find2_(const sg_config *c, const char *sec, const char *name)
{
    for (int i = 0; i < c->n; i++)
        if (!strcmp(c->e[i].section, sec) && !strcmp(c->e[i].name, name)) return &c->e[i];
    return NULL;
}

static cfg_entry_ *find_(const sg_config *c, const char *key)
{
    char sec[256];
    const char *name;
    SG_CHECK(split_key_(key, sec, sizeof sec, &name), "sg_config: key '%s' is not section.key", key);
    return find2_(c, sec, name);
}

static cfg_entry_ *add_(sg_config *c, const char *sec, const char *name)
{
    if (c->n == c->cap) {
        c->cap = c->cap ? 2 * c->cap : 32;
        cfg_entry_ *e = sg_xcalloc((size_t)c->cap, sizeof *e);
        if (c->n) memcpy(e, c->e, (size_t)c->n * sizeof *e);
        free(c->e);
        c->e = e;
    }
    cfg_entry_ *e = &c->e[c->n++];
    memset(e, 0, sizeof *e);
    e->section = dup_(sec);
    e->name = dup_(name);
    return e;
}

/* ---- parsing ------------------------------------------------------------------ */
typedef struct parse_ctx_ {
    sg_config *c;
    const char *origin;
    const char *text;        /* string input: the rest of it */
    int line;                /* line of the text most recently handed to inih */
    int newlines;            /* complete lines handed out so far */
    int failed;
    sg_err *err;
    int load, layer, depth;  /* this top-level load, this file, include depth (0: top) */
    int include_line;        /* line of this file's include; 0: none yet */
} parse_ctx_;

/* Nesting limit of include (an include cycle ends here). */
#define SG_CFG_MAX_DEPTH 16

static int parse_(sg_config *c, const char *text, const char *origin, int load, int depth, sg_err *err);

/* fgets over the string, counting lines. A line longer than inih's buffer
 * would be cut and its rest parsed as another line, so it is an error. */
static char *reader_(char *str, int num, void *stream)
{
    parse_ctx_ *p = stream;
    if (p->failed || !*p->text || num < 2) return NULL;
    int k = 0;
    while (k < num - 1 && p->text[k]) {
        str[k] = p->text[k];
        if (p->text[k++] == '\n') break;
    }
    str[k] = 0;
    p->text += k;
    p->line = p->newlines + 1;
    if (str[k - 1] == '\n') {
        p->newlines++;
    } else if (*p->text) {
        sg_err_set(p->err, "%s:%d: line longer than %d characters", p->origin, p->line, num - 3);
        p->failed = 1;
        return NULL;
    }
    return str;
}

/* The whole file, NUL-terminated; NULL with err set. */
static char *read_file_(const char *path, sg_err *err)
{
    /* Only regular files: `include = /dev/zero` grew the buffer until memory
     * ran out, and a FIFO or /dev/stdin blocked (fuzzing, tests/fuzz/). */
    struct stat st;
    if (stat(path, &st) == 0 && !S_ISREG(st.st_mode)) {
        sg_err_set(err, "%s: not a regular file (a config file is read whole)", path);
        return NULL;
    }
    FILE *fp = fopen(path, "rb");
    if (!fp) {
        sg_err_set(err, "%s: cannot open config file: %s", path, strerror(errno));
        return NULL;
    }
    size_t cap = 4096, n = 0;
    char *buf = sg_xmalloc(cap);
    size_t got;
    while ((got = fread(buf + n, 1, cap - n - 1, fp)) > 0) {
        n += got;
        if (n + 1 == cap) {
            char *b = sg_xmalloc(cap * 2);
            memcpy(b, buf, n);
            free(buf);
            buf = b;
            cap *= 2;
        }
    }
    int bad = ferror(fp);
    fclose(fp);
    buf[n] = 0;
    if (bad || strlen(buf) != n) {
        sg_err_set(err, bad ? "%s: read error" : "%s: contains a NUL byte: not a config file", path);
        free(buf);
        return NULL;
    }
    return buf;
}

/* Removes "x/.." and "." components, so that an origin reads
 * "experiments/voc.conf", not "experiments/unimatch/../voc.conf". */
static void normalise_path_(char *path)
{
    bool abs = path[0] == '/';
    char *out = path + abs, *r = path;
    size_t len = 0; /* of the result after the leading '/' */
    while (*r) {
        while (*r == '/') r++;
        if (!*r) break;
        size_t k = strcspn(r, "/");
        if (k == 1 && r[0] == '.') {
            r += k;
            continue;
        }
        if (k == 2 && r[0] == '.' && r[1] == '.') {
            /* the last component of the result, if any and not "..". */
            size_t start = len;
            while (start > 0 && out[start - 1] != '/') start--;
            bool last_dotdot = len - start == 2 && out[start] == '.' && out[start + 1] == '.';
            if (len > 0 && !last_dotdot) {
                len = start > 0 ? start - 1 : 0;
                r += k;
                continue;
            }
            if (abs && len == 0) { /* "/.." is "/" */
                r += k;
                continue;
            }
        }
        if (len > 0) out[len++] = '/';
        memmove(out + len, r, k);
        len += k;
        r += k;
    }
    out[len] = 0;
    if (!abs && len == 0) strcpy(path, ".");
}

/* include = PATH: reads PATH (relative to this file's folder) into the
 * config now, before this file's own keys. */
static int include_(parse_ctx_ *p, const char *where, const char *value)
{
    if (p->include_line) {
        sg_err_set(p->err, "%s: a second include (the first is at line %d): one include per file", where,
                   p->include_line);
        return -1;
    }
    p->include_line = p->line;
    if (!value[0]) {
        sg_err_set(p->err, "%s: include = : expected a file name", where);
        return -1;
    }
    if (p->depth + 1 >= SG_CFG_MAX_DEPTH) {
        sg_err_set(p->err, "%s: include = %s: nested more than %d deep (an include cycle?)", where, value,
                   SG_CFG_MAX_DEPTH);
        return -1;
    }
    const char *slash = strrchr(p->origin, '/');
    size_t dlen = value[0] == '/' || !slash ? 0 : (size_t)(slash - p->origin) + 1;
    size_t n = dlen + strlen(value) + 1;
    char *joined = sg_xmalloc(n), *path = sg_xmalloc(n);
    memcpy(joined, p->origin, dlen);
    strcpy(joined + dlen, value);
    strcpy(path, joined);
    normalise_path_(path);
    /* The short name only when it is the same file (a symbolic link to a
     * folder makes "a/link/.." differ from "a"). */
    struct stat s1, s2;
    if (strcmp(path, joined) && (stat(path, &s1) || stat(joined, &s2) || s1.st_dev != s2.st_dev ||
                                 s1.st_ino != s2.st_ino))
        strcpy(path, joined);
    free(joined);
    sg_err inner = {{0}};
    char *text = read_file_(path, &inner);
    int rc = -1;
    if (!text)
        sg_err_set(p->err, "%s: include = %s: %s", where, value, inner.msg);
    else
        rc = parse_(p->c, text, path, p->load, p->depth + 1, p->err);
    free(text);
    free(path);
    return rc;
}

/* unset = section.key, ...: removes keys that an included file gave. */
static int unset_(parse_ctx_ *p, const char *where, const char *value)
{
    char buf[4096];
    snprintf(buf, sizeof buf, "%s", value);
    for (char *tok = strtok(buf, ","); tok; tok = strtok(NULL, ",")) {
        trim_(tok);
        char sec[256];
        const char *name;
        if (!split_key_(tok, sec, sizeof sec, &name)) {
            sg_err_set(p->err, "%s: unset %s: expected section.key", where, tok);
            return -1;
        }
        cfg_entry_ *e = find2_(p->c, sec, name);
        if (!e || !e->raw || e->load != p->load || e->layer == p->layer) {
            sg_err_set(p->err, "%s: unset %s: no included file gives it", where, tok);
            return -1;
        }
        replace_(&e->raw, NULL);
        replace_(&e->origin, NULL);
        e->load = e->layer = 0;
    }
    return 0;
}

static int handler_(void *user, const char *section, const char *name, const char *value)
{
    parse_ctx_ *p = user;
    if (p->failed) return 0;
    char where[4200];
    snprintf(where, sizeof where, "%s:%d", p->origin, p->line);
    bool directive = !strcmp(name, "include") || !strcmp(name, "unset");
    if (!section[0] && directive) {
        if ((name[0] == 'i' ? include_ : unset_)(p, where, value)) p->failed = 1;
        return !p->failed;
    }
    if (directive) {
        sg_err_set(p->err, "%s: %s must come before the first [section]", where, name);
        p->failed = 1;
        return 0;
    }
    if (!section[0]) {
        sg_err_set(p->err, "%s: key '%s' outside a [section]", where, name);
        p->failed = 1;
        return 0;
    }
    if (strchr(section, '.') || !name[0]) {
        sg_err_set(p->err, "%s: bad %s '%s'", where, name[0] ? "section name" : "key",
                   name[0] ? section : "");
        p->failed = 1;
        return 0;
    }
    cfg_entry_ *e = find2_(p->c, section, name);
    char over[8400];
    over[0] = 0;
    if (e && e->raw) {
        /* Only a value from a file this one includes may be replaced. */
        if (e->load != p->load || e->layer == p->layer) {
            sg_err_set(p->err, "%s: %s.%s given twice (first at %s)", where, section, name, e->origin);
            p->failed = 1;
            return 0;
        }
        const char *cut = strstr(e->origin, " (over "); /* "base:12", not its own "(over ...)" */
        int k = cut ? (int)(cut - e->origin) : (int)strlen(e->origin);
        snprintf(over, sizeof over, "%s (over %.*s)", where, k, e->origin);
    }
    if (!e) e = add_(p->c, section, name);
    replace_(&e->raw, value);
    replace_(&e->origin, over[0] ? over : where);
    e->load = p->load;
    e->layer = p->layer;
    return 1;
}

/* One file's text (top level or included) into c. */
static int parse_(sg_config *c, const char *text, const char *origin, int load, int depth, sg_err *err)
{
    parse_ctx_ p = {.c = c, .origin = origin, .text = text, .err = err, .load = load, .layer = ++c->layers,
                    .depth = depth};
    int rc = ini_parse_stream(reader_, &p, handler_, &p);
    if (p.failed) return -1;
    if (rc > 0)
        return sg_err_set(err, "%s:%d: syntax error: expected [section], key = value or a comment", origin,
                          rc);
    if (rc < 0) return sg_err_set(err, "%s: cannot parse (out of memory)", origin);
    return 0;
}

int sg_config_load_string(sg_config *c, const char *text, const char *origin, sg_err *err)
{
    return parse_(c, text, origin, ++c->loads, 0, err);
}

int sg_config_load(sg_config *c, const char *path, sg_err *err)
{
    char *buf = read_file_(path, err);
    if (!buf) return -1;
    int rc = sg_config_load_string(c, buf, path, err);
    free(buf);
    return rc;
}

int sg_config_set(sg_config *c, const char *assignment, sg_err *err)
{
    char buf[4096];
    if (strlen(assignment) >= sizeof buf) return sg_err_set(err, "--set %.40s...: too long", assignment);
    strcpy(buf, assignment);
    char *eq = strchr(buf, '=');
    if (!eq) return sg_err_set(err, "--set %s: expected section.key=value", assignment);
    *eq = 0;
    char *key = buf, *value = eq + 1;
    trim_(key);
    trim_(value);
    char sec[256];
    const char *name;
    if (!split_key_(key, sec, sizeof sec, &name))
        return sg_err_set(err, "--set %s: expected section.key=value", assignment);
    cfg_entry_ *e = find2_(c, sec, name);
    if (!e) e = add_(c, sec, name);
    replace_(&e->raw, value);
    replace_(&e->origin, "--set");
    e->load = e->layer = 0;
    return 0;
}

bool sg_config_has(const sg_config *c, const char *key)
{
    const cfg_entry_ *e = find_(c, key);
    return e && e->raw;
}

const char *sg_config_origin(const sg_config *c, const char *key)
{
    const cfg_entry_ *e = find_(c, key);
    return e && e->raw ? e->origin : NULL;
}

int sg_config_require(sg_config *c, const char *key, sg_err *err)
{
    if (sg_config_has(c, key)) return 0;
    return sg_err_set(err, "%s is required (a [section] key = value line or --set %s=...)", key, key);
}

/* ---- getters -------------------------------------------------------------------- */
/* The entry for key, created for a default; marks it read. */
static cfg_entry_ *get_(sg_config *c, const char *key)
{
    cfg_entry_ *e = find_(c, key);
    if (!e) {
        char sec[256];
        const char *name;
        split_key_(key, sec, sizeof sec, &name);
        e = add_(c, sec, name);
    }
    if (!e->raw) replace_(&e->origin, "default");
    e->read = true;
    return e;
}

static int bad_(const cfg_entry_ *e, sg_err *err, const char *what)
{
    return sg_err_set(err, "%s: %s.%s = %s: %s", e->origin, e->section, e->name, e->raw, what);
}

static int parse_long_(const char *s, long *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end) return -1;
    *out = v;
    return 0;
}

static int parse_double_(const char *s, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || !isfinite(v)) return -1;
    *out = v;
    return 0;
}

/* The shortest %g form that reads back to v (as a double, or as a float). */
static void fmt_real_(char *buf, size_t len, double v, bool as_float)
{
    /* At least the integer digits, so that 10 reads "10", not "1e+01". */
    int p0 = fabs(v) >= 1 && fabs(v) < 1e15 ? (int)floor(log10(fabs(v))) + 1 : 1;
    for (int p = p0; p <= 17; p++) {
        snprintf(buf, len, "%.*g", p, v);
        double back = strtod(buf, NULL);
        if (as_float ? (float)back == (float)v : back == v) return;
    }
}

int sg_config_int(sg_config *c, const char *key, long def, long lo, long hi, long *out, sg_err *err)
{
    cfg_entry_ *e = get_(c, key);
    long v = def;
    if (e->raw) {
        if (parse_long_(e->raw, &v)) return bad_(e, err, "not an integer");
        if (v < lo || v > hi) {
            char what[128];
            snprintf(what, sizeof what, "out of range [%ld, %ld]", lo, hi);
            return bad_(e, err, what);
        }
    }
    char buf[32];
    snprintf(buf, sizeof buf, "%ld", v);
    replace_(&e->value, buf);
    *out = v;
    return 0;
}

int sg_config_double(sg_config *c, const char *key, double def, double lo, double hi, double *out,
                     sg_err *err)
{
    cfg_entry_ *e = get_(c, key);
    double v = def;
    if (e->raw) {
        if (parse_double_(e->raw, &v)) return bad_(e, err, "not a number");
        if (v < lo || v > hi) {
            char what[128];
            snprintf(what, sizeof what, "out of range [%g, %g]", lo, hi);
            return bad_(e, err, what);
        }
    }
    char buf[40];
    fmt_real_(buf, sizeof buf, v, false);
    replace_(&e->value, buf);
    *out = v;
    return 0;
}

int sg_config_float(sg_config *c, const char *key, float def, float lo, float hi, float *out, sg_err *err)
{
    cfg_entry_ *e = get_(c, key);
    double v = def;
    if (e->raw) {
        if (parse_double_(e->raw, &v)) return bad_(e, err, "not a number");
        if ((float)v < lo || (float)v > hi) {
            char what[128];
            snprintf(what, sizeof what, "out of range [%g, %g]", (double)lo, (double)hi);
            return bad_(e, err, what);
        }
    }
    char buf[40];
    fmt_real_(buf, sizeof buf, (float)v, true);
    replace_(&e->value, buf);
    *out = (float)v;
    return 0;
}

int sg_config_bool(sg_config *c, const char *key, bool def, bool *out, sg_err *err)
{
    static const char *const yes[] = {"true", "yes", "on", "1"}, *const no[] = {"false", "no", "off", "0"};
    cfg_entry_ *e = get_(c, key);
    bool v = def;
    if (e->raw) {
        int found = 0;
        for (int i = 0; i < 4 && !found; i++) {
            if (!strcmp(e->raw, yes[i])) v = true, found = 1;
            if (!strcmp(e->raw, no[i])) v = false, found = 1;
        }
        if (!found) return bad_(e, err, "not a boolean (true/false, yes/no, on/off, 1/0)");
    }
    replace_(&e->value, v ? "true" : "false");
    *out = v;
    return 0;
}

int sg_config_string(sg_config *c, const char *key, const char *def, const char **out, sg_err *err)
{
    cfg_entry_ *e = get_(c, key);
    if (!def && (!e->raw || !e->raw[0])) {
        if (!e->raw) return sg_config_require(c, key, err);
        return sg_err_set(err, "%s: %s is required and empty", e->origin, key);
    }
    replace_(&e->value, e->raw ? e->raw : def);
    *out = e->value;
    return 0;
}

int sg_config_choice(sg_config *c, const char *key, const char *def, const char *const *choices, int *out,
                     sg_err *err)
{
    const char *s;
    if (sg_config_string(c, key, def, &s, err)) return -1;
    for (int i = 0; choices[i]; i++)
        if (!strcmp(s, choices[i])) {
            *out = i;
            return 0;
        }
    char what[512] = "expected one of:";
    for (int i = 0; choices[i]; i++) {
        size_t n = strlen(what);
        snprintf(what + n, sizeof what - n, " %s", choices[i]);
    }
    cfg_entry_ *e = find_(c, key);
    SG_CHECK(e->raw, "sg_config_choice: default '%s' of %s is not a choice", s, key);
    return bad_(e, err, what);
}

/* Splits a comma list into exactly n fields; -1 when the count differs. */
static int fields_(const char *raw, char fields[][64], int n)
{
    int k = 0;
    const char *s = raw;
    for (;;) {
        const char *comma = strchr(s, ',');
        size_t len = comma ? (size_t)(comma - s) : strlen(s);
        if (k == n || len >= 64) return -1;
        memcpy(fields[k], s, len);
        fields[k][len] = 0;
        trim_(fields[k++]);
        if (!comma) break;
        s = comma + 1;
    }
    return k == n ? 0 : -1;
}

#define SG_CFG_MAX_LIST 16

int sg_config_ints(sg_config *c, const char *key, const int *def, int n, long lo, long hi, int *out,
                   sg_err *err)
{
    SG_CHECK(n >= 1 && n <= SG_CFG_MAX_LIST, "sg_config_ints: n = %d", n);
    cfg_entry_ *e = get_(c, key);
    int v[SG_CFG_MAX_LIST];
    for (int i = 0; i < n; i++) v[i] = def[i];
    if (e->raw) {
        char f[SG_CFG_MAX_LIST][64];
        char what[128];
        snprintf(what, sizeof what, "expected %d comma-separated integers in [%ld, %ld]", n, lo, hi);
        if (fields_(e->raw, f, n)) return bad_(e, err, what);
        for (int i = 0; i < n; i++) {
            long x;
            if (parse_long_(f[i], &x) || x < lo || x > hi) return bad_(e, err, what);
            v[i] = (int)x;
        }
    }
    char buf[SG_CFG_MAX_LIST * 24] = "";
    for (int i = 0; i < n; i++) {
        size_t len = strlen(buf);
        snprintf(buf + len, sizeof buf - len, "%s%d", i ? "," : "", v[i]);
        out[i] = v[i];
    }
    replace_(&e->value, buf);
    return 0;
}

int sg_config_floats(sg_config *c, const char *key, const float *def, int n, float *out, sg_err *err)
{
    SG_CHECK(n >= 1 && n <= SG_CFG_MAX_LIST, "sg_config_floats: n = %d", n);
    cfg_entry_ *e = get_(c, key);
    float v[SG_CFG_MAX_LIST];
    for (int i = 0; i < n; i++) v[i] = def[i];
    if (e->raw) {
        char f[SG_CFG_MAX_LIST][64];
        char what[128];
        snprintf(what, sizeof what, "expected %d comma-separated numbers", n);
        if (fields_(e->raw, f, n)) return bad_(e, err, what);
        for (int i = 0; i < n; i++) {
            double x;
            if (parse_double_(f[i], &x)) return bad_(e, err, what);
            v[i] = (float)x;
        }
    }
    char buf[SG_CFG_MAX_LIST * 24] = "";
    for (int i = 0; i < n; i++) {
        size_t len = strlen(buf);
        if (i) {
            buf[len++] = ',';
            buf[len] = 0;
        }
        fmt_real_(buf + len, sizeof buf - len, v[i], true);
        out[i] = v[i];
    }
    replace_(&e->value, buf);
    return 0;
}

/* "path:line: unknown key s.k" or "--set s.k=v: unknown key s.k"; with
 * section, "...: unknown section [s] (s.k)". */
static int unknown_(const cfg_entry_ *e, bool section, sg_err *err)
{
    char where[4200];
    if (!strcmp(e->origin, "--set"))
        snprintf(where, sizeof where, "--set %s.%s=%s", e->section, e->name, e->raw);
    else
        snprintf(where, sizeof where, "%s", e->origin);
    if (section)
        return sg_err_set(err, "%s: unknown section [%s] (%s.%s)", where, e->section, e->section, e->name);
    return sg_err_set(err, "%s: unknown key %s.%s", where, e->section, e->name);
}

int sg_config_check_unused(const sg_config *c, sg_err *err)
{
    /* File entries come first in c->e (files are loaded before --set), and a
     * --set of a new key is appended, so array order is the promised order. */
    for (int i = 0; i < c->n; i++) {
        const cfg_entry_ *e = &c->e[i];
        if (e->raw && !e->read) return unknown_(e, false, err);
    }
    return 0;
}

/* Whether known (NULL-terminated "section.key" / "section.*") lists the
 * entry's key (*key_ok) or at least its section (*sec_ok). */
static void known_(const cfg_entry_ *e, const char *const *known, bool *sec_ok, bool *key_ok)
{
    *sec_ok = *key_ok = false;
    size_t sl = strlen(e->section);
    for (const char *const *k = known; *k; k++) {
        if (strncmp(*k, e->section, sl) || (*k)[sl] != '.') continue;
        *sec_ok = true;
        const char *name = *k + sl + 1;
        if (!strcmp(name, "*") || !strcmp(name, e->name)) *key_ok = true;
    }
}

int sg_config_check_known(const sg_config *c, const char *const *known, sg_err *err)
{
    for (int i = 0; i < c->n; i++) {
        const cfg_entry_ *e = &c->e[i];
        if (!e->raw) continue;
        bool sec_ok, key_ok;
        known_(e, known, &sec_ok, &key_ok);
        if (!key_ok) return unknown_(e, !sec_ok, err);
    }
    return 0;
}

/* ---- the resolved record ----------------------------------------------------------- */
static int cmp_entry_(const void *a, const void *b)
{
    const cfg_entry_ *x = *(const cfg_entry_ *const *)a, *y = *(const cfg_entry_ *const *)b;
    int s = strcmp(x->section, y->section);
    return s ? s : strcmp(x->name, y->name);
}

/* The read entries, sorted; the caller frees the array. */
static const cfg_entry_ **sorted_(const sg_config *c, int *n)
{
    const cfg_entry_ **v = sg_xcalloc((size_t)c->n + 1, sizeof *v);
    int k = 0;
    for (int i = 0; i < c->n; i++)
        if (c->e[i].read && c->e[i].value) v[k++] = &c->e[i];
    qsort(v, (size_t)k, sizeof *v, cmp_entry_);
    *n = k;
    return v;
}

int sg_config_write_resolved(const sg_config *c, const char *path, sg_err *err)
{
    sg_atomic_file af;
    if (sg_atomic_open(&af, path, err)) return -1;
    int n;
    const cfg_entry_ **v = sorted_(c, &n);
    fprintf(af.fp, "# Every key the run read, with its value and origin (file:line, --set or default).\n"
                   "# This file is itself a config: pass it to --config to repeat the run.\n");
    for (int i = 0; i < n; i++) {
        if (!i || strcmp(v[i]->section, v[i - 1]->section))
            fprintf(af.fp, "\n[%s]\n", v[i]->section);
        fprintf(af.fp, "%s = %s ; %s\n", v[i]->name, v[i]->value, v[i]->origin);
    }
    free(v);
    return sg_atomic_commit(&af, err);
}

uint64_t sg_fnv1a_bytes(uint64_t h, const void *data, size_t n)
{
    const unsigned char *b = data;
    for (size_t i = 0; i < n; i++) {
        h ^= b[i];
        h *= 0x100000001b3ull;
    }
    return h;
}

uint64_t sg_fnv1a(uint64_t h, const char *s)
{
    return sg_fnv1a_bytes(h, s, strlen(s));
}

static bool skipped_(const cfg_entry_ *e, const char *const *skip)
{
    size_t ls = strlen(e->section);
    for (int s = 0; skip && skip[s]; s++) {
        if (!strcmp(e->section, skip[s])) return true;
        if (!strncmp(skip[s], e->section, ls) && skip[s][ls] == '.' && !strcmp(skip[s] + ls + 1, e->name))
            return true;
    }
    return false;
}

uint64_t sg_config_hash(const sg_config *c, const char *const *skip)
{
    int n;
    const cfg_entry_ **v = sorted_(c, &n);
    uint64_t h = SG_FNV1A_BASIS;
    for (int i = 0; i < n; i++) {
        if (skipped_(v[i], skip)) continue;
        h = sg_fnv1a(h, v[i]->section);
        h = sg_fnv1a(h, ".");
        h = sg_fnv1a(h, v[i]->name);
        h = sg_fnv1a(h, "=");
        h = sg_fnv1a(h, v[i]->value);
        h = sg_fnv1a(h, "\n");
    }
    free(v);
    return h;
}
