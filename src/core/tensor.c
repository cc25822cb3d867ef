/*
 * tensor.c: tensors, the bump arena and the execution context (tensor.h).
 *
 * The arena hands out 64-byte aligned slices of large blocks. When a step
 * needs more than the current block, a new block is chained; at the next
 * reset the chain is replaced by one block of the peak size, so from the
 * second step on the training loop performs no allocation at all (a fresh
 * page costs a fault of 14-20 us on the reference machine). The blocks of a
 * context's arena are memory of its backend's device (host memory for the
 * CPU backends, device memory for CUDA), so the same holds on a GPU: no
 * cudaMalloc in the hot loop after the first step.
 *
 * Covered by tests/test_tensor.c.
 */
#include "semiseg/tensor.h"
#include "semiseg/tape.h"

#include <math.h>
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

void sg_arena_init_on(sg_arena *a, const sg_backend *be)
{
    sg_arena_init(a);
    a->be = be;
}

static sg_arena_block *sg_arena_block_new_(const sg_arena *a, size_t cap)
{
    sg_arena_block *b = sg_xmalloc(sizeof *b);
    b->cap = cap;
    b->off = 0;
    b->mem = a->be ? a->be->alloc(cap) : sg_xmalloc_aligned(cap);
    b->next = NULL;
    return b;
}

static void sg_arena_block_free_(const sg_arena *a, sg_arena_block *b)
{
    if (a->be)
        a->be->free(b->mem);
    else
        free(b->mem);
    free(b);
}

void *sg_arena_alloc(sg_arena *a, size_t bytes)
{
    size_t need = (bytes + SG_ARENA_ALIGN - 1) & ~(size_t)(SG_ARENA_ALIGN - 1);
    if (need == 0) need = SG_ARENA_ALIGN;
    if (!a->head || a->head->off + need > a->head->cap) {
        size_t cap = a->head ? a->head->cap * 2 : SG_ARENA_MIN_BLOCK;
        while (cap < need) cap *= 2;
        sg_arena_block *b = sg_arena_block_new_(a, cap);
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
    if (a->be)
        a->be->memset_zero(p, bytes);
    else
        memset(p, 0, bytes);
    return p;
}

static void sg_arena_free_blocks_(const sg_arena *a, sg_arena_block *b)
{
    while (b) {
        sg_arena_block *next = b->next;
        sg_arena_block_free_(a, b);
        b = next;
    }
}

void sg_arena_reset(sg_arena *a)
{
    if (a->head && a->head->next) {
        /* Several blocks: coalesce into one that fits the whole peak. */
        size_t cap = SG_ARENA_MIN_BLOCK;
        while (cap < a->peak) cap *= 2;
        sg_arena_free_blocks_(a, a->head);
        a->head = sg_arena_block_new_(a, cap);
    }
    if (a->head) a->head->off = 0;
    a->used = 0;
}

void sg_arena_free(sg_arena *a)
{
    const sg_backend *be = a->be;
    sg_arena_free_blocks_(a, a->head);
    memset(a, 0, sizeof *a);
    a->be = be;
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
        sg_arena_block_free_(a, b);
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

void sg_ctx_init(sg_ctx *ctx) { sg_ctx_init_on(ctx, sg_backend_cpu_default()); }

void sg_ctx_init_on(sg_ctx *ctx, const sg_backend *be)
{
    SG_CHECK(be != NULL, "sg_ctx_init_on: no backend");
    memset(ctx, 0, sizeof *ctx);
    ctx->be = be;
    /* Host memory for the CPU backends: malloc'd blocks, as before tables. */
    sg_arena_init_on(&ctx->arena, be->device.type == SG_DEVICE_CPU ? NULL : be);
    sg_arena_init(&ctx->host);
    ctx->grad_enabled = true;
}

sg_arena *sg_ctx_host_arena(sg_ctx *ctx) { return ctx->arena.be ? &ctx->host : &ctx->arena; }

void *sg_ctx_stage(sg_ctx *ctx, sg_tensor *t)
{
    if (!ctx->arena.be) return t->data;
    return sg_arena_alloc(&ctx->host, sg_numel(t) * sg_dtype_size(t->dtype));
}

void sg_ctx_stage_done(sg_ctx *ctx, sg_tensor *t, const void *host)
{
    if (host != t->data) ctx->be->to_device(t->data, host, sg_numel(t) * sg_dtype_size(t->dtype));
}

void *sg_ctx_upload(sg_ctx *ctx, void *host, size_t bytes)
{
    if (!ctx->arena.be) return host;
    void *dev = sg_arena_alloc(&ctx->arena, bytes);
    ctx->be->to_device(dev, host, bytes);
    return dev;
}

void sg_ctx_free(sg_ctx *ctx)
{
    sg_arena_free(&ctx->arena);
    sg_arena_free(&ctx->host);
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
    sg_arena_reset(&ctx->host);
}

sg_tensor *sg_ctx_release_keep(sg_ctx *ctx, sg_arena_mark mark, int n_nodes_at_mark,
                               const sg_tensor *t)
{
    SG_CHECK(ctx->n_nodes == n_nodes_at_mark,
             "sg_ctx_release_keep: %d ops were recorded since the mark; their saved tensors "
             "would be freed", ctx->n_nodes - n_nodes_at_mark);
    /* Before any backward, so no recycled gradient lives in the released memory. */
    SG_CHECK(!ctx->replayed, "sg_ctx_release_keep after sg_backward");
    SG_CHECK(!t->grad, "sg_ctx_release_keep: the kept tensor must not carry a gradient");
    sg_tensor copy = *t;
    size_t bytes = sg_numel(t) * sg_dtype_size(t->dtype);
    sg_arena *a = &ctx->arena;
    const size_t need = (bytes + SG_ARENA_ALIGN - 1) & ~(size_t)(SG_ARENA_ALIGN - 1);
    if (a->be && mark.block && mark.block == a->head && a->head->off + need <= a->head->cap) {
        /* Steady state on a device, where copies must not overlap: stage the
         * data in the free space above everything allocated (disjoint from t,
         * and from where t lands, since t lies above the mark), release, and
         * copy it down. Both copies are ordered on the device's stream. */
        void *tmp = a->head->mem + a->head->off;
        ctx->be->copy(tmp, copy.data, bytes);
        sg_arena_release(a, mark);
        sg_tensor *out = sg_tensor_new(ctx, copy.dtype, copy.ndim, copy.shape);
        ctx->be->copy(out->data, tmp, bytes);
        return out;
    }
    if (a->be) {
        /* The first steps, which chain blocks: through a temporary. */
        void *tmp = ctx->be->alloc(bytes);
        ctx->be->copy(tmp, copy.data, bytes);
        sg_arena_release(&ctx->arena, mark);
        sg_tensor *out = sg_tensor_new(ctx, copy.dtype, copy.ndim, copy.shape);
        ctx->be->copy(out->data, tmp, bytes);
        ctx->be->free(tmp);
        return out;
    }
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
    sg_tensor *t = sg_arena_alloc(sg_ctx_host_arena(ctx), sizeof *t);
    sg_set_shape_(t, dt, ndim, shape);
    t->device = ctx->be->device;
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
    return sg_tensor_alloc_on(sg_backend_cpu_default(), dt, ndim, shape, requires_grad);
}

sg_tensor *sg_tensor_alloc_on(const sg_backend *be, sg_dtype dt, int ndim, const int *shape,
                              bool requires_grad)
{
    sg_tensor *t = sg_xmalloc(sizeof *t);
    sg_set_shape_(t, dt, ndim, shape);
    t->device = be->device;
    size_t n = sg_numel(t);
    t->data = be->alloc(n * sg_dtype_size(dt));
    be->memset_zero(t->data, n * sg_dtype_size(dt));
    t->owns_memory = true;
    if (requires_grad) {
        SG_CHECK(dt == SG_F32, "only float tensors can require a gradient");
        t->requires_grad = true;
        t->grad = be->alloc(n * sizeof(float));
        be->memset_zero(t->grad, n * sizeof(float));
    }
    return t;
}

/* A copy of n bytes at p (on device `from`) in to's memory. */
static void *sg_move_bytes_(const void *p, size_t n, const sg_backend *from, const sg_backend *to)
{
    void *q = to->alloc(n);
    if (from->device.type == SG_DEVICE_CPU) {
        to->to_device(q, p, n);
    } else if (to->device.type == SG_DEVICE_CPU) {
        from->to_host(q, p, n);
    } else {
        void *h = sg_xmalloc(n);
        from->to_host(h, p, n);
        to->to_device(q, h, n);
        free(h);
    }
    return q;
}

void sg_tensor_move(sg_tensor *t, const sg_backend *be)
{
    SG_CHECK(t->owns_memory, "sg_tensor_move on an arena tensor");
    if (sg_device_equal(t->device, be->device)) return;
    const sg_backend *from = sg_backend_of_device(t->device);
    size_t n = sg_numel(t);
    void *data = sg_move_bytes_(t->data, n * sg_dtype_size(t->dtype), from, be);
    from->free(t->data);
    t->data = data;
    if (t->grad) {
        float *grad = sg_move_bytes_(t->grad, n * sizeof(float), from, be);
        from->free(t->grad);
        t->grad = grad;
    }
    t->device = be->device;
}

void sg_tensor_free(sg_tensor *t)
{
    if (!t) return;
    SG_CHECK(t->owns_memory, "sg_tensor_free on an arena tensor");
    const sg_backend *be = sg_backend_of_device(t->device);
    be->free(t->data);
    if (t->grad) be->free(t->grad);
    free(t);
}

void sg_tensor_read(const sg_tensor *t, void *host)
{
    sg_backend_of_device(t->device)->to_host(host, t->data, sg_numel(t) * sg_dtype_size(t->dtype));
}

void sg_tensor_write(sg_tensor *t, const void *host)
{
    sg_backend_of_device(t->device)->to_device(t->data, host,
                                               sg_numel(t) * sg_dtype_size(t->dtype));
}

void sg_tensor_read_range(const sg_tensor *t, size_t first, size_t n, void *host)
{
    SG_CHECK(first <= sg_numel(t) && n <= sg_numel(t) - first,
             "sg_tensor_read_range: elements [%zu, %zu) of a tensor of %zu", first, first + n, sg_numel(t));
    const size_t es = sg_dtype_size(t->dtype);
    if (n) sg_backend_of_device(t->device)->to_host(host, (const char *)t->data + first * es, n * es);
}

void sg_tensor_write_range(sg_tensor *t, size_t first, size_t n, const void *host)
{
    SG_CHECK(first <= sg_numel(t) && n <= sg_numel(t) - first,
             "sg_tensor_write_range: elements [%zu, %zu) of a tensor of %zu", first, first + n, sg_numel(t));
    const size_t es = sg_dtype_size(t->dtype);
    if (n) sg_backend_of_device(t->device)->to_device((char *)t->data + first * es, host, n * es);
}

float sg_tensor_item(const sg_tensor *t)
{
    SG_CHECK(t->dtype == SG_F32, "sg_tensor_item: expects a float tensor");
    if (t->device.type == SG_DEVICE_CPU) return t->data[0];
    float v;
    sg_backend_of_device(t->device)->to_host(&v, t->data, sizeof v);
    return v;
}

void sg_check_device(const sg_ctx *ctx, const char *op, const sg_tensor *t)
{
    if (!t || sg_device_equal(t->device, ctx->be->device)) return;
    char a[SG_DEVICE_STR_LEN], b[SG_DEVICE_STR_LEN], s[SG_SHAPE_STR_LEN];
    SG_CHECK(0, "%s: tensor %s is on %s, the context runs on %s (%s)", op,
             sg_shape_str(t, s, sizeof s), sg_device_str(t->device, a, sizeof a),
             sg_device_str(ctx->be->device, b, sizeof b), ctx->be->name);
}

sg_tensor *sg_tensor_view(sg_ctx *ctx, const sg_tensor *src, int ndim, const int *shape)
{
    sg_tensor *t = sg_arena_alloc(sg_ctx_host_arena(ctx), sizeof *t);
    sg_set_shape_(t, src->dtype, ndim, shape);
    t->device = src->device;
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

/* A recycled dead gradient of `bytes` (its old contents), or NULL when the
 * free list has none; *recycled says which. */
static float *sg_grad_take_(sg_ctx *ctx, size_t bytes, bool *recycled)
{
    for (int i = ctx->n_free_grads - 1; i >= 0; i--)
        if (ctx->free_grads[i].bytes == bytes) {
            float *g = ctx->free_grads[i].ptr;
            ctx->free_grads[i] = ctx->free_grads[--ctx->n_free_grads];
            *recycled = true;
            return g;
        }
    *recycled = false;
    return NULL;
}

float *sg_grad_buffer(sg_ctx *ctx, sg_tensor *t)
{
    if (!t || !t->requires_grad) return NULL;
    if (!t->grad) {
        size_t bytes = sg_numel(t) * sizeof(float);
        bool recycled;
        t->grad = sg_grad_take_(ctx, bytes, &recycled);
        if (!recycled) t->grad = sg_arena_alloc(&ctx->arena, bytes);
        /* The backend's fill, which on the CPU splits large buffers over the threads. */
        ctx->be->memset_zero(t->grad, bytes);
    }
    return t->grad;
}

float *sg_grad_buffer_dx(sg_ctx *ctx, const sg_backend *be, sg_tensor *t, bool *dx_zero)
{
    *dx_zero = t && t->grad == NULL;
    if (!*dx_zero || !t->requires_grad || !be->dx_zero_overwrites) return sg_grad_buffer(ctx, t);
    size_t n = sg_numel(t);
    bool recycled;
    t->grad = sg_grad_take_(ctx, n * sizeof(float), &recycled);
    if (!recycled) t->grad = sg_arena_alloc(&ctx->arena, n * sizeof(float));
#if defined(__SANITIZE_ADDRESS__)
    for (size_t i = 0; i < n; i++) t->grad[i] = NAN;
#endif
    return t->grad;
}

void sg_tensor_zero_grad(sg_tensor *t)
{
    if (t->grad)
        sg_backend_of_device(t->device)->memset_zero(t->grad, sg_numel(t) * sizeof(float));
}
