/*
 * dnnl_common.c: engine, stream and primitive cache of the oneDNN fast path
 * (dnnl_common.h), against the oneDNN 2.6 C API.
 *
 * Why a cache: creating a primitive descriptor and a primitive (dispatching
 * an implementation, JIT-compiling its kernel) costs far more than running a
 * small convolution, so each distinct (kind, shapes, parameters, threads) is
 * built once and kept for the life of the process; an atexit handler frees
 * it all, so leak checkers see a clean exit. The thread count is part of the
 * key because oneDNN sizes a primitive's work split (and its scratchpad) for
 * the OpenMP thread count at creation time. Lookup is an open-addressing
 * hash table over the key bytes; entries are separate allocations, so the
 * pointers callers hold stay valid when the table grows.
 *
 * Layout: callers see semiseg's plain layouts only (activations nchw,
 * weights oihw / goihw), because every other op, the tape and the
 * checkpoints work on contiguous NCHW. A convolution built on plain layouts
 * gets oneDNN's im2col + sgemm implementation; built with format_tag_any it
 * gets the AVX-512 direct kernels on blocked layouts (nChw16c, OIhw16i16o),
 * which are about twice as fast here. So, as PyTorch's mkldnn path does for
 * plain tensors, each argument whose chosen layout is not the plain one is
 * reordered into a blocked copy before the run (inputs) or out of it after
 * the run (outputs). Weights are reordered on every call: they change every
 * step. A reorder is a copy, so results do not depend on it.
 *
 * Memory objects (the primitive's, and for a reordered argument the plain
 * one over the caller's buffer) are made once per (primitive, argument)
 * with no buffer and pointed at the data with dnnl_memory_set_data_handle on
 * each run. Blocked copies, temporaries and oneDNN's scratchpad (primitives
 * use a user scratchpad) are carved from one scratch buffer that grows to
 * the largest call and is then reused: after the first step no run
 * allocates or touches fresh pages. Accumulating outputs reorder with a sum
 * post-op (dst += reorder(src), one rounding per element, exact) or, when
 * no reorder is needed, add a scratch result into the caller's buffer. A
 * recursive mutex (builders look up their forward hint while holding it)
 * makes the cache, the shared memory objects and the scratch buffer safe to
 * use from several threads, one run at a time.
 * Covered by tests/test_dnnl.c.
 */
#include "config.h"

#include "dnnl_common.h"

#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define SG_DNNL_MAX_ARGS 12
#define SG_DNNL_ALIGN 64

/* One argument of a primitive, set up on its first run. */
typedef struct {
    int arg;                 /* DNNL_ARG_* */
    bool output;
    bool blocked;            /* the primitive's layout is not the plain one */
    size_t bytes;            /* of the primitive's layout */
    dnnl_memory_t mem;       /* in the primitive's layout */
    dnnl_memory_t user;      /* blocked only: the plain layout, on the caller's buffer */
    dnnl_primitive_t to_blocked, from_blocked, from_blocked_add;   /* made on first use */
} sg_dnnl_argslot_;

struct sg_dnnl_prim {
    sg_dnnl_key key;
    uint64_t hash;
    dnnl_primitive_desc_t pd;
    dnnl_primitive_t prim;
    size_t scratchpad_bytes, workspace_bytes;
    int n_slots;
    sg_dnnl_argslot_ slots[SG_DNNL_MAX_ARGS];
    dnnl_memory_t scratchpad;   /* made on the first run that needs it */
};

static struct {
    dnnl_engine_t engine;
    dnnl_stream_t stream;
    sg_dnnl_prim **all;     /* in creation order: forward hints before their users */
    int n, cap;
    sg_dnnl_prim **slots;   /* hash table, n_slots a power of two, at most half full */
    int n_slots;
    char *scratch;          /* the shared scratch buffer, scratch_cap bytes */
    size_t scratch_cap;
    /* The blocked copy of one input kept by sg_dnnl_arg.keep: of buffer
     * kept_ptr in layout kept_md, in kept (kept_cap bytes). */
    const void *kept_ptr;
    dnnl_memory_desc_t kept_md;
    bool kept_valid;
    char *kept;
    size_t kept_cap;
} sg_dnnl_;

static pthread_mutex_t sg_dnnl_lock_ = PTHREAD_RECURSIVE_MUTEX_INITIALIZER_NP;

static void sg_dnnl_free_all_(void)
{
    /* Backward primitives were built after (and hinted by) their forward
     * ones: destroy in reverse creation order. */
    for (int i = sg_dnnl_.n - 1; i >= 0; i--) {
        sg_dnnl_prim *p = sg_dnnl_.all[i];
        for (int j = 0; j < p->n_slots; j++) {
            sg_dnnl_argslot_ *s = &p->slots[j];
            dnnl_memory_destroy(s->mem);
            dnnl_memory_destroy(s->user);
            dnnl_primitive_destroy(s->to_blocked);
            dnnl_primitive_destroy(s->from_blocked);
            dnnl_primitive_destroy(s->from_blocked_add);
        }
        dnnl_memory_destroy(p->scratchpad);
        dnnl_primitive_destroy(p->prim);
        dnnl_primitive_desc_destroy(p->pd);
        free(p);
    }
    free(sg_dnnl_.all);
    free(sg_dnnl_.slots);
    free(sg_dnnl_.scratch);
    free(sg_dnnl_.kept);
    if (sg_dnnl_.stream) dnnl_stream_destroy(sg_dnnl_.stream);
    if (sg_dnnl_.engine) dnnl_engine_destroy(sg_dnnl_.engine);
    memset(&sg_dnnl_, 0, sizeof sg_dnnl_);
}

static void sg_dnnl_init_locked_(void)
{
    if (sg_dnnl_.engine) return;
    SG_DNNL_CHECK(dnnl_engine_create(&sg_dnnl_.engine, dnnl_cpu, 0));
    SG_DNNL_CHECK(dnnl_stream_create(&sg_dnnl_.stream, sg_dnnl_.engine, dnnl_stream_default_flags));
    SG_CHECK(atexit(sg_dnnl_free_all_) == 0, "oneDNN: cannot register the exit handler");
}

dnnl_engine_t sg_dnnl_engine(void)
{
    pthread_mutex_lock(&sg_dnnl_lock_);
    sg_dnnl_init_locked_();
    dnnl_engine_t e = sg_dnnl_.engine;
    pthread_mutex_unlock(&sg_dnnl_lock_);
    return e;
}

/* FNV-1a over the key bytes (the key has no padding: all int-sized fields). */
static uint64_t sg_dnnl_hash_(const sg_dnnl_key *k)
{
    const unsigned char *b = (const unsigned char *)k;
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < sizeof *k; i++) h = (h ^ b[i]) * 1099511628211ull;
    return h;
}

static sg_dnnl_prim **sg_dnnl_slot_(sg_dnnl_prim **slots, int n_slots, const sg_dnnl_key *k,
                                    uint64_t h)
{
    size_t mask = (size_t)n_slots - 1;
    for (size_t i = (size_t)h & mask;; i = (i + 1) & mask) {
        sg_dnnl_prim *p = slots[i];
        if (!p || (p->hash == h && memcmp(&p->key, k, sizeof *k) == 0)) return &slots[i];
    }
}

static void sg_dnnl_insert_(sg_dnnl_prim *p)
{
    if (2 * (sg_dnnl_.n + 1) > sg_dnnl_.n_slots) {
        int n_slots = sg_dnnl_.n_slots ? 2 * sg_dnnl_.n_slots : 64;
        sg_dnnl_prim **slots = sg_xcalloc((size_t)n_slots, sizeof *slots);
        for (int i = 0; i < sg_dnnl_.n; i++) {
            sg_dnnl_prim *q = sg_dnnl_.all[i];
            *sg_dnnl_slot_(slots, n_slots, &q->key, q->hash) = q;
        }
        free(sg_dnnl_.slots);
        sg_dnnl_.slots = slots;
        sg_dnnl_.n_slots = n_slots;
    }
    if (sg_dnnl_.n == sg_dnnl_.cap) {
        sg_dnnl_.cap = sg_dnnl_.cap ? 2 * sg_dnnl_.cap : 64;
        sg_dnnl_prim **all = sg_xmalloc((size_t)sg_dnnl_.cap * sizeof *all);
        if (sg_dnnl_.n) memcpy(all, sg_dnnl_.all, (size_t)sg_dnnl_.n * sizeof *all);
        free(sg_dnnl_.all);
        sg_dnnl_.all = all;
    }
    sg_dnnl_.all[sg_dnnl_.n++] = p;
    *sg_dnnl_slot_(sg_dnnl_.slots, sg_dnnl_.n_slots, &p->key, p->hash) = p;
}

static size_t sg_dnnl_md_bytes_(const_dnnl_primitive_desc_t pd, dnnl_query_t what)
{
    const dnnl_memory_desc_t *md = dnnl_primitive_desc_query_md(pd, what, 0);
    return md ? dnnl_memory_desc_get_size(md) : 0;
}

sg_dnnl_prim *sg_dnnl_prim_get(const sg_dnnl_key *key, sg_dnnl_build_fn build)
{
    sg_dnnl_key k = *key;
    k.threads = sg_get_num_threads();
    uint64_t h = sg_dnnl_hash_(&k);
    pthread_mutex_lock(&sg_dnnl_lock_);
    sg_dnnl_init_locked_();
    sg_dnnl_prim *p = NULL;
    if (sg_dnnl_.n_slots) p = *sg_dnnl_slot_(sg_dnnl_.slots, sg_dnnl_.n_slots, &k, h);
    if (!p) {
        p = sg_xcalloc(1, sizeof *p);
        p->key = k;
        p->hash = h;
        p->pd = build(&k);
        SG_DNNL_CHECK(dnnl_primitive_create(&p->prim, p->pd));
        p->scratchpad_bytes = sg_dnnl_md_bytes_(p->pd, dnnl_query_scratchpad_md);
        p->workspace_bytes = sg_dnnl_md_bytes_(p->pd, dnnl_query_workspace_md);
        sg_dnnl_insert_(p);
    }
    pthread_mutex_unlock(&sg_dnnl_lock_);
    return p;
}

int sg_dnnl_cache_entries(void)
{
    pthread_mutex_lock(&sg_dnnl_lock_);
    int n = sg_dnnl_.n;
    pthread_mutex_unlock(&sg_dnnl_lock_);
    return n;
}

const_dnnl_primitive_desc_t sg_dnnl_prim_desc(const sg_dnnl_prim *p) { return p->pd; }

size_t sg_dnnl_prim_workspace_bytes(const sg_dnnl_prim *p) { return p->workspace_bytes; }

/* Arguments oneDNN writes. (MEAN and VARIANCE are written by a training
 * batch norm, but they are plain 1-D vectors, never reordered or
 * accumulated, so their direction does not matter.) */
static bool sg_dnnl_is_output_(int arg)
{
    return arg == DNNL_ARG_DST || arg == DNNL_ARG_DIFF_SRC || arg == DNNL_ARG_DIFF_WEIGHTS ||
           arg == DNNL_ARG_DIFF_BIAS || arg == DNNL_ARG_DIFF_SCALE || arg == DNNL_ARG_DIFF_SHIFT;
}

static size_t sg_dnnl_round_(size_t bytes)
{
    return (bytes + SG_DNNL_ALIGN - 1) & ~(size_t)(SG_DNNL_ALIGN - 1);
}

/* The plain f32 layout of md's dims (the workspace, of another type, stays as it is). */
static bool sg_dnnl_is_plain_(const dnnl_memory_desc_t *md)
{
    if (md->data_type != dnnl_f32) return true;
    dnnl_memory_desc_t plain = sg_dnnl_md(md->ndims, md->dims);
    return dnnl_memory_desc_equal(md, &plain);
}

/* The slot of argument `arg`, set up on first use. */
static sg_dnnl_argslot_ *sg_dnnl_slot_of_(sg_dnnl_prim *p, int arg)
{
    for (int i = 0; i < p->n_slots; i++)
        if (p->slots[i].arg == arg) return &p->slots[i];
    const dnnl_memory_desc_t *md = dnnl_primitive_desc_query_md(p->pd, dnnl_query_exec_arg_md, arg);
    SG_CHECK(md && md->ndims > 0 && p->n_slots < SG_DNNL_MAX_ARGS,
             "oneDNN: a %d primitive has no argument %d", (int)p->key.kind, arg);
    sg_dnnl_argslot_ *s = &p->slots[p->n_slots++];
    *s = (sg_dnnl_argslot_){.arg = arg, .output = sg_dnnl_is_output_(arg)};
    s->bytes = dnnl_memory_desc_get_size(md);
    s->blocked = arg != DNNL_ARG_WORKSPACE && !sg_dnnl_is_plain_(md);
    SG_DNNL_CHECK(dnnl_memory_create(&s->mem, md, sg_dnnl_.engine, DNNL_MEMORY_NONE));
    if (s->blocked) {
        dnnl_memory_desc_t plain = sg_dnnl_md(md->ndims, md->dims);
        SG_DNNL_CHECK(dnnl_memory_create(&s->user, &plain, sg_dnnl_.engine, DNNL_MEMORY_NONE));
    }
    return s;
}

/* A reorder between a slot's plain and blocked layouts; with `add`, the
 * result is added into the destination (a sum post-op). */
static dnnl_primitive_t sg_dnnl_reorder_(const sg_dnnl_argslot_ *s, bool to_blocked, bool add)
{
    const dnnl_memory_desc_t *blk, *plain;
    SG_DNNL_CHECK(dnnl_memory_get_memory_desc(s->mem, &blk));
    SG_DNNL_CHECK(dnnl_memory_get_memory_desc(s->user, &plain));
    dnnl_primitive_attr_t attr;
    SG_DNNL_CHECK(dnnl_primitive_attr_create(&attr));
    if (add) {
        dnnl_post_ops_t ops;
        SG_DNNL_CHECK(dnnl_post_ops_create(&ops));
        SG_DNNL_CHECK(dnnl_post_ops_append_sum(ops, 1.0f));
        SG_DNNL_CHECK(dnnl_primitive_attr_set_post_ops(attr, ops));
        SG_DNNL_CHECK(dnnl_post_ops_destroy(ops));
    }
    dnnl_primitive_desc_t pd;
    SG_DNNL_CHECK(dnnl_reorder_primitive_desc_create(&pd, to_blocked ? plain : blk,
                                                     sg_dnnl_.engine, to_blocked ? blk : plain,
                                                     sg_dnnl_.engine, attr));
    dnnl_primitive_t r;
    SG_DNNL_CHECK(dnnl_primitive_create(&r, pd));
    SG_DNNL_CHECK(dnnl_primitive_desc_destroy(pd));
    SG_DNNL_CHECK(dnnl_primitive_attr_destroy(attr));
    return r;
}

static void sg_dnnl_run_(dnnl_primitive_t prim, int n, const dnnl_exec_arg_t *ex)
{
    SG_DNNL_CHECK(dnnl_primitive_execute(prim, sg_dnnl_.stream, n, ex));
}

static void sg_dnnl_run_reorder_(dnnl_primitive_t r, dnnl_memory_t from, dnnl_memory_t to)
{
    const dnnl_exec_arg_t ex[] = {{DNNL_ARG_FROM, from}, {DNNL_ARG_TO, to}};
    sg_dnnl_run_(r, 2, ex);
}

/* dst[i] += src[i]: each element is one addition, so the split over threads
 * cannot change bits. */
static void sg_dnnl_add_into_(float *dst, const float *src, size_t n)
{
#pragma omp parallel for schedule(static) if (n >= 32768)
    for (size_t i = 0; i < n; i++) dst[i] += src[i];
}

/* Where each argument of a run goes: its slot, and the scratch offset of
 * its blocked copy or temporary (SIZE_MAX: the caller's buffer directly). */
typedef struct {
    sg_dnnl_argslot_ *slot;
    size_t off;
} sg_dnnl_place_;

/* Points s's blocked memory at the kept copy of ptr, reordering ptr into it
 * unless it already holds ptr in s's layout. */
static void sg_dnnl_run_kept_(sg_dnnl_argslot_ *s, void *ptr)
{
    const dnnl_memory_desc_t *md;
    SG_DNNL_CHECK(dnnl_memory_get_memory_desc(s->mem, &md));
    bool hit = sg_dnnl_.kept_valid && sg_dnnl_.kept_ptr == ptr &&
               dnnl_memory_desc_equal(&sg_dnnl_.kept_md, md);
    if (!hit && s->bytes > sg_dnnl_.kept_cap) {
        free(sg_dnnl_.kept);
        sg_dnnl_.kept = sg_xmalloc_aligned(s->bytes);
        sg_dnnl_.kept_cap = s->bytes;
    }
    SG_DNNL_CHECK(dnnl_memory_set_data_handle(s->mem, sg_dnnl_.kept));
    if (hit) return;
    if (!s->to_blocked) s->to_blocked = sg_dnnl_reorder_(s, true, false);
    SG_DNNL_CHECK(dnnl_memory_set_data_handle(s->user, ptr));
    sg_dnnl_run_reorder_(s->to_blocked, s->user, s->mem);
    sg_dnnl_.kept_ptr = ptr;
    sg_dnnl_.kept_md = *md;
    sg_dnnl_.kept_valid = true;
}

void sg_dnnl_drop_kept(void)
{
    pthread_mutex_lock(&sg_dnnl_lock_);
    sg_dnnl_.kept_valid = false;
    pthread_mutex_unlock(&sg_dnnl_lock_);
}

void sg_dnnl_exec(sg_dnnl_prim *p, int n, const sg_dnnl_arg *args)
{
    SG_CHECK(n >= 1 && n < SG_DNNL_MAX_ARGS, "oneDNN: %d arguments", n);
    pthread_mutex_lock(&sg_dnnl_lock_);
    sg_dnnl_place_ place[SG_DNNL_MAX_ARGS];
    size_t need = sg_dnnl_round_(p->scratchpad_bytes);
    for (int i = 0; i < n; i++) {
        sg_dnnl_argslot_ *s = sg_dnnl_slot_of_(p, args[i].arg);
        SG_CHECK(args[i].ptr || s->output, "oneDNN: input %d of a %d primitive is NULL",
                 args[i].arg, (int)p->key.kind);
        SG_CHECK(!args[i].accumulate || s->output,
                 "oneDNN: argument %d of a %d primitive is not an output", args[i].arg,
                 (int)p->key.kind);
        place[i].slot = s;
        place[i].off = SIZE_MAX;
        SG_CHECK(!args[i].keep || (!s->output && args[i].ptr),
                 "oneDNN: argument %d of a %d primitive cannot be kept", args[i].arg,
                 (int)p->key.kind);
        if ((s->blocked && !args[i].keep) || !args[i].ptr || args[i].accumulate) {
            place[i].off = need;
            need += sg_dnnl_round_(s->bytes);
        }
    }
    if (need > sg_dnnl_.scratch_cap) {
        /* Grows during the first step only; the contents need not survive. */
        free(sg_dnnl_.scratch);
        sg_dnnl_.scratch = sg_xmalloc_aligned(need);
        sg_dnnl_.scratch_cap = need;
    }
    char *scratch = sg_dnnl_.scratch;

    dnnl_exec_arg_t ex[SG_DNNL_MAX_ARGS];
    for (int i = 0; i < n; i++) {
        sg_dnnl_argslot_ *s = place[i].slot;
        void *buf = place[i].off == SIZE_MAX ? args[i].ptr : scratch + place[i].off;
        if (s->blocked && args[i].keep) {
            sg_dnnl_run_kept_(s, args[i].ptr);
            ex[i] = (dnnl_exec_arg_t){s->arg, s->mem};
            continue;
        }
        SG_DNNL_CHECK(dnnl_memory_set_data_handle(s->mem, buf));
        if (s->blocked && !s->output) {
            if (!s->to_blocked) s->to_blocked = sg_dnnl_reorder_(s, true, false);
            SG_DNNL_CHECK(dnnl_memory_set_data_handle(s->user, args[i].ptr));
            sg_dnnl_run_reorder_(s->to_blocked, s->user, s->mem);
        }
        ex[i] = (dnnl_exec_arg_t){s->arg, s->mem};
    }
    int nargs = n;
    if (p->scratchpad_bytes) {
        if (!p->scratchpad) {
            const dnnl_memory_desc_t *md =
                dnnl_primitive_desc_query_md(p->pd, dnnl_query_scratchpad_md, 0);
            SG_DNNL_CHECK(dnnl_memory_create(&p->scratchpad, md, sg_dnnl_.engine, DNNL_MEMORY_NONE));
        }
        SG_DNNL_CHECK(dnnl_memory_set_data_handle(p->scratchpad, scratch));
        ex[nargs++] = (dnnl_exec_arg_t){DNNL_ARG_SCRATCHPAD, p->scratchpad};
    }
    sg_dnnl_run_(p->prim, nargs, ex);
    SG_DNNL_CHECK(dnnl_stream_wait(sg_dnnl_.stream));
    for (int i = 0; i < n; i++) {
        sg_dnnl_argslot_ *s = place[i].slot;
        if (!s->output || !args[i].ptr) continue;
        if (s->blocked) {
            dnnl_primitive_t *r = args[i].accumulate ? &s->from_blocked_add : &s->from_blocked;
            if (!*r) *r = sg_dnnl_reorder_(s, false, args[i].accumulate);
            SG_DNNL_CHECK(dnnl_memory_set_data_handle(s->user, args[i].ptr));
            sg_dnnl_run_reorder_(*r, s->mem, s->user);
        } else if (args[i].accumulate) {
            sg_dnnl_add_into_(args[i].ptr, (const float *)(scratch + place[i].off),
                              s->bytes / sizeof(float));
        }
    }
    SG_DNNL_CHECK(dnnl_stream_wait(sg_dnnl_.stream));
    pthread_mutex_unlock(&sg_dnnl_lock_);
}

dnnl_primitive_attr_t sg_dnnl_attr_new(void)
{
    dnnl_primitive_attr_t attr;
    SG_DNNL_CHECK(dnnl_primitive_attr_create(&attr));
    SG_DNNL_CHECK(dnnl_primitive_attr_set_scratchpad_mode(attr, dnnl_scratchpad_mode_user));
    return attr;
}

dnnl_memory_desc_t sg_dnnl_md(int ndims, const dnnl_dim_t *dims)
{
    static const dnnl_format_tag_t tags[] = {dnnl_a, dnnl_ab, dnnl_abc, dnnl_abcd, dnnl_abcde};
    SG_CHECK(ndims >= 1 && ndims <= 5, "oneDNN: %d-D memory descriptor", ndims);
    dnnl_memory_desc_t md;
    SG_DNNL_CHECK(dnnl_memory_desc_init_by_tag(&md, ndims, dims, dnnl_f32, tags[ndims - 1]));
    return md;
}

dnnl_memory_desc_t sg_dnnl_md_any(int ndims, const dnnl_dim_t *dims)
{
    dnnl_memory_desc_t md;
    SG_DNNL_CHECK(dnnl_memory_desc_init_by_tag(&md, ndims, dims, dnnl_f32, dnnl_format_tag_any));
    return md;
}
