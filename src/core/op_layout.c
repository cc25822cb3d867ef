/*
 * op_layout.c: autograd wrappers of the layout ops (ops.h): sg_concat
 * (torch.cat) and sg_narrow (torch.Tensor.narrow, copied). Both view tensors
 * as (outer, len, inner) around the chosen dimension; the kernels are the
 * context's backend's (backend.h). Covered by tests/test_ops_layout.c.
 */
#include "semiseg/ops.h"

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
