/*
 * op_elementwise.c: autograd wrappers of the element-wise ops (ops.h):
 * relu, gelu, add, sub, mul, scale and dropout2d. Each forward allocates its
 * output in the arena, calls the CPU kernel (src/cpu/activation.c,
 * src/cpu/elementwise.c), and records a node holding what its backward needs.
 * An input may be passed twice (sg_mul(ctx, x, x)): sg_grad_buffer then
 * returns the same buffer for both and the kernels add both contributions.
 * Covered by tests/test_ops_elementwise.c.
 */
#include "semiseg/ops.h"

#include "../cpu/activation.h"
#include "../cpu/elementwise.h"

static void sg_check_float_(const char *op, const sg_tensor *x)
{
    SG_CHECK(x->dtype == SG_F32, "%s: expects a float tensor", op);
}

/* Binary ops take two float tensors of one shape (no broadcasting). */
static void sg_check_same_(const char *op, const sg_tensor *a, const sg_tensor *b)
{
    char sa[SG_SHAPE_STR_LEN], sb[SG_SHAPE_STR_LEN];
    SG_CHECK(a->dtype == SG_F32 && b->dtype == SG_F32 && sg_same_shape(a, b),
             "%s: expects two float tensors of one shape, got %s and %s", op,
             sg_shape_str(a, sa, sizeof sa), sg_shape_str(b, sb, sizeof sb));
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
    if (dx) sg_relu_backward_cpu(dx, node->out->grad, n->x->data, sg_numel(n->x));
}

sg_tensor *sg_relu(sg_ctx *ctx, sg_tensor *x)
{
    sg_check_float_("sg_relu", x);
    sg_tensor *out = sg_tensor_like(ctx, x);
    sg_relu_forward_cpu(out->data, x->data, sg_numel(x));
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
    if (dx) sg_gelu_backward_cpu(dx, node->out->grad, n->x->data, sg_numel(n->x));
}

sg_tensor *sg_gelu(sg_ctx *ctx, sg_tensor *x)
{
    sg_check_float_("sg_gelu", x);
    sg_tensor *out = sg_tensor_like(ctx, x);
    sg_gelu_forward_cpu(out->data, x->data, sg_numel(x));
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
    sg_add_backward_cpu(sg_grad_buffer(ctx, n->a), sg_grad_buffer(ctx, n->b), node->out->grad,
                        sg_numel(n->a));
}

static void sg_sub_backward_(sg_ctx *ctx, sg_node *node)
{
    sg_binary_node *n = (sg_binary_node *)node;
    sg_sub_backward_cpu(sg_grad_buffer(ctx, n->a), sg_grad_buffer(ctx, n->b), node->out->grad,
                        sg_numel(n->a));
}

static void sg_mul_backward_(sg_ctx *ctx, sg_node *node)
{
    sg_binary_node *n = (sg_binary_node *)node;
    sg_mul_backward_cpu(sg_grad_buffer(ctx, n->a), sg_grad_buffer(ctx, n->b), node->out->grad,
                        n->a->data, n->b->data, sg_numel(n->a));
}

static sg_tensor *sg_binary_(sg_ctx *ctx, const char *op, sg_tensor *a, sg_tensor *b,
                             void (*forward)(float *, const float *, const float *, size_t),
                             sg_backward_fn backward)
{
    sg_check_same_(op, a, b);
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
    return sg_binary_(ctx, "sg_add", a, b, sg_add_forward_cpu, sg_add_backward_);
}

sg_tensor *sg_sub(sg_ctx *ctx, sg_tensor *a, sg_tensor *b)
{
    return sg_binary_(ctx, "sg_sub", a, b, sg_sub_forward_cpu, sg_sub_backward_);
}

sg_tensor *sg_mul(sg_ctx *ctx, sg_tensor *a, sg_tensor *b)
{
    return sg_binary_(ctx, "sg_mul", a, b, sg_mul_forward_cpu, sg_mul_backward_);
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
    if (dx) sg_scale_backward_cpu(dx, node->out->grad, n->s, sg_numel(n->x));
}

sg_tensor *sg_scale(sg_ctx *ctx, sg_tensor *x, float s)
{
    sg_check_float_("sg_scale", x);
    sg_tensor *out = sg_tensor_like(ctx, x);
    sg_scale_forward_cpu(out->data, x->data, s, sg_numel(x));
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
        sg_dropout2d_backward_cpu(dx, node->out->grad, n->scale,
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
    /* The mask is drawn sequentially on the host: N*C draws are negligible,
     * and one stream read in order makes it a function of (seed, stream). */
    float *scale = sg_arena_alloc(&ctx->arena, planes * sizeof(float));
    float keep = 1.0f / (1.0f - p);
    sg_rng rng;
    sg_rng_init(&rng, seed, stream);
    for (size_t i = 0; i < planes; i++) scale[i] = sg_rng_uniform(&rng) >= p ? keep : 0.0f;

    sg_tensor *out = sg_tensor_like(ctx, x);
    sg_dropout2d_forward_cpu(out->data, x->data, scale, planes, hw);
    if (sg_should_record(ctx, 1, (const sg_tensor *const[]){x})) {
        sg_dropout2d_node *n = sg_tape_record(ctx, sizeof *n, op, sg_dropout2d_backward_, out);
        n->x = x;
        n->scale = scale;
    }
    return out;
}
