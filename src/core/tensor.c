/*
 * tensor.c: tensors, the bump arena and the execution context (tensor.h).
 *
 * The arena hands out 64-byte aligned slices of large blocks. When a step
 * needs more than the current block, a new block is chained; at the next
 * reset the chain is replaced by one block of the peak size, so from the
 * second step on the training loop performs no allocation at all (a fresh
 * page costs a fault of 14-20 us on the reference machine).
 *
 * Covered by tests/test_tensor.c.
 */
#include "semiseg/tensor.h"
#include "semiseg/tape.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct sg_arena_block {
    sg_arena_block *next;
    size_t cap;
    size_t off;
    char *mem;
};

#define SG_ARENA_ALIGN 64
#define SG_ARENA_MIN_BLOCK ((size_t)1 << 20)

void sg_arena_init(sg_arena *a) { memset(a, 0, sizeof *a); }

static sg_arena_block *sg_arena_block_new_(size_t cap)
{
    sg_arena_block *b = sg_xmalloc(sizeof *b);
    b->cap = cap;
    b->off = 0;
    b->mem = sg_xmalloc_aligned(cap);
    b->next = NULL;
    return b;
}

void *sg_arena_alloc(sg_arena *a, size_t bytes)
{
    size_t need = (bytes + SG_ARENA_ALIGN - 1) & ~(size_t)(SG_ARENA_ALIGN - 1);
    if (need == 0) need = SG_ARENA_ALIGN;
    if (!a->head || a->head->off + need > a->head->cap) {
        size_t cap = a->head ? a->head->cap * 2 : SG_ARENA_MIN_BLOCK;
        while (cap < need) cap *= 2;
        sg_arena_block *b = sg_arena_block_new_(cap);
        b->next = a->head;
        a->head = b;
    }
    void *p = a->head->mem + a->head->off;
    a->head->off += need;
    a->used += need;
    if (a->used > a->peak) a->peak = a->used;
    return p;
}

void *sg_arena_calloc(sg_arena *a, size_t bytes)
{
    void *p = sg_arena_alloc(a, bytes);
    memset(p, 0, bytes);
    return p;
}

static void sg_arena_free_blocks_(sg_arena_block *b)
{
    while (b) {
        sg_arena_block *next = b->next;
        free(b->mem);
        free(b);
        b = next;
    }
}

void sg_arena_reset(sg_arena *a)
{
    if (a->head && a->head->next) {
        /* Several blocks: coalesce into one that fits the whole peak. */
        size_t cap = SG_ARENA_MIN_BLOCK;
        while (cap < a->peak) cap *= 2;
        sg_arena_free_blocks_(a->head);
        a->head = sg_arena_block_new_(cap);
    }
    if (a->head) a->head->off = 0;
    a->used = 0;
}

void sg_arena_free(sg_arena *a)
{
    sg_arena_free_blocks_(a->head);
    memset(a, 0, sizeof *a);
}

sg_arena_mark sg_arena_get_mark(const sg_arena *a)
{
    sg_arena_mark m = {a->head, a->head ? a->head->off : 0, a->used};
    return m;
}

void sg_arena_release(sg_arena *a, sg_arena_mark m)
{
    while (a->head != m.block) {
        SG_CHECK(a->head != NULL, "sg_arena_release: the mark is not in this arena");
        sg_arena_block *b = a->head;
        a->head = b->next;
        free(b->mem);
        free(b);
    }
    if (a->head) a->head->off = m.off;
    a->used = m.used;
}

size_t sg_arena_capacity(const sg_arena *a)
{
    size_t cap = 0;
    for (const sg_arena_block *b = a->head; b; b = b->next) cap += b->cap;
    return cap;
}

/* ---- context ---------------------------------------------------------------- */

void sg_ctx_init(sg_ctx *ctx)
{
    memset(ctx, 0, sizeof *ctx);
    sg_arena_init(&ctx->arena);
    ctx->grad_enabled = true;
}

void sg_ctx_free(sg_ctx *ctx)
{
    sg_arena_free(&ctx->arena);
    free(ctx->nodes);
    free(ctx->free_grads);
    memset(ctx, 0, sizeof *ctx);
}

void sg_ctx_reset(sg_ctx *ctx)
{
    ctx->n_nodes = 0;
    ctx->replayed = false;
    ctx->n_free_grads = 0;
    sg_arena_reset(&ctx->arena);
}

sg_tensor *sg_ctx_release_keep(sg_ctx *ctx, sg_arena_mark mark, int n_nodes_at_mark, const sg_tensor *t)
{
    SG_CHECK(ctx->n_nodes == n_nodes_at_mark,
             "sg_ctx_release_keep: %d ops were recorded since the mark; their saved tensors "
             "would be freed", ctx->n_nodes - n_nodes_at_mark);
    /* Before any backward, so no recycled gradient lives in the released memory. */
    SG_CHECK(!ctx->replayed, "sg_ctx_release_keep after sg_backward");
    SG_CHECK(!t->grad, "sg_ctx_release_keep: the kept tensor must not carry a gradient");
    sg_tensor copy = *t;
    size_t bytes = sg_numel(t) * sg_dtype_size(t->dtype);
    if (mark.block && mark.block == ctx->arena.head) {
        /* Steady state: one block; slide the data down over the dead memory. */
        sg_arena_release(&ctx->arena, mark);
        sg_tensor *out = sg_arena_alloc(&ctx->arena, sizeof *out);
        void *data = sg_arena_alloc(&ctx->arena, bytes);
        memmove(data, copy.data, bytes);
        *out = copy;
        out->data = data;
        return out;
    }
    /* The first steps chain new blocks: keep a copy while they are freed. */
    void *tmp = sg_xmalloc(bytes);
    memcpy(tmp, copy.data, bytes);
    sg_arena_release(&ctx->arena, mark);
    sg_tensor *out = sg_tensor_new(ctx, copy.dtype, copy.ndim, copy.shape);
    memcpy(out->data, tmp, bytes);
    free(tmp);
    return out;
}

bool sg_ctx_set_grad(sg_ctx *ctx, bool enabled)
{
    bool prev = ctx->grad_enabled;
    ctx->grad_enabled = enabled;
    return prev;
}

/* ---- tensors ----------------------------------------------------------------- */

size_t sg_dtype_size(sg_dtype dt)
{
    switch (dt) {
    case SG_F32: return sizeof(float);
    case SG_I32: return sizeof(int32_t);
    case SG_U8: return 1;
    }
    SG_CHECK(0, "unknown dtype %d", (int)dt);
}

size_t sg_numel(const sg_tensor *t)
{
    size_t n = 1;
    for (int i = 0; i < t->ndim; i++) n *= (size_t)t->shape[i];
    return n;
}

static void sg_set_shape_(sg_tensor *t, sg_dtype dt, int ndim, const int *shape)
{
    SG_CHECK(ndim >= 1 && ndim <= SG_MAX_DIMS, "ndim %d outside 1..%d", ndim, SG_MAX_DIMS);
    memset(t, 0, sizeof *t);
    t->ndim = ndim;
    t->dtype = dt;
    for (int i = 0; i < ndim; i++) {
        SG_CHECK(shape[i] >= 1, "dimension %d has size %d; sizes must be >= 1", i, shape[i]);
        t->shape[i] = shape[i];
    }
}

sg_tensor *sg_tensor_new(sg_ctx *ctx, sg_dtype dt, int ndim, const int *shape)
{
    sg_tensor *t = sg_arena_alloc(&ctx->arena, sizeof *t);
    sg_set_shape_(t, dt, ndim, shape);
    t->data = sg_arena_alloc(&ctx->arena, sg_numel(t) * sg_dtype_size(dt));
    return t;
}

sg_tensor *sg_tensor_new4(sg_ctx *ctx, int n, int c, int h, int w)
{
    int shape[4] = {n, c, h, w};
    return sg_tensor_new(ctx, SG_F32, 4, shape);
}

sg_tensor *sg_tensor_like(sg_ctx *ctx, const sg_tensor *like)
{
    return sg_tensor_new(ctx, like->dtype, like->ndim, like->shape);
}

sg_tensor *sg_tensor_alloc(sg_dtype dt, int ndim, const int *shape, bool requires_grad)
{
    sg_tensor *t = sg_xmalloc(sizeof *t);
    sg_set_shape_(t, dt, ndim, shape);
    size_t n = sg_numel(t);
    t->data = sg_xmalloc_aligned(n * sg_dtype_size(dt));
    memset(t->data, 0, n * sg_dtype_size(dt));
    t->owns_memory = true;
    if (requires_grad) {
        SG_CHECK(dt == SG_F32, "only float tensors can require a gradient");
        t->requires_grad = true;
        t->grad = sg_xmalloc_aligned(n * sizeof(float));
        memset(t->grad, 0, n * sizeof(float));
    }
    return t;
}

void sg_tensor_free(sg_tensor *t)
{
    if (!t) return;
    SG_CHECK(t->owns_memory, "sg_tensor_free on an arena tensor");
    free(t->data);
    free(t->grad);
    free(t);
}

sg_tensor *sg_tensor_view(sg_ctx *ctx, const sg_tensor *src, int ndim, const int *shape)
{
    sg_tensor *t = sg_arena_alloc(&ctx->arena, sizeof *t);
    sg_set_shape_(t, src->dtype, ndim, shape);
    char a[SG_SHAPE_STR_LEN], b[SG_SHAPE_STR_LEN];
    SG_CHECK(sg_numel(t) == sg_numel(src), "sg_tensor_view: cannot view %s as %s",
             sg_shape_str(src, a, sizeof a), sg_shape_str(t, b, sizeof b));
    t->data = src->data;
    return t;
}

bool sg_same_shape(const sg_tensor *a, const sg_tensor *b)
{
    if (a->ndim != b->ndim) return false;
    for (int i = 0; i < a->ndim; i++)
        if (a->shape[i] != b->shape[i]) return false;
    return true;
}

const char *sg_shape_str(const sg_tensor *t, char *buf, size_t len)
{
    size_t off = 0;
    off += (size_t)snprintf(buf + off, len - off, "[");
    for (int i = 0; i < t->ndim && off < len; i++)
        off += (size_t)snprintf(buf + off, len - off, i ? ", %d" : "%d", t->shape[i]);
    if (off < len) snprintf(buf + off, len - off, "]");
    return buf;
}

float *sg_grad_buffer(sg_ctx *ctx, sg_tensor *t)
{
    if (!t || !t->requires_grad) return NULL;
    if (!t->grad) {
        size_t bytes = sg_numel(t) * sizeof(float);
        for (int i = ctx->n_free_grads - 1; i >= 0; i--)
            if (ctx->free_grads[i].bytes == bytes) {
                t->grad = ctx->free_grads[i].ptr;
                ctx->free_grads[i] = ctx->free_grads[--ctx->n_free_grads];
                memset(t->grad, 0, bytes);
                return t->grad;
            }
        t->grad = sg_arena_calloc(&ctx->arena, bytes);
    }
    return t->grad;
}

void sg_tensor_zero_grad(sg_tensor *t)
{
    if (t->grad) memset(t->grad, 0, sg_numel(t) * sizeof(float));
}
