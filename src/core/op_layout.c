/*
 * op_layout.c: autograd wrappers of the layout ops (ops.h): sg_concat
 * (torch.cat) and sg_narrow (torch.Tensor.narrow, copied), which view
 * tensors as (outer, len, inner) around the chosen dimension; sg_reshape
 * (torch.reshape, a view), sg_permute (x.permute(perm).contiguous()) and
 * sg_index_select (torch.index_select(x, 0, idx)). The kernels are the
 * context's backend's (backend.h). Covered by tests/test_ops_layout.c
 * (concat, narrow) and tests/test_ops_extra.c (reshape, permute,
 * index_select).
 */
#include "semiseg/ops.h"

#include <stdio.h>

/* Sizes of the (outer, len, inner) view of t around `dim`. */
static void sg_split_dims_(const sg_tensor *t, int dim, size_t *outer, size_t *inner)
{
    *outer = 1;
    *inner = 1;
    for (int i = 0; i < dim; i++) *outer *= (size_t)t->shape[i];
    for (int i = dim + 1; i < t->ndim; i++) *inner *= (size_t)t->shape[i];
}

/* ---- concat --------------------------------------------------------------------- */
typedef struct {
    sg_node node;
    int n, dim;
    sg_tensor *xs[]; /* the n inputs, in order */
} sg_concat_node;

static void sg_concat_backward_(sg_ctx *ctx, sg_node *node)
{
    sg_concat_node *c = (sg_concat_node *)node;
    const sg_tensor *out = node->out;
    size_t outer, inner;
    sg_split_dims_(out, c->dim, &outer, &inner);
    int off = 0;
    for (int i = 0; i < c->n; i++) {
        const int len = c->xs[i]->shape[c->dim];
        float *dx = sg_grad_buffer(ctx, c->xs[i]);
        if (dx) SG_BACKEND_NEED(ctx->be, concat_backward)(dx, out->grad, outer, out->shape[c->dim],
                                                          off, len, inner);
        off += len;
    }
}

sg_tensor *sg_concat(sg_ctx *ctx, sg_tensor *const *xs, int n, int dim)
{
    SG_CHECK(n >= 1, "sg_concat: needs at least one tensor, got %d", n);
    const sg_tensor *x0 = xs[0];
    char a[SG_SHAPE_STR_LEN], b[SG_SHAPE_STR_LEN];
    SG_CHECK(dim >= 0 && dim < x0->ndim, "sg_concat: dim %d out of range for %s", dim,
             sg_shape_str(x0, a, sizeof a));
    int total = 0;
    for (int i = 0; i < n; i++) {
        const sg_tensor *x = xs[i];
        bool match = x->dtype == SG_F32 && x->ndim == x0->ndim;
        for (int d = 0; match && d < x->ndim; d++)
            match = d == dim || x->shape[d] == x0->shape[d];
        SG_CHECK(match,
                 "sg_concat: float tensors must match except in dim %d: tensor 0 is %s, "
                 "tensor %d is %s",
                 dim, sg_shape_str(x0, a, sizeof a), i, sg_shape_str(x, b, sizeof b));
        sg_check_device(ctx, "sg_concat", x);
        total += x->shape[dim];
    }
    int shape[SG_MAX_DIMS];
    for (int d = 0; d < x0->ndim; d++) shape[d] = d == dim ? total : x0->shape[d];
    sg_tensor *out = sg_tensor_new(ctx, SG_F32, x0->ndim, shape);

    size_t outer, inner;
    sg_split_dims_(out, dim, &outer, &inner);
    int off = 0;
    for (int i = 0; i < n; i++) {
        const int len = xs[i]->shape[dim];
        SG_BACKEND_NEED(ctx->be, concat_forward)(out->data, xs[i]->data, outer, total, off, len,
                                                 inner);
        off += len;
    }
    if (sg_should_record(ctx, n, (const sg_tensor *const *)xs)) {
        sg_concat_node *c = sg_tape_record(ctx, sizeof *c + (size_t)n * sizeof c->xs[0],
                                           "sg_concat", sg_concat_backward_, out);
        c->n = n;
        c->dim = dim;
        for (int i = 0; i < n; i++) c->xs[i] = xs[i];
    }
    return out;
}

/* ---- narrow --------------------------------------------------------------------- */
typedef struct {
    sg_node node;
    sg_tensor *x;
    int dim, start;
} sg_narrow_node;

static void sg_narrow_backward_(sg_ctx *ctx, sg_node *node)
{
    sg_narrow_node *n = (sg_narrow_node *)node;
    const sg_tensor *out = node->out;
    float *dx = sg_grad_buffer(ctx, n->x);
    if (!dx) return;
    size_t outer, inner;
    sg_split_dims_(n->x, n->dim, &outer, &inner);
    SG_BACKEND_NEED(ctx->be, narrow_backward)(dx, out->grad, outer, n->x->shape[n->dim], n->start,
                                              out->shape[n->dim], inner);
}

sg_tensor *sg_narrow(sg_ctx *ctx, sg_tensor *x, int dim, int start, int length)
{
    sg_check_device(ctx, "sg_narrow", x);
    char s[SG_SHAPE_STR_LEN];
    SG_CHECK(x->dtype == SG_F32, "sg_narrow: expects a float tensor, got %s",
             sg_shape_str(x, s, sizeof s));
    SG_CHECK(dim >= 0 && dim < x->ndim, "sg_narrow: dim %d out of range for %s", dim,
             sg_shape_str(x, s, sizeof s));
    SG_CHECK(start >= 0 && length >= 1 && start <= x->shape[dim] - length,
             "sg_narrow: start %d, length %d out of range for dim %d of %s", start, length, dim,
             sg_shape_str(x, s, sizeof s));
    int shape[SG_MAX_DIMS];
    for (int d = 0; d < x->ndim; d++) shape[d] = d == dim ? length : x->shape[d];
    sg_tensor *out = sg_tensor_new(ctx, SG_F32, x->ndim, shape);
    size_t outer, inner;
    sg_split_dims_(x, dim, &outer, &inner);
    SG_BACKEND_NEED(ctx->be, narrow_forward)(out->data, x->data, outer, x->shape[dim], start,
                                             length, inner);
    if (sg_should_record(ctx, 1, (const sg_tensor *const[]){x})) {
        sg_narrow_node *n = sg_tape_record(ctx, sizeof *n, "sg_narrow", sg_narrow_backward_, out);
        n->x = x;
        n->dim = dim;
        n->start = start;
    }
    return out;
}

/* "[2, -1, 3]": an int list as the shape strings print it; returns buf. */
static const char *sg_ints_str_(const int *v, int n, char *buf, size_t len)
{
    size_t off = (size_t)snprintf(buf, len, "[");
    for (int i = 0; i < n && off < len; i++)
        off += (size_t)snprintf(buf + off, len - off, i ? ", %d" : "%d", v[i]);
    if (off < len) snprintf(buf + off, len - off, "]");
    return buf;
}

/* Stops unless x is a float tensor on ctx's device. */
static void sg_check_float_(sg_ctx *ctx, const char *op, const sg_tensor *x)
{
    sg_check_device(ctx, op, x);
    char s[SG_SHAPE_STR_LEN];
    SG_CHECK(x->dtype == SG_F32, "%s: expects a float tensor, got a%s tensor %s", op,
             x->dtype == SG_I32 ? "n int32" : " uint8", sg_shape_str(x, s, sizeof s));
}

/* ---- reshape -------------------------------------------------------------------- */
typedef struct {
    sg_node node;
    sg_tensor *x;
} sg_reshape_node;

static void sg_reshape_backward_(sg_ctx *ctx, sg_node *node)
{
    sg_reshape_node *r = (sg_reshape_node *)node;
    float *dx = sg_grad_buffer(ctx, r->x);
    /* The same elements in the same order: dx += dout, which is add's
     * backward with one operand, so reshape needs no kernel of its own. */
    if (dx) SG_BACKEND_NEED(ctx->be, add_backward)(dx, NULL, node->out->grad, sg_numel(r->x));
}

sg_tensor *sg_reshape(sg_ctx *ctx, sg_tensor *x, int ndim, const int *shape)
{
    sg_check_float_(ctx, "sg_reshape", x);
    char s[SG_SHAPE_STR_LEN], t[SG_SHAPE_STR_LEN];
    SG_CHECK(ndim >= 1 && ndim <= SG_MAX_DIMS, "sg_reshape: %d dims requested for %s; 1..%d allowed",
             ndim, sg_shape_str(x, s, sizeof s), SG_MAX_DIMS);
    /* One size may be -1, inferred from the others (as torch.reshape). */
    int dims[SG_MAX_DIMS], infer = -1;
    size_t known = 1;
    for (int d = 0; d < ndim; d++) {
        dims[d] = shape[d];
        if (shape[d] == -1 && infer < 0) {
            infer = d;
            continue;
        }
        SG_CHECK(shape[d] >= 1, "sg_reshape: bad size %d in %s for %s", shape[d],
                 sg_ints_str_(shape, ndim, t, sizeof t), sg_shape_str(x, s, sizeof s));
        known *= (size_t)shape[d];
    }
    const size_t n = sg_numel(x);
    if (infer >= 0 && n % known == 0) dims[infer] = (int)(n / known);
    SG_CHECK(infer < 0 ? known == n : n % known == 0,
             "sg_reshape: cannot reshape %s (%zu elements) to %s", sg_shape_str(x, s, sizeof s),
             n, sg_ints_str_(shape, ndim, t, sizeof t));
    /* A view: out shares x's memory, as torch.reshape of a contiguous tensor
     * does, so nothing is copied and a write to one (none of the ops writes
     * its inputs) shows in both. Its gradient is a buffer of its own. */
    sg_tensor *out = sg_tensor_view(ctx, x, ndim, dims);
    if (sg_should_record(ctx, 1, (const sg_tensor *const[]){x})) {
        sg_reshape_node *r = sg_tape_record(ctx, sizeof *r, "sg_reshape", sg_reshape_backward_, out);
        r->x = x;
    }
    return out;
}

/* ---- permute -------------------------------------------------------------------- */
typedef struct {
    sg_node node;
    sg_tensor *x;
    sg_permute_dims d;
} sg_permute_node;

static void sg_permute_backward_(sg_ctx *ctx, sg_node *node)
{
    sg_permute_node *p = (sg_permute_node *)node;
    float *dx = sg_grad_buffer(ctx, p->x);
    if (dx) SG_BACKEND_NEED(ctx->be, permute_backward)(dx, node->out->grad, &p->d);
}

sg_tensor *sg_permute(sg_ctx *ctx, sg_tensor *x, const int *perm)
{
    sg_check_float_(ctx, "sg_permute", x);
    char s[SG_SHAPE_STR_LEN], t[SG_SHAPE_STR_LEN];
    SG_CHECK(x->ndim >= 2, "sg_permute: expects a 2- to 4-D tensor, got %s",
             sg_shape_str(x, s, sizeof s));
    unsigned seen = 0;
    for (int i = 0; i < x->ndim; i++) {
        const bool ok = perm[i] >= 0 && perm[i] < x->ndim && !(seen >> perm[i] & 1u);
        SG_CHECK(ok, "sg_permute: %s is not a permutation of the %d dims of %s",
                 sg_ints_str_(perm, x->ndim, t, sizeof t), x->ndim, sg_shape_str(x, s, sizeof s));
        seen |= 1u << perm[i];
    }
    /* The kernels see 4-D: leading 1s, which the permutation leaves in place. */
    const int pad = 4 - x->ndim;
    sg_permute_dims d;
    for (int k = 0; k < 4; k++) {
        d.shape[k] = k < pad ? 1 : x->shape[k - pad];
        d.perm[k] = k < pad ? k : perm[k - pad] + pad;
    }
    int shape[SG_MAX_DIMS];
    for (int i = 0; i < x->ndim; i++) shape[i] = x->shape[perm[i]];
    sg_tensor *out = sg_tensor_new(ctx, SG_F32, x->ndim, shape);
    SG_BACKEND_NEED(ctx->be, permute_forward)(out->data, x->data, &d);
    if (sg_should_record(ctx, 1, (const sg_tensor *const[]){x})) {
        sg_permute_node *p = sg_tape_record(ctx, sizeof *p, "sg_permute", sg_permute_backward_, out);
        p->x = x;
        p->d = d;
    }
    return out;
}

/* ---- index_select --------------------------------------------------------------- */
typedef struct {
    sg_node node;
    sg_tensor *x;
    const int32_t *src_start, *src_rows; /* on the context's device (index_select_backward) */
    size_t row;
} sg_index_select_node;

static void sg_index_select_backward_(sg_ctx *ctx, sg_node *node)
{
    sg_index_select_node *s = (sg_index_select_node *)node;
    float *dx = sg_grad_buffer(ctx, s->x);
    if (dx)
        SG_BACKEND_NEED(ctx->be, index_select_backward)(dx, node->out->grad, s->src_start,
                                                        s->src_rows, s->x->shape[0], s->row);
}

sg_tensor *sg_index_select(sg_ctx *ctx, sg_tensor *x, const int *idx, int n)
{
    sg_check_float_(ctx, "sg_index_select", x);
    char s[SG_SHAPE_STR_LEN];
    SG_CHECK(n >= 1, "sg_index_select: needs at least one index, got %d (input %s)", n,
             sg_shape_str(x, s, sizeof s));
    const int M = x->shape[0];
    for (int j = 0; j < n; j++)
        SG_CHECK(idx[j] >= 0 && idx[j] < M,
                 "sg_index_select: index %d (idx[%d]) out of range for dim 0 of %s", idx[j], j,
                 sg_shape_str(x, s, sizeof s));
    const size_t row = sg_numel(x) / (size_t)M;
    int shape[SG_MAX_DIMS];
    shape[0] = n;
    for (int d = 1; d < x->ndim; d++) shape[d] = x->shape[d];
    sg_tensor *out = sg_tensor_new(ctx, SG_F32, x->ndim, shape);

    /* The indices are the caller's host memory: copied, then uploaded. */
    sg_arena *host = sg_ctx_host_arena(ctx);
    int32_t *h_idx = sg_arena_alloc(host, (size_t)n * sizeof(int32_t));
    for (int j = 0; j < n; j++) h_idx[j] = idx[j];
    const int32_t *d_idx = sg_ctx_upload(ctx, h_idx, (size_t)n * sizeof(int32_t));
    SG_BACKEND_NEED(ctx->be, index_select_forward)(out->data, x->data, d_idx, n, row);

    if (sg_should_record(ctx, 1, (const sg_tensor *const[]){x})) {
        /* The backward gathers: for each source row, the output rows that
         * read it, in increasing order (a counting sort of idx, CSR). */
        int32_t *start = sg_arena_calloc(host, ((size_t)M + 1) * sizeof(int32_t));
        int32_t *rows = sg_arena_alloc(host, (size_t)n * sizeof(int32_t));
        for (int j = 0; j < n; j++) start[h_idx[j] + 1]++;
        for (int m = 0; m < M; m++) start[m + 1] += start[m];
        int32_t *fill = sg_arena_alloc(host, (size_t)M * sizeof(int32_t));
        for (int m = 0; m < M; m++) fill[m] = start[m];
        for (int j = 0; j < n; j++) rows[fill[h_idx[j]]++] = j;
        sg_index_select_node *node =
            sg_tape_record(ctx, sizeof *node, "sg_index_select", sg_index_select_backward_, out);
        node->x = x;
        node->src_start = sg_ctx_upload(ctx, start, ((size_t)M + 1) * sizeof(int32_t));
        node->src_rows = sg_ctx_upload(ctx, rows, (size_t)n * sizeof(int32_t));
        node->row = row;
    }
    return out;
}
