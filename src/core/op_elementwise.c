/*
 * op_elementwise.c: autograd wrappers of the element-wise ops (ops.h):
 * relu, gelu, add, sub, mul, scale and dropout2d. Each forward allocates its
 * output in the arena, runs the context's backend (backend.h) and records a
 * node holding what its backward needs.
 * An input may be passed twice (sg_mul(ctx, x, x)): sg_grad_buffer then
 * returns the same buffer for both and the kernels add both contributions.
 * Covered by tests/test_ops_elementwise.c.
 */
#include "semiseg/ops.h"

static void sg_check_float_(const sg_ctx *ctx, const char *op, const sg_tensor *x)
{
    SG_CHECK(x->dtype == SG_F32, "%s: expects a float tensor", op);
    sg_check_device(ctx, op, x);
}

/* Binary ops take two float tensors of one shape (no broadcasting). */
static void sg_check_same_(const sg_ctx *ctx, const char *op, const sg_tensor *a,
                           const sg_tensor *b)
{
    char sa[SG_SHAPE_STR_LEN], sb[SG_SHAPE_STR_LEN];
    SG_CHECK(a->dtype == SG_F32 && b->dtype == SG_F32 && sg_same_shape(a, b),
             "%s: expects two float tensors of one shape, got %s and %s", op,
             sg_shape_str(a, sa, sizeof sa), sg_shape_str(b, sb, sizeof sb));
    sg_check_device(ctx, op, a);
    sg_check_device(ctx, op, b);
}

/* ---- relu ---------------------------------------------------------------------- */
typedef struct {
    sg_node node;
    sg_tensor *x;
} sg_unary_node;

static void sg_relu_backward_(sg_ctx *ctx, sg_node *node)
{
    sg_unary_node *n = (sg_unary_node *)node;
    float *dx = sg_grad_buffer(ctx, n->x);
    if (dx) SG_BACKEND_NEED(ctx->be, relu_backward)(dx, node->out->grad, n->x->data,
                                                    sg_numel(n->x));
}

sg_tensor *sg_relu(sg_ctx *ctx, sg_tensor *x)
{
    sg_check_float_(ctx, "sg_relu", x);
    sg_tensor *out = sg_tensor_like(ctx, x);
    SG_BACKEND_NEED(ctx->be, relu_forward)(out->data, x->data, sg_numel(x));
    if (sg_should_record(ctx, 1, (const sg_tensor *const[]){x})) {
        sg_unary_node *n = sg_tape_record(ctx, sizeof *n, "sg_relu", sg_relu_backward_, out);
        n->x = x;
    }
    return out;
}

/* ---- gelu ---------------------------------------------------------------------- */
static void sg_gelu_backward_(sg_ctx *ctx, sg_node *node)
{
    sg_unary_node *n = (sg_unary_node *)node;
    float *dx = sg_grad_buffer(ctx, n->x);
    if (dx) SG_BACKEND_NEED(ctx->be, gelu_backward)(dx, node->out->grad, n->x->data,
                                                    sg_numel(n->x));
}

sg_tensor *sg_gelu(sg_ctx *ctx, sg_tensor *x)
{
    sg_check_float_(ctx, "sg_gelu", x);
    sg_tensor *out = sg_tensor_like(ctx, x);
    SG_BACKEND_NEED(ctx->be, gelu_forward)(out->data, x->data, sg_numel(x));
    if (sg_should_record(ctx, 1, (const sg_tensor *const[]){x})) {
        sg_unary_node *n = sg_tape_record(ctx, sizeof *n, "sg_gelu", sg_gelu_backward_, out);
        n->x = x;
    }
    return out;
}

/* ---- add, sub, mul ------------------------------------------------------------------ */
typedef struct {
    sg_node node;
    sg_tensor *a, *b;
} sg_binary_node;

static void sg_add_backward_(sg_ctx *ctx, sg_node *node)
{
    sg_binary_node *n = (sg_binary_node *)node;
    SG_BACKEND_NEED(ctx->be, add_backward)(sg_grad_buffer(ctx, n->a), sg_grad_buffer(ctx, n->b),
                                           node->out->grad, sg_numel(n->a));
}

static void sg_sub_backward_(sg_ctx *ctx, sg_node *node)
{
    sg_binary_node *n = (sg_binary_node *)node;
    SG_BACKEND_NEED(ctx->be, sub_backward)(sg_grad_buffer(ctx, n->a), sg_grad_buffer(ctx, n->b),
                                           node->out->grad, sg_numel(n->a));
}

static void sg_mul_backward_(sg_ctx *ctx, sg_node *node)
{
    sg_binary_node *n = (sg_binary_node *)node;
    SG_BACKEND_NEED(ctx->be, mul_backward)(sg_grad_buffer(ctx, n->a), sg_grad_buffer(ctx, n->b),
                                           node->out->grad, n->a->data, n->b->data, sg_numel(n->a));
}

static sg_tensor *sg_binary_(sg_ctx *ctx, const char *op, sg_tensor *a, sg_tensor *b,
                             void (*forward)(float *, const float *, const float *, size_t),
                             sg_backward_fn backward)
{
    sg_check_same_(ctx, op, a, b);
    sg_tensor *out = sg_tensor_like(ctx, a);
    forward(out->data, a->data, b->data, sg_numel(a));
    if (sg_should_record(ctx, 2, (const sg_tensor *const[]){a, b})) {
        sg_binary_node *n = sg_tape_record(ctx, sizeof *n, op, backward, out);
        n->a = a;
        n->b = b;
    }
    return out;
}

sg_tensor *sg_add(sg_ctx *ctx, sg_tensor *a, sg_tensor *b)
{
    return sg_binary_(ctx, "sg_add", a, b, SG_BACKEND_NEED(ctx->be, add_forward), sg_add_backward_);
}

sg_tensor *sg_sub(sg_ctx *ctx, sg_tensor *a, sg_tensor *b)
{
    return sg_binary_(ctx, "sg_sub", a, b, SG_BACKEND_NEED(ctx->be, sub_forward), sg_sub_backward_);
}

sg_tensor *sg_mul(sg_ctx *ctx, sg_tensor *a, sg_tensor *b)
{
    return sg_binary_(ctx, "sg_mul", a, b, SG_BACKEND_NEED(ctx->be, mul_forward), sg_mul_backward_);
}

/* ---- scale ----------------------------------------------------------------------- */
typedef struct {
    sg_node node;
    sg_tensor *x;
    float s;
} sg_scale_node;

static void sg_scale_backward_(sg_ctx *ctx, sg_node *node)
{
    sg_scale_node *n = (sg_scale_node *)node;
    float *dx = sg_grad_buffer(ctx, n->x);
    if (dx) SG_BACKEND_NEED(ctx->be, scale_backward)(dx, node->out->grad, n->s, sg_numel(n->x));
}

sg_tensor *sg_scale(sg_ctx *ctx, sg_tensor *x, float s)
{
    sg_check_float_(ctx, "sg_scale", x);
    sg_tensor *out = sg_tensor_like(ctx, x);
    SG_BACKEND_NEED(ctx->be, scale_forward)(out->data, x->data, s, sg_numel(x));
    if (sg_should_record(ctx, 1, (const sg_tensor *const[]){x})) {
        sg_scale_node *n = sg_tape_record(ctx, sizeof *n, "sg_scale", sg_scale_backward_, out);
        n->x = x;
        n->s = s;
    }
    return out;
}

/* ---- dropout2d -------------------------------------------------------------------- */
typedef struct {
    sg_node node;
    sg_tensor *x;
    float *scale;   /* per (n, c): 0 or 1/(1-p) */
} sg_dropout2d_node;

static void sg_dropout2d_backward_(sg_ctx *ctx, sg_node *node)
{
    sg_dropout2d_node *n = (sg_dropout2d_node *)node;
    const sg_tensor *x = n->x;
    float *dx = sg_grad_buffer(ctx, n->x);
    if (dx)
        SG_BACKEND_NEED(ctx->be, dropout2d_backward)(dx, node->out->grad, n->scale,
                                                     (size_t)x->shape[0] * x->shape[1],
                                                     (size_t)x->shape[2] * x->shape[3]);
}

sg_tensor *sg_dropout2d(sg_ctx *ctx, sg_tensor *x, float p, uint64_t seed, uint64_t stream)
{
    const char *op = "sg_dropout2d";
    char a[SG_SHAPE_STR_LEN];
    SG_CHECK(x->dtype == SG_F32 && x->ndim == 4, "%s: expects a float (N, C, H, W) x, got %s", op,
             sg_shape_str(x, a, sizeof a));
    SG_CHECK(p >= 0.0f && p < 1.0f, "%s: p = %g outside [0, 1)", op, (double)p);
    size_t planes = (size_t)x->shape[0] * x->shape[1];
    size_t hw = (size_t)x->shape[2] * x->shape[3];
    sg_check_device(ctx, op, x);
    /* The mask is drawn sequentially on the host: N*C draws are negligible,
     * and one stream read in order makes it a function of (seed, stream). */
    float *scale = sg_arena_alloc(sg_ctx_host_arena(ctx), planes * sizeof(float));
    float keep = 1.0f / (1.0f - p);
    sg_rng rng;
    sg_rng_init(&rng, seed, stream);
    for (size_t i = 0; i < planes; i++) scale[i] = sg_rng_uniform(&rng) >= p ? keep : 0.0f;
    scale = sg_ctx_upload(ctx, scale, planes * sizeof(float));

    sg_tensor *out = sg_tensor_like(ctx, x);
    SG_BACKEND_NEED(ctx->be, dropout2d_forward)(out->data, x->data, scale, planes, hw);
    if (sg_should_record(ctx, 1, (const sg_tensor *const[]){x})) {
        sg_dropout2d_node *n = sg_tape_record(ctx, sizeof *n, op, sg_dropout2d_backward_, out);
        n->x = x;
        n->scale = scale;
    }
    return out;
}
