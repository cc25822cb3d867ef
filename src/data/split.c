/*
 * split.c: list files, split checks, the split generator and the seed list
 * (split.h).
 *
 * Parsing follows what the reference loaders accept: UniMatch splits each
 * line on blanks (`line.split(' ')`), U2PL maps a bare VOC id to
 * JPEGImages/<id>.jpg + SegmentationClassAug/<id>.png and a Cityscapes
 * leftImg8bit path to "gtFine/" + line[12:-15] + "gtFine_labelTrainIds.png"
 * (u2pl/dataset/base.py), CPS separates with a tab and starts paths with '/'.
 * The generator shuffles with Philox (rng.h), never with the C library's
 * rand(), so a split is a pure function of (train list, size, seed).
 *
 * Covered by tests/test_splits.c and tests/splits_reference.sh.
 */
#include "semiseg/split.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "semiseg/io.h"
#include "semiseg/rng.h"

static char *sg_strdup_(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = sg_xmalloc(n);
    memcpy(d, s, n);
    return d;
}

static char *sg_strcat3_(const char *a, const char *b, const char *c)
{
    size_t na = strlen(a), nb = strlen(b), nc = strlen(c);
    char *d = sg_xmalloc(na + nb + nc + 1);
    memcpy(d, a, na);
    memcpy(d + na, b, nb);
    memcpy(d + na + nb, c, nc + 1);
    return d;
}

static bool sg_ends_with_(const char *s, const char *suffix)
{
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && strcmp(s + n - k, suffix) == 0;
}

void sg_list_free(sg_list *l)
{
    for (int i = 0; i < l->n; i++) {
        free(l->e[i].image);
        free(l->e[i].mask);
        free(l->e[i].raw);
    }
    free(l->e);
    memset(l, 0, sizeof *l);
}

/* Resolves a one-field line into (image, mask). Returns 0, or -1 with the
 * reason in err (the caller adds path:line). */
static int sg_resolve_one_(sg_list_entry *e, const char *f, sg_list_style style, const char *mask_dir,
                           sg_err *err)
{
    if (style == SG_LIST_PAIRS) {
        e->image = sg_strdup_(f);
        return 0;
    }
    if (style == SG_LIST_VOC_IDS) {
        if (strchr(f, '/') || strchr(f, '.'))
            return sg_err_set(err, "'%s' is not a VOC id (expected e.g. 2007_000733)", f);
        e->image = sg_strcat3_("JPEGImages/", f, ".jpg");
        char *dir = sg_strcat3_(mask_dir, "/", f);
        e->mask = sg_strcat3_(dir, ".png", "");
        free(dir);
        return 0;
    }
    /* Cityscapes: U2PL's slice [12:-15] assumes exactly this prefix and
     * suffix; anything else would give a nonsense mask path. */
    const char *pre = "leftImg8bit/", *suf = "leftImg8bit.png";
    size_t n = strlen(f), np = strlen(pre), ns = strlen(suf);
    if (n <= np + ns || strncmp(f, pre, np) != 0 || !sg_ends_with_(f, suf))
        return sg_err_set(err, "'%s' is not a leftImg8bit/..._leftImg8bit.png path", f);
    e->image = sg_strdup_(f);
    char *mid = sg_xmalloc(n - np - ns + 1);
    memcpy(mid, f + np, n - np - ns);
    mid[n - np - ns] = 0;
    e->mask = sg_strcat3_("gtFine/", mid, "gtFine_labelTrainIds.png");
    free(mid);
    return 0;
}

int sg_list_read(sg_list *l, const char *path, sg_list_style style, const char *id_mask_dir,
                 sg_err *err)
{
    memset(l, 0, sizeof *l);
    if (strlen(path) >= sizeof l->path) return sg_err_set(err, "%s: path too long", path);
    strcpy(l->path, path);
    FILE *fp = sg_fopen_read(path, err);
    if (!fp) return -1;
    const char *mask_dir = id_mask_dir ? id_mask_dir : "SegmentationClassAug";
    int cap = 0, lineno = 0, nfields_seen = 0, first_line = 0;
    char *line = NULL;
    size_t linecap = 0;
    ssize_t len;
    int rc = 0;
    while ((len = getline(&line, &linecap, fp)) >= 0) {
        lineno++;
        if ((size_t)len != strlen(line)) {
            rc = sg_err_set(err, "%s:%d: NUL byte in a text line", path, lineno);
            break;
        }
        /* Trim blanks and CR/LF at both ends. */
        char *s = line;
        while (*s && isspace((unsigned char)*s)) s++;
        char *end = s + strlen(s);
        while (end > s && isspace((unsigned char)end[-1])) *--end = 0;
        if (!*s) continue;
        char *raw = sg_strdup_(s);
        char *fields[3] = {NULL, NULL, NULL};
        int nf = 0;
        for (char *tok = strtok(s, " \t"); tok; tok = strtok(NULL, " \t")) {
            if (nf < 3) fields[nf] = tok;
            nf++;
        }
        if (nf > 2) {
            free(raw);
            rc = sg_err_set(err, "%s:%d: %d fields, expected `image mask` or one name", path, lineno, nf);
            break;
        }
        if (nfields_seen && nf != nfields_seen) {
            free(raw);
            rc = sg_err_set(err, "%s:%d: %d field(s) while line %d has %d: mixed formats", path, lineno,
                            nf, first_line, nfields_seen);
            break;
        }
        if (!nfields_seen) {
            nfields_seen = nf;
            first_line = lineno;
        }
        if (l->n == cap) {
            cap = cap ? 2 * cap : 256;
            l->e = realloc(l->e, (size_t)cap * sizeof *l->e);
            SG_CHECK(l->e != NULL, "sg_list_read: out of memory");
        }
        sg_list_entry *e = &l->e[l->n];
        memset(e, 0, sizeof *e);
        e->raw = raw;
        e->line = lineno;
        /* CPS writes root-relative paths with a leading '/'. */
        for (int k = 0; k < nf; k++)
            while (fields[k][0] == '/') fields[k]++;
        if (nf == 2) {
            e->image = sg_strdup_(fields[0]);
            e->mask = sg_strdup_(fields[1]);
        } else {
            sg_err why;
            if (sg_resolve_one_(e, fields[0], style, mask_dir, &why)) {
                free(raw);
                rc = sg_err_set(err, "%s:%d: %s", path, lineno, why.msg);
                break;
            }
        }
        l->n++;
    }
    if (!rc && ferror(fp)) rc = sg_err_set(err, "%s: read error: %s", path, strerror(errno));
    free(line);
    fclose(fp);
    if (rc) sg_list_free(l);
    return rc;
}

int sg_list_write(const char *path, const sg_list *l, sg_err *err)
{
    sg_atomic_file af;
    if (sg_atomic_open(&af, path, err)) return -1;
    for (int i = 0; i < l->n; i++) fprintf(af.fp, "%s\n", l->e[i].raw);
    return sg_atomic_commit(&af, err);
}

void sg_problems_add(sg_problems *p, const char *fmt, ...)
{
    if (p->n == p->cap) {
        p->cap = p->cap ? 2 * p->cap : 16;
        p->msg = realloc(p->msg, (size_t)p->cap * sizeof *p->msg);
        SG_CHECK(p->msg != NULL, "sg_problems_add: out of memory");
    }
    va_list ap;
    va_start(ap, fmt);
    char *m = NULL;
    int rc = vasprintf(&m, fmt, ap);
    va_end(ap);
    SG_CHECK(rc >= 0, "sg_problems_add: out of memory");
    p->msg[p->n++] = m;
}

void sg_problems_print(const sg_problems *p, FILE *fp)
{
    for (int i = 0; i < p->n; i++) fprintf(fp, "%s\n", p->msg[i]);
}

void sg_problems_free(sg_problems *p)
{
    for (int i = 0; i < p->n; i++) free(p->msg[i]);
    free(p->msg);
    memset(p, 0, sizeof *p);
}

void sg_split_free(sg_split *s)
{
    sg_list_free(&s->labeled);
    sg_list_free(&s->unlabeled);
    memset(s, 0, sizeof *s);
}

int sg_split_read(sg_split *s, const char *dir, sg_list_style style, const char *id_mask_dir,
                  sg_err *err)
{
    memset(s, 0, sizeof *s);
    if (strlen(dir) + 16 >= sizeof s->dir) return sg_err_set(err, "%s: path too long", dir);
    strcpy(s->dir, dir);
    char path[4096 + 16];
    snprintf(path, sizeof path, "%s/labeled.txt", dir);
    if (sg_list_read(&s->labeled, path, style, id_mask_dir, err)) return -1;
    snprintf(path, sizeof path, "%s/unlabeled.txt", dir);
    if (sg_list_read(&s->unlabeled, path, style, id_mask_dir, err)) {
        sg_list_free(&s->labeled);
        return -1;
    }
    return 0;
}

int sg_split_write(const char *dir, const sg_split *s, sg_err *err)
{
    char path[4096 + 16];
    snprintf(path, sizeof path, "%s/labeled.txt", dir);
    if (sg_list_write(path, &s->labeled, err)) return -1;
    snprintf(path, sizeof path, "%s/unlabeled.txt", dir);
    return sg_list_write(path, &s->unlabeled, err);
}

/* Entry indices sorted by image path, for duplicate and overlap search in
 * O(n log n) (VOC lists have 10^4 entries). */
static int sg_cmp_image_(const void *a, const void *b, void *list)
{
    const sg_list *l = list;
    int ia = *(const int *)a, ib = *(const int *)b;
    int c = strcmp(l->e[ia].image, l->e[ib].image);
    return c ? c : (ia > ib) - (ia < ib);
}

static int *sg_sorted_(const sg_list *l)
{
    int *idx = sg_xmalloc((size_t)(l->n ? l->n : 1) * sizeof *idx);
    for (int i = 0; i < l->n; i++) idx[i] = i;
    qsort_r(idx, (size_t)l->n, sizeof *idx, sg_cmp_image_, (void *)l);
    return idx;
}

static bool sg_file_exists_(const char *root, const char *rel)
{
    char *p = sg_strcat3_(root, "/", rel);
    struct stat st;
    bool ok = stat(p, &st) == 0 && S_ISREG(st.st_mode);
    free(p);
    return ok;
}

int sg_list_check(const sg_list *l, const char *root, sg_problems *p)
{
    int before = p->n;
    if (l->n == 0) sg_problems_add(p, "%s: empty list", l->path);
    int *idx = sg_sorted_(l);
    for (int k = 1; k < l->n; k++) {
        const sg_list_entry *a = &l->e[idx[k - 1]], *b = &l->e[idx[k]];
        if (strcmp(a->image, b->image) == 0)
            sg_problems_add(p, "%s:%d: %s listed again (first at line %d)", l->path, b->line, b->image,
                            a->line);
    }
    free(idx);
    if (root) {
        for (int i = 0; i < l->n; i++) {
            const sg_list_entry *e = &l->e[i];
            if (!sg_file_exists_(root, e->image))
                sg_problems_add(p, "%s:%d: image %s/%s not found", l->path, e->line, root, e->image);
            if (e->mask && !sg_file_exists_(root, e->mask))
                sg_problems_add(p, "%s:%d: mask %s/%s not found", l->path, e->line, root, e->mask);
        }
    }
    return p->n - before;
}

int sg_split_check(const sg_split *s, const char *root, sg_problems *p)
{
    int before = p->n;
    sg_list_check(&s->labeled, root, p);
    sg_list_check(&s->unlabeled, root, p);
    /* Overlap: merge the two sorted index lists. */
    int *a = sg_sorted_(&s->labeled), *b = sg_sorted_(&s->unlabeled);
    int i = 0, j = 0;
    while (i < s->labeled.n && j < s->unlabeled.n) {
        const sg_list_entry *x = &s->labeled.e[a[i]], *y = &s->unlabeled.e[b[j]];
        int c = strcmp(x->image, y->image);
        if (c < 0) {
            i++;
        } else if (c > 0) {
            j++;
        } else {
            sg_problems_add(p, "%s:%d: %s is also unlabeled (%s:%d)", s->labeled.path, x->line, x->image,
                            s->unlabeled.path, y->line);
            i++;
            j++;
        }
    }
    free(a);
    free(b);
    return p->n - before;
}

static void sg_list_copy_entry_(sg_list *dst, const sg_list_entry *src)
{
    sg_list_entry *e = &dst->e[dst->n++];
    e->image = sg_strdup_(src->image);
    e->mask = src->mask ? sg_strdup_(src->mask) : NULL;
    e->raw = sg_strdup_(src->raw);
    e->line = dst->n;
}

void sg_split_generate(sg_split *out, const sg_list *train, int n_labeled, uint64_t seed)
{
    SG_CHECK(n_labeled > 0 && n_labeled < train->n, "sg_split_generate: %d labeled of %d", n_labeled,
             train->n);
    memset(out, 0, sizeof *out);
    int n = train->n;
    int *perm = sg_xmalloc((size_t)n * sizeof *perm);
    for (int i = 0; i < n; i++) perm[i] = i;
    sg_rng r;
    sg_rng_init(&r, seed, sg_rng_stream(SG_RNG_SPLIT, 0, (uint64_t)n_labeled));
    /* Fisher-Yates: the first n_labeled positions are a uniform draw. */
    for (int i = 0; i < n_labeled; i++) {
        int j = i + (int)sg_rng_below(&r, (uint32_t)(n - i));
        int t = perm[i];
        perm[i] = perm[j];
        perm[j] = t;
    }
    bool *chosen = sg_xcalloc((size_t)n, sizeof *chosen);
    for (int i = 0; i < n_labeled; i++) chosen[perm[i]] = true;
    out->labeled.e = sg_xcalloc((size_t)n_labeled, sizeof *out->labeled.e);
    out->unlabeled.e = sg_xcalloc((size_t)(n - n_labeled), sizeof *out->unlabeled.e);
    snprintf(out->labeled.path, sizeof out->labeled.path, "labeled.txt");
    snprintf(out->unlabeled.path, sizeof out->unlabeled.path, "unlabeled.txt");
    for (int i = 0; i < n; i++) sg_list_copy_entry_(chosen[i] ? &out->labeled : &out->unlabeled, &train->e[i]);
    free(chosen);
    free(perm);
}

int sg_seeds_read(const char *path, uint64_t *seeds, int max, sg_err *err)
{
    FILE *fp = sg_fopen_read(path, err);
    if (!fp) return -1;
    char buf[256];
    int n = 0, lineno = 0, rc = 0;
    while (fgets(buf, sizeof buf, fp)) {
        lineno++;
        char *hash = strchr(buf, '#');
        if (hash) *hash = 0;
        char *s = buf;
        while (isspace((unsigned char)*s)) s++;
        if (!*s) continue;
        char *end;
        errno = 0;
        unsigned long long v = strtoull(s, &end, 10);
        while (isspace((unsigned char)*end)) end++;
        if (errno || *end || *s == '-' || !isdigit((unsigned char)*s)) {
            rc = sg_err_set(err, "%s:%d: not an unsigned integer seed", path, lineno);
            break;
        }
        if (n == max) {
            rc = sg_err_set(err, "%s:%d: more than %d seeds", path, lineno, max);
            break;
        }
        seeds[n++] = (uint64_t)v;
    }
    fclose(fp);
    if (!rc && n == 0) rc = sg_err_set(err, "%s: no seeds", path);
    return rc ? -1 : n;
}
