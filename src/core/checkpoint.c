/*
 * checkpoint.c: training checkpoints and pretrained weights over safetensors
 * (checkpoint.h).
 *
 * A checkpoint holds everything a resumed run needs to continue bitwise:
 * model parameters and buffers, SGD momentum buffers and step count (as
 * torch.optim.SGD's state_dict holds momentum_buffer per parameter), the
 * EMA/teacher set, the iteration and the Philox generators. A generator is
 * stored as (seed, stream, counter, used); the block it is consuming is the
 * Philox output of counter - 1 and is recomputed on load, so the next draw
 * after a resume is the one the uninterrupted run makes.
 *
 * Loading validates the whole file against the destination first (names,
 * shapes, dtypes, ranges) and only then copies, so a failed load leaves the
 * run untouched. The error lists every missing, unexpected and mismatched
 * entry, counts first and the often long unexpected list last, since the
 * message may be cut at sg_err's length.
 *
 * sg_weights_load is torch's load_state_dict(strict=...) behind a name map:
 * torchvision/timm keys ("layer1.0.conv1.weight") are renamed by prefix
 * rules into the model's names ("backbone.layer1.0.conv1.weight"); classifier
 * entries are skipped by prefix and BN num_batches_tracked counters (which
 * the suite does not keep) are always ignored. Shape mismatches are errors
 * even when not strict, as in torch.
 *
 * Covered by tests/test_checkpoint.c.
 */
#include "semiseg/checkpoint.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SG_CKPT_FORMAT_KEY "semiseg.format"
#define SG_CKPT_FORMAT "semiseg-checkpoint-1"
/* FNV-1a 64 of the tensors (sg_st_file_digest), checked on load, so that a
 * flipped byte or an edited entry is not resumed from silently. Files of
 * earlier versions have none and load unchecked. */
#define SG_CKPT_DIGEST_KEY "semiseg.digest"
#define SG_CKPT_NAME_LEN (SG_PARAM_NAME_LEN + 32)

/* ---- problem lists --------------------------------------------------------------- */

typedef struct sg_issues_ {
    char **items;
    int n, cap;
} sg_issues_;

SG_PRINTF(2, 3) static void sg_issue_add_(sg_issues_ *l, const char *fmt, ...)
{
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    if (l->n == l->cap) {
        l->cap = l->cap ? 2 * l->cap : 16;
        l->items = realloc(l->items, (size_t)l->cap * sizeof *l->items);
        SG_CHECK(l->items, "sg_issue_add_: out of memory");
    }
    l->items[l->n] = strdup(buf);
    SG_CHECK(l->items[l->n], "sg_issue_add_: out of memory");
    l->n++;
}

static void sg_issues_free_(sg_issues_ *l)
{
    for (int i = 0; i < l->n; i++) free(l->items[i]);
    free(l->items);
    memset(l, 0, sizeof *l);
}

/* Appends "; <what> a, b, c" to buf (truncated at len). */
static void sg_issues_append_(char *buf, size_t len, const char *what, const sg_issues_ *l)
{
    if (l->n == 0) return;
    size_t used = strlen(buf);
    used += (size_t)snprintf(buf + used, used < len ? len - used : 0, "; %s ", what);
    for (int i = 0; i < l->n && used < len; i++)
        used += (size_t)snprintf(buf + used, len - used, "%s%s", i ? ", " : "", l->items[i]);
}

static int sg_issues_report_(sg_err *err, const char *path, const char *what, const sg_issues_ *missing,
                             const sg_issues_ *unexpected, const sg_issues_ *mismatched)
{
    char list[2048] = "";
    sg_issues_append_(list, sizeof list, "mismatched", mismatched);
    sg_issues_append_(list, sizeof list, "missing", missing);
    sg_issues_append_(list, sizeof list, "unexpected", unexpected);
    return sg_err_set(err, "%s: %s: %d mismatched, %d missing, %d unexpected%s", path, what, mismatched->n,
                      missing->n, unexpected->n, list);
}

static void sg_shape_fmt_(char *buf, size_t len, int ndim, const int64_t *shape)
{
    size_t used = (size_t)snprintf(buf, len, "[");
    for (int i = 0; i < ndim && used < len; i++)
        used += (size_t)snprintf(buf + used, len - used, "%s%lld", i ? ", " : "", (long long)shape[i]);
    if (used < len) snprintf(buf + used, len - used, "]");
}

static bool sg_shape_matches_(const sg_st_tensor *st, const sg_tensor *t)
{
    if (st->ndim != t->ndim) return false;
    for (int i = 0; i < t->ndim; i++)
        if (st->shape[i] != t->shape[i]) return false;
    return true;
}

/* Adds a "mismatched" entry and returns true when st cannot fill t: another
 * shape, or a dtype other than F32 (f32_only) or other than a float type. */
static bool sg_entry_mismatch_(const sg_st_tensor *st, const sg_tensor *t, bool float_only, bool f32_only,
                               sg_issues_ *mismatched)
{
    bool dtype_ok = f32_only ? st->dtype == SG_ST_F32
                             : !float_only || st->dtype == SG_ST_F32 || st->dtype == SG_ST_F16 ||
                                   st->dtype == SG_ST_BF16;
    if (dtype_ok && sg_shape_matches_(st, t)) return false;
    int64_t want[SG_MAX_DIMS];
    for (int i = 0; i < t->ndim; i++) want[i] = t->shape[i];
    char a[96], b[96];
    sg_shape_fmt_(a, sizeof a, st->ndim, st->shape);
    sg_shape_fmt_(b, sizeof b, t->ndim, want);
    sg_issue_add_(mismatched, "%s (file %s %s, expected %s F32)", st->name, sg_st_dtype_name(st->dtype), a, b);
    return true;
}

/* ---- checkpoints ----------------------------------------------------------------- */

void sg_checkpoint_set_meta(sg_checkpoint *ck, const char *key, const char *value)
{
    SG_CHECK(key && value && key[0], "sg_checkpoint_set_meta: empty key or NULL value");
    SG_CHECK(strcmp(key, SG_CKPT_FORMAT_KEY) != 0 && strcmp(key, SG_CKPT_DIGEST_KEY) != 0,
             "sg_checkpoint_set_meta: \"%s\" is reserved", key);
    SG_CHECK(strlen(key) < SG_CKPT_META_KEY_LEN && strlen(value) < SG_CKPT_META_VALUE_LEN,
             "sg_checkpoint_set_meta: key \"%s\" or its value is too long", key);
    int i = 0;
    while (i < ck->n_meta && strcmp(ck->meta[i].key, key)) i++;
    if (i == ck->n_meta) {
        SG_CHECK(ck->n_meta < SG_CKPT_MAX_META, "sg_checkpoint_set_meta: more than %d entries", SG_CKPT_MAX_META);
        ck->n_meta++;
    }
    snprintf(ck->meta[i].key, sizeof ck->meta[i].key, "%s", key);
    snprintf(ck->meta[i].value, sizeof ck->meta[i].value, "%s", value);
}

const char *sg_checkpoint_get_meta(const sg_checkpoint *ck, const char *key)
{
    for (int i = 0; i < ck->n_meta; i++)
        if (strcmp(ck->meta[i].key, key) == 0) return ck->meta[i].value;
    return NULL;
}

static void sg_ckpt_add_set_(sg_st_writer *w, const char *prefix, const sg_param_set *s)
{
    char name[SG_CKPT_NAME_LEN];
    for (int i = 0; i < s->n_params; i++) {
        snprintf(name, sizeof name, "%s%s", prefix, s->params[i].name);
        sg_st_add_tensor(w, name, s->params[i].t);
    }
    for (int i = 0; i < s->n_buffers; i++) {
        snprintf(name, sizeof name, "%s%s", prefix, s->buffers[i].name);
        sg_st_add_tensor(w, name, s->buffers[i].t);
    }
}

/* An extra set's prefix: a short name, one trailing slash, no other, and
 * none of the names the checkpoint itself uses. */
static bool sg_ckpt_prefix_ok_(const char *p)
{
    static const char *const taken[] = {"model/", "ema/", "optim/", "rng/", "iteration/"};
    size_t n = strlen(p);
    if (n < 2 || n > 32 || p[n - 1] != '/' || strchr(p, '/') != p + n - 1) return false;
    for (size_t i = 0; i < sizeof taken / sizeof taken[0]; i++)
        if (strcmp(p, taken[i]) == 0) return false;
    return true;
}

static void sg_ckpt_check_args_(const sg_checkpoint *ck, const char *func)
{
    SG_CHECK(ck->model, "%s: no model set", func);
    SG_CHECK(!ck->opt || ck->opt->n_bufs == ck->model->n_params,
             "%s: optimizer made for %d parameters, model has %d", func, ck->opt ? ck->opt->n_bufs : 0,
             ck->model->n_params);
    SG_CHECK(ck->n_extra >= 0 && ck->n_extra <= SG_CKPT_MAX_EXTRA, "%s: %d extra sets", func, ck->n_extra);
    for (int i = 0; i < ck->n_extra; i++) {
        const sg_ckpt_part *e = &ck->extra[i];
        SG_CHECK(e->set && e->prefix && sg_ckpt_prefix_ok_(e->prefix), "%s: extra set %d needs a set and a "
                 "prefix of the form \"name/\" other than model/, ema/, optim/, rng/ (got \"%s\")", func, i,
                 e->prefix ? e->prefix : "(null)");
        SG_CHECK(!e->opt || e->opt->n_bufs == e->set->n_params,
                 "%s: optimizer of %s made for %d parameters, the set has %d", func, e->prefix,
                 e->opt ? e->opt->n_bufs : 0, e->set->n_params);
        for (int j = 0; j < i; j++)
            SG_CHECK(strcmp(e->prefix, ck->extra[j].prefix), "%s: duplicate extra prefix \"%s\"", func, e->prefix);
    }
    SG_CHECK(ck->n_rngs >= 0 && ck->n_rngs <= SG_CKPT_MAX_RNGS, "%s: %d generators", func, ck->n_rngs);
    for (int i = 0; i < ck->n_rngs; i++) {
        SG_CHECK(ck->rngs[i].name && ck->rngs[i].name[0] && ck->rngs[i].rng && strlen(ck->rngs[i].name) < 64,
                 "%s: generator %d has no name or no state", func, i);
        for (int j = 0; j < i; j++)
            SG_CHECK(strcmp(ck->rngs[i].name, ck->rngs[j].name), "%s: duplicate generator \"%s\"", func,
                     ck->rngs[i].name);
    }
}

/* The momentum buffers that exist, as <pre>optim/momentum/<name> (each has
 * its parameter's shape and device), and the step count <pre>optim/steps
 * from *steps (the writer keeps pointers: it must outlive the write). */
static void sg_ckpt_add_opt_(sg_st_writer *w, const char *pre, const sg_param_set *s, const sg_sgd *opt,
                             int64_t *steps)
{
    char name[SG_CKPT_NAME_LEN];
    for (int i = 0; i < s->n_params; i++) {
        if (!opt->bufs[i]) continue;
        sg_tensor buf = *s->params[i].t;
        buf.data = opt->bufs[i];
        buf.grad = NULL;
        snprintf(name, sizeof name, "%soptim/momentum/%s", pre, s->params[i].name);
        sg_st_add_tensor(w, name, &buf);
    }
    *steps = opt->steps;
    snprintf(name, sizeof name, "%soptim/steps", pre);
    sg_st_add_i64(w, name, 0, NULL, steps);
}

int sg_checkpoint_save(const sg_checkpoint *ck, const char *path, sg_err *err)
{
    sg_ckpt_check_args_(ck, "sg_checkpoint_save");
    sg_st_writer w;
    sg_st_writer_init(&w);
    sg_ckpt_add_set_(&w, "model/", ck->model);
    if (ck->ema) sg_ckpt_add_set_(&w, "ema/", ck->ema);
    int64_t steps[1 + SG_CKPT_MAX_EXTRA];
    if (ck->opt) sg_ckpt_add_opt_(&w, "", ck->model, ck->opt, &steps[0]);
    for (int i = 0; i < ck->n_extra; i++) {
        sg_ckpt_add_set_(&w, ck->extra[i].prefix, ck->extra[i].set);
        if (ck->extra[i].opt)
            sg_ckpt_add_opt_(&w, ck->extra[i].prefix, ck->extra[i].set, ck->extra[i].opt, &steps[1 + i]);
    }
    char name[SG_CKPT_NAME_LEN];
    int64_t iteration = ck->iteration;
    sg_st_add_i64(&w, "iteration", 0, NULL, &iteration);
    int64_t rng_state[SG_CKPT_MAX_RNGS][4];
    for (int i = 0; i < ck->n_rngs; i++) {
        const sg_rng *r = ck->rngs[i].rng;
        rng_state[i][0] = (int64_t)r->seed;
        rng_state[i][1] = (int64_t)r->stream;
        rng_state[i][2] = (int64_t)r->counter;
        rng_state[i][3] = r->used;
        snprintf(name, sizeof name, "rng/%s", ck->rngs[i].name);
        sg_st_add_i64(&w, name, 1, (const int[]){4}, rng_state[i]);
    }
    sg_st_add_meta(&w, SG_CKPT_FORMAT_KEY, SG_CKPT_FORMAT);
    char digest[24];
    snprintf(digest, sizeof digest, "%016llx", (unsigned long long)sg_st_writer_digest(&w));
    sg_st_add_meta(&w, SG_CKPT_DIGEST_KEY, digest);
    for (int i = 0; i < ck->n_meta; i++) sg_st_add_meta(&w, ck->meta[i].key, ck->meta[i].value);
    int rc = sg_st_write(&w, path, err);
    sg_st_writer_free(&w);
    return rc;
}

/* Every entry of s must appear as prefix<name> with its shape in F32; marks
 * the file tensors it used in `used` (indexed like f->tensors). */
static void sg_ckpt_check_set_(const sg_st_file *f, const char *prefix, sg_param_set *s, bool *used,
                               sg_issues_ *missing, sg_issues_ *mismatched)
{
    char name[SG_CKPT_NAME_LEN];
    for (int k = 0; k < s->n_params + s->n_buffers; k++) {
        const sg_param *e = k < s->n_params ? &s->params[k] : &s->buffers[k - s->n_params];
        snprintf(name, sizeof name, "%s%s", prefix, e->name);
        const sg_st_tensor *st = sg_st_find(f, name);
        if (!st) {
            sg_issue_add_(missing, "%s", name);
            continue;
        }
        used[st - f->tensors] = true;
        sg_entry_mismatch_(st, e->t, true, true, mismatched);
    }
}

/* A validated float entry into n floats at dst on device d (through the
 * host for a device: checkpoints do not depend on where they were made). */
static void sg_ckpt_read_into_(const sg_st_file *f, const char *name, const sg_st_tensor *st,
                               float *dst, sg_device d)
{
    const size_t bytes = st->numel * sizeof(float);
    float *host = d.type == SG_DEVICE_CPU ? dst : sg_xmalloc(bytes ? bytes : sizeof(float));
    SG_CHECK(sg_st_read_f32(f, st, host, NULL) == 0, "validated entry %s", name);
    if (host != dst) {
        sg_backend_of_device(d)->to_device(dst, host, bytes);
        free(host);
    }
}

static void sg_ckpt_copy_set_(const sg_st_file *f, const char *prefix, sg_param_set *s)
{
    char name[SG_CKPT_NAME_LEN];
    for (int k = 0; k < s->n_params + s->n_buffers; k++) {
        const sg_param *e = k < s->n_params ? &s->params[k] : &s->buffers[k - s->n_params];
        snprintf(name, sizeof name, "%s%s", prefix, e->name);
        sg_ckpt_read_into_(f, name, sg_st_find(f, name), e->t->data, e->t->device);
    }
}

/* An integer scalar or vector entry that must exist with the given shape. */
static const sg_st_tensor *sg_ckpt_int_entry_(const sg_st_file *f, const char *name, int len, bool *used,
                                              sg_issues_ *missing, sg_issues_ *mismatched)
{
    const sg_st_tensor *st = sg_st_find(f, name);
    if (!st) {
        sg_issue_add_(missing, "%s", name);
        return NULL;
    }
    used[st - f->tensors] = true;
    bool ok = st->dtype == SG_ST_I64 && (len == 0 ? st->ndim == 0 : st->ndim == 1 && st->shape[0] == len);
    if (!ok) {
        char a[96];
        sg_shape_fmt_(a, sizeof a, st->ndim, st->shape);
        sg_issue_add_(mismatched, "%s (file %s %s, expected I64 %s)", name, sg_st_dtype_name(st->dtype), a,
                      len ? "[4]" : "[]");
        return NULL;
    }
    return st;
}

/* <pre>optim/steps must exist; momentum buffers are optional per
 * parameter (torch keeps none before a parameter's first step) but must
 * have its shape. Returns the steps entry (NULL when missing or bad). */
static const sg_st_tensor *sg_ckpt_check_opt_(const sg_st_file *f, const char *pre, const sg_param_set *s,
                                              bool *used, sg_issues_ *missing, sg_issues_ *mismatched)
{
    char name[SG_CKPT_NAME_LEN];
    snprintf(name, sizeof name, "%soptim/steps", pre);
    const sg_st_tensor *st_steps = sg_ckpt_int_entry_(f, name, 0, used, missing, mismatched);
    for (int i = 0; i < s->n_params; i++) {
        snprintf(name, sizeof name, "%soptim/momentum/%s", pre, s->params[i].name);
        const sg_st_tensor *st = sg_st_find(f, name);
        if (!st) continue;
        used[st - f->tensors] = true;
        sg_entry_mismatch_(st, s->params[i].t, true, true, mismatched);
    }
    return st_steps;
}

static void sg_ckpt_copy_opt_(const sg_st_file *f, const char *pre, const sg_param_set *s, sg_sgd *opt,
                              const sg_st_tensor *st_steps)
{
    char name[SG_CKPT_NAME_LEN];
    int64_t steps;
    sg_st_read_i64(f, st_steps, &steps, NULL);
    opt->steps = (long)steps;
    for (int i = 0; i < s->n_params; i++) {
        snprintf(name, sizeof name, "%soptim/momentum/%s", pre, s->params[i].name);
        const sg_st_tensor *st = sg_st_find(f, name);
        const sg_backend *be = sg_backend_of_device(s->params[i].t->device);
        if (opt->bufs[i] && !sg_device_equal(opt->buf_device[i], be->device)) {
            sg_backend_of_device(opt->buf_device[i])->free(opt->bufs[i]);
            opt->bufs[i] = NULL;
        }
        if (!st) {
            if (opt->bufs[i]) be->free(opt->bufs[i]);
            opt->bufs[i] = NULL;
            continue;
        }
        /* On the parameter's device: a checkpoint resumes anywhere. */
        if (!opt->bufs[i]) opt->bufs[i] = be->alloc(st->numel ? st->numel * sizeof(float) : sizeof(float));
        opt->buf_device[i] = be->device;
        sg_ckpt_read_into_(f, name, st, opt->bufs[i], be->device);
    }
}

int sg_checkpoint_load(sg_checkpoint *ck, const char *path, sg_err *err)
{
    sg_ckpt_check_args_(ck, "sg_checkpoint_load");
    sg_st_file f;
    if (sg_st_open(&f, path, err)) return -1;
    const char *format = sg_st_meta(&f, SG_CKPT_FORMAT_KEY);
    if (!format || strcmp(format, SG_CKPT_FORMAT)) {
        sg_err_set(err, "%s: not a semiseg checkpoint (metadata %s is %s%s%s, expected \"%s\")", path,
                   SG_CKPT_FORMAT_KEY, format ? "\"" : "", format ? format : "absent", format ? "\"" : "",
                   SG_CKPT_FORMAT);
        sg_st_close(&f);
        return -1;
    }
    const char *digest = sg_st_meta(&f, SG_CKPT_DIGEST_KEY);
    const int reserved = 1 + (digest != NULL);
    if (f.n_meta - reserved > SG_CKPT_MAX_META) {
        sg_err_set(err, "%s: %d metadata entries, at most %d fit a checkpoint", path, f.n_meta - reserved,
                   SG_CKPT_MAX_META);
        sg_st_close(&f);
        return -1;
    }
    if (digest) {
        char now[24];
        snprintf(now, sizeof now, "%016llx", (unsigned long long)sg_st_file_digest(&f));
        if (strcmp(now, digest)) {
            sg_err_set(err, "%s: the tensor data do not match the checkpoint's digest (%s, now %s): the file "
                            "was damaged or edited after it was written", path, digest, now);
            sg_st_close(&f);
            return -1;
        }
    }
    for (int i = 0; i < f.n_meta; i++) {
        if (!f.meta_keys[i][0] || strlen(f.meta_keys[i]) >= SG_CKPT_META_KEY_LEN || strlen(f.meta_values[i]) >= SG_CKPT_META_VALUE_LEN) {
            sg_err_set(err, "%s: metadata \"%.64s\": key empty or too long, or value too long", path, f.meta_keys[i]);
            sg_st_close(&f);
            return -1;
        }
    }

    bool *used = sg_xcalloc((size_t)(f.n_tensors ? f.n_tensors : 1), sizeof *used);
    sg_issues_ missing = {0}, unexpected = {0}, mismatched = {0};
    sg_ckpt_check_set_(&f, "model/", ck->model, used, &missing, &mismatched);
    if (ck->ema) sg_ckpt_check_set_(&f, "ema/", ck->ema, used, &missing, &mismatched);
    char name[SG_CKPT_NAME_LEN];
    const sg_st_tensor *st_iter = sg_ckpt_int_entry_(&f, "iteration", 0, used, &missing, &mismatched);
    const sg_st_tensor *st_steps = NULL, *st_extra_steps[SG_CKPT_MAX_EXTRA] = {0};
    if (ck->opt) st_steps = sg_ckpt_check_opt_(&f, "", ck->model, used, &missing, &mismatched);
    for (int i = 0; i < ck->n_extra; i++) {
        sg_ckpt_check_set_(&f, ck->extra[i].prefix, ck->extra[i].set, used, &missing, &mismatched);
        if (ck->extra[i].opt)
            st_extra_steps[i] = sg_ckpt_check_opt_(&f, ck->extra[i].prefix, ck->extra[i].set, used, &missing,
                                                   &mismatched);
    }
    const sg_st_tensor *st_rng[SG_CKPT_MAX_RNGS];
    for (int i = 0; i < ck->n_rngs; i++) {
        snprintf(name, sizeof name, "rng/%s", ck->rngs[i].name);
        st_rng[i] = sg_ckpt_int_entry_(&f, name, 4, used, &missing, &mismatched);
        if (!st_rng[i]) continue;
        int64_t v[4];
        sg_st_read_i64(&f, st_rng[i], v, NULL);
        if (v[3] < 0 || v[3] > 4 || (v[3] < 4 && v[2] == 0)) {
            sg_issue_add_(&mismatched, "%s (used %lld of counter %llu is not a generator state)", name,
                          (long long)v[3], (unsigned long long)v[2]);
            st_rng[i] = NULL;
        }
    }
    for (int i = 0; i < f.n_tensors; i++)
        if (!used[i]) sg_issue_add_(&unexpected, "%s", f.tensors[i].name);
    free(used);

    int rc = 0;
    if (missing.n || unexpected.n || mismatched.n) {
        rc = sg_issues_report_(err, path, "checkpoint does not match", &missing, &unexpected, &mismatched);
        goto out;
    }

    sg_ckpt_copy_set_(&f, "model/", ck->model);
    if (ck->ema) sg_ckpt_copy_set_(&f, "ema/", ck->ema);
    sg_st_read_i64(&f, st_iter, &ck->iteration, NULL);
    if (ck->opt) sg_ckpt_copy_opt_(&f, "", ck->model, ck->opt, st_steps);
    for (int i = 0; i < ck->n_extra; i++) {
        sg_ckpt_copy_set_(&f, ck->extra[i].prefix, ck->extra[i].set);
        if (ck->extra[i].opt)
            sg_ckpt_copy_opt_(&f, ck->extra[i].prefix, ck->extra[i].set, ck->extra[i].opt, st_extra_steps[i]);
    }
    for (int i = 0; i < ck->n_rngs; i++) {
        int64_t v[4];
        sg_st_read_i64(&f, st_rng[i], v, NULL);
        sg_rng *r = ck->rngs[i].rng;
        sg_rng_init(r, (uint64_t)v[0], (uint64_t)v[1]);
        r->counter = (uint64_t)v[2];
        r->used = (int)v[3];
        if (r->used < 4) {
            uint64_t c = r->counter - 1;
            uint32_t ctr[4] = {(uint32_t)c, (uint32_t)(c >> 32), (uint32_t)r->stream, (uint32_t)(r->stream >> 32)};
            uint32_t key[2] = {(uint32_t)r->seed, (uint32_t)(r->seed >> 32)};
            sg_philox4x32_10(ctr, key, r->block);
        }
    }
    ck->n_meta = 0;
    for (int i = 0; i < f.n_meta; i++)
        if (strcmp(f.meta_keys[i], SG_CKPT_FORMAT_KEY) && strcmp(f.meta_keys[i], SG_CKPT_DIGEST_KEY))
            sg_checkpoint_set_meta(ck, f.meta_keys[i], f.meta_values[i]);
out:
    sg_issues_free_(&missing);
    sg_issues_free_(&unexpected);
    sg_issues_free_(&mismatched);
    sg_st_close(&f);
    return rc;
}

/* ---- pretrained weights -------------------------------------------------------- */

static bool sg_has_prefix_(const char *s, const char *prefix) { return strncmp(s, prefix, strlen(prefix)) == 0; }

static bool sg_has_suffix_(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

void sg_weights_report_free(sg_weights_report *rep)
{
    for (int i = 0; i < rep->n_missing; i++) free(rep->missing[i]);
    for (int i = 0; i < rep->n_unexpected; i++) free(rep->unexpected[i]);
    free(rep->missing);
    free(rep->unexpected);
    memset(rep, 0, sizeof *rep);
}

/* Moves the strings of l into a report list (l is left empty). */
static char **sg_issues_take_(sg_issues_ *l, int *n)
{
    char **items = l->items;
    *n = l->n;
    memset(l, 0, sizeof *l);
    return items;
}

int sg_weights_load(sg_param_set *s, const char *path, const sg_weights_opts *opts, sg_weights_report *rep,
                    sg_err *err)
{
    static const sg_weights_opts defaults = {0};
    if (!opts) opts = &defaults;
    SG_CHECK(opts->n_rules >= 0 && (opts->n_rules == 0 || opts->rules) && opts->n_skip >= 0 &&
                 (opts->n_skip == 0 || opts->skip),
             "sg_weights_load: rules/skip counts without arrays");
    if (rep) memset(rep, 0, sizeof *rep);
    sg_st_file f;
    if (sg_st_open(&f, path, err)) return -1;
    const char *target = opts->target_prefix ? opts->target_prefix : "";
    int n_entries = s->n_params + s->n_buffers;
    /* source[k]: the file tensor that fills set entry k, or NULL. */
    const sg_st_tensor **source = sg_xcalloc((size_t)(n_entries ? n_entries : 1), sizeof *source);
    sg_issues_ missing = {0}, unexpected = {0}, mismatched = {0};
    int n_skipped = 0, n_loaded = 0;
    for (int i = 0; i < f.n_tensors; i++) {
        const sg_st_tensor *st = &f.tensors[i];
        bool skip = sg_has_suffix_(st->name, "num_batches_tracked");
        for (int j = 0; j < opts->n_skip && !skip; j++) skip = sg_has_prefix_(st->name, opts->skip[j]);
        if (skip) {
            n_skipped++;
            continue;
        }
        char mapped[1024];
        int r = 0;
        while (r < opts->n_rules && !sg_has_prefix_(st->name, opts->rules[r].from)) r++;
        if (r < opts->n_rules)
            snprintf(mapped, sizeof mapped, "%s%s", opts->rules[r].to, st->name + strlen(opts->rules[r].from));
        else
            snprintf(mapped, sizeof mapped, "%s", st->name);
        const sg_param *e = sg_param_find(s, mapped);
        if (!e) e = sg_buffer_find(s, mapped);
        if (!e) {
            sg_issue_add_(&unexpected, "%s", st->name);
            continue;
        }
        int k = e >= s->params && e < s->params + s->n_params ? (int)(e - s->params)
                                                               : s->n_params + (int)(e - s->buffers);
        if (source[k]) {
            sg_issue_add_(&mismatched, "%s (filled by both %s and %s)", mapped, source[k]->name, st->name);
            continue;
        }
        if (!sg_entry_mismatch_(st, e->t, true, false, &mismatched)) source[k] = st;
    }
    for (int k = 0; k < n_entries; k++) {
        const sg_param *e = k < s->n_params ? &s->params[k] : &s->buffers[k - s->n_params];
        if (!source[k] && sg_has_prefix_(e->name, target)) sg_issue_add_(&missing, "%s", e->name);
        if (source[k]) n_loaded++;
    }

    int rc = 0;
    if (mismatched.n || (opts->strict && (missing.n || unexpected.n))) {
        rc = sg_issues_report_(err, path, "weights do not match", &missing, &unexpected, &mismatched);
        n_loaded = 0;
    } else {
        for (int k = 0; k < n_entries; k++) {
            if (!source[k]) continue;
            const sg_param *e = k < s->n_params ? &s->params[k] : &s->buffers[k - s->n_params];
            sg_st_read_f32(&f, source[k], e->t->data, NULL);
        }
    }
    if (rep) {
        rep->n_loaded = n_loaded;
        rep->n_skipped = n_skipped;
        rep->missing = sg_issues_take_(&missing, &rep->n_missing);
        rep->unexpected = sg_issues_take_(&unexpected, &rep->n_unexpected);
    }
    free(source);
    sg_issues_free_(&missing);
    sg_issues_free_(&unexpected);
    sg_issues_free_(&mismatched);
    sg_st_close(&f);
    return rc;
}
