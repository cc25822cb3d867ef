/*
 * op_norm.c: autograd wrappers of the normalisation ops (ops.h):
 * sg_batchnorm2d (torch.nn.functional.batch_norm on NCHW) and sg_layernorm
 * (torch.nn.functional.layer_norm over the last dimension). Forward checks
 * shapes, allocates the output and the saved statistics in the arena, runs
 * the context's backend (batchnorm_forward / layernorm_forward of
 * backend.h) and records a node. The statistics are saved at forward time,
 * in the backend's own layout, so a later update of the running buffers
 * cannot change what an earlier node differentiates; the node keeps the
 * backend its forward ran on. sg_batchnorm2d_relu is the same op with the
 * ReLU fused in: one output tensor (and gradient) instead of two.
 * Covered by tests/test_ops_norm.c, tests/test_dnnl.c and
 * tests/test_backend_ops.c.
 */
#include "semiseg/ops.h"

/* A per-feature vector (weight, bias, running stats) must be float (len). */
static void sg_check_vec_(const char *op, const char *what, const sg_tensor *v, int len,
                          const sg_tensor *x)
{
    char a[SG_SHAPE_STR_LEN], b[SG_SHAPE_STR_LEN];
    SG_CHECK(v->dtype == SG_F32 && v->ndim == 1 && v->shape[0] == len,
             "%s: %s %s does not match x %s (expects a float [%d])", op, what,
             sg_shape_str(v, a, sizeof a), sg_shape_str(x, b, sizeof b), len);
}

/* ---- batchnorm2d ------------------------------------------------------------------ */
typedef struct {
    sg_node node;
    sg_tensor *x, *weight, *bias;
    const sg_backend *be;   /* the forward's */
    float *saved;           /* what the forward normalised with: 2 C floats, be's layout */
    float eps;
    bool training;
    bool relu;              /* sg_batchnorm2d_relu: node->out is the clamped output */
} sg_batchnorm_node;

static void sg_batchnorm_backward_(sg_ctx *ctx, sg_node *node)
{
    sg_batchnorm_node *n = (sg_batchnorm_node *)node;
    const sg_tensor *x = n->x;
    /* A gradient buffer made now: the kernel may write it directly. */
    bool dx_zero;
    float *dx = sg_grad_buffer_dx(ctx, n->be, n->x, &dx_zero);
    SG_BACKEND_NEED(n->be, batchnorm_backward)(
        &ctx->arena, dx, sg_grad_buffer(ctx, n->weight),
        sg_grad_buffer(ctx, n->bias), dx_zero, node->out->grad, node->out->data, x->data,
        n->weight ? n->weight->data : NULL, n->bias ? n->bias->data : NULL, n->saved,
        n->training, n->relu, n->eps, x->shape[0], x->shape[1], x->shape[2] * x->shape[3]);
}

static sg_tensor *sg_batchnorm_(const char *op, bool relu, sg_ctx *ctx, sg_tensor *x,
                                sg_tensor *weight, sg_tensor *bias, sg_tensor *running_mean,
                                sg_tensor *running_var, bool training, float momentum, float eps)
{
    char a[SG_SHAPE_STR_LEN];
    SG_CHECK(x->dtype == SG_F32 && x->ndim == 4, "%s: expects a float (N, C, H, W) x, got %s", op,
             sg_shape_str(x, a, sizeof a));
    SG_CHECK(running_mean && running_var, "%s: running_mean and running_var are required", op);
    int N = x->shape[0], C = x->shape[1], HW = x->shape[2] * x->shape[3];
    if (weight) sg_check_vec_(op, "weight", weight, C, x);
    if (bias) sg_check_vec_(op, "bias", bias, C, x);
    sg_check_vec_(op, "running_mean", running_mean, C, x);
    sg_check_vec_(op, "running_var", running_var, C, x);
    sg_check_device(ctx, op, x);
    /* The unbiased variance divides by n - 1 (torch raises the same error). */
    SG_CHECK(!training || (size_t)N * HW > 1,
             "%s: training needs more than 1 value per channel, x is %s", op,
             sg_shape_str(x, a, sizeof a));

    sg_tensor *out = sg_tensor_like(ctx, x);
    float *saved = sg_arena_alloc(&ctx->arena, 2 * (size_t)C * sizeof(float));
    const bool record = sg_should_record(ctx, 3, (const sg_tensor *const[]){x, weight, bias});
    SG_BACKEND_NEED(ctx->be, batchnorm_forward)(
        &ctx->arena, out->data, saved, running_mean->data, running_var->data, x->data,
        weight ? weight->data : NULL, bias ? bias->data : NULL, training, relu, momentum, eps, N,
        C, HW);
    if (record) {
        sg_batchnorm_node *n = sg_tape_record(ctx, sizeof *n, op, sg_batchnorm_backward_, out);
        n->x = x;
        n->weight = weight;
        n->bias = bias;
        n->be = ctx->be;
        n->saved = saved;
        n->eps = eps;
        n->training = training;
        n->relu = relu;
    }
    return out;
}

sg_tensor *sg_batchnorm2d(sg_ctx *ctx, sg_tensor *x, sg_tensor *weight, sg_tensor *bias,
                          sg_tensor *running_mean, sg_tensor *running_var, bool training,
                          float momentum, float eps)
{
    return sg_batchnorm_("sg_batchnorm2d", false, ctx, x, weight, bias, running_mean,
                         running_var, training, momentum, eps);
}

sg_tensor *sg_batchnorm2d_relu(sg_ctx *ctx, sg_tensor *x, sg_tensor *weight, sg_tensor *bias,
                               sg_tensor *running_mean, sg_tensor *running_var, bool training,
                               float momentum, float eps)
{
    return sg_batchnorm_("sg_batchnorm2d_relu", true, ctx, x, weight, bias, running_mean,
                         running_var, training, momentum, eps);
}

/* ---- layernorm ---------------------------------------------------------------------- */
typedef struct {
    sg_node node;
    sg_tensor *x, *weight, *bias;
    float *mean, *rstd;     /* per row */
} sg_layernorm_node;

static void sg_layernorm_backward_(sg_ctx *ctx, sg_node *node)
{
    sg_layernorm_node *n = (sg_layernorm_node *)node;
    const sg_tensor *x = n->x;
    int D = x->shape[x->ndim - 1];
    SG_BACKEND_NEED(ctx->be, layernorm_backward)(sg_grad_buffer(ctx, n->x),
                                                 sg_grad_buffer(ctx, n->weight),
                                                 sg_grad_buffer(ctx, n->bias), node->out->grad,
                                                 x->data, n->weight ? n->weight->data : NULL,
                                                 n->mean, n->rstd, sg_numel(x) / (size_t)D, D);
}

sg_tensor *sg_layernorm(sg_ctx *ctx, sg_tensor *x, sg_tensor *weight, sg_tensor *bias, float eps)
{
    const char *op = "sg_layernorm";
    char a[SG_SHAPE_STR_LEN];
    SG_CHECK(x->dtype == SG_F32 && x->ndim >= 1 && x->shape[x->ndim - 1] > 0,
             "%s: expects a float (..., D) x with D > 0, got %s", op, sg_shape_str(x, a, sizeof a));
    int D = x->shape[x->ndim - 1];
    if (weight) sg_check_vec_(op, "weight", weight, D, x);
    if (bias) sg_check_vec_(op, "bias", bias, D, x);
    size_t rows = sg_numel(x) / (size_t)D;
    sg_check_device(ctx, op, x);

    sg_tensor *out = sg_tensor_like(ctx, x);
    float *mean = sg_arena_alloc(&ctx->arena, rows * sizeof(float));
    float *rstd = sg_arena_alloc(&ctx->arena, rows * sizeof(float));
    SG_BACKEND_NEED(ctx->be, layernorm_forward)(out->data, mean, rstd, x->data,
                                                weight ? weight->data : NULL,
                                                bias ? bias->data : NULL, eps, rows, D);

    if (sg_should_record(ctx, 3, (const sg_tensor *const[]){x, weight, bias})) {
        sg_layernorm_node *n = sg_tape_record(ctx, sizeof *n, op, sg_layernorm_backward_, out);
        n->x = x;
        n->weight = weight;
        n->bias = bias;
        n->mean = mean;
        n->rstd = rstd;
    }
    return out;
}
