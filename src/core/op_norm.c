/*
 * op_norm.c: autograd wrappers of the normalisation ops (ops.h):
 * sg_batchnorm2d (torch.nn.functional.batch_norm on NCHW) and sg_layernorm
 * (torch.nn.functional.layer_norm over the last dimension). Forward checks
 * shapes, allocates the output and the saved statistics in the arena, calls
 * the CPU kernel (src/cpu/batchnorm.c, src/cpu/layernorm.c) and records a
 * node. The statistics are copied at forward time, so a later update of the
 * running buffers cannot change what an earlier node differentiates. On the
 * fast CPU path (oneDNN builds only) batch norm runs src/cpu/dnnl_bn.c,
 * whose backward takes the variance (and eps) instead of invstd; the node
 * remembers which path its forward took. sg_batchnorm2d_relu is the same op
 * with the ReLU fused in: one output tensor (and gradient) instead of two;
 * the reference kernel clamps and masks inside its loops, the fast path
 * clamps oneDNN's output in place and masks the output's gradient in place
 * before oneDNN's backward (that gradient is read by this node only).
 * Covered by tests/test_ops_norm.c and tests/test_dnnl.c.
 */
#include "config.h"
#include "semiseg/ops.h"

#include <string.h>

#include "../cpu/activation.h"
#include "../cpu/batchnorm.h"
#include "../cpu/layernorm.h"
#ifdef SG_HAVE_DNNL
#include "../cpu/dnnl_ops.h"
#endif

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
    float *mean, *invstd;   /* what the forward normalised with, (C) */
    float *var;             /* fast path: the variance instead of invstd, (C) */
    float eps;              /* fast path: oneDNN's backward takes var and eps */
    bool training;
    bool relu;              /* sg_batchnorm2d_relu: node->out is the clamped output */
} sg_batchnorm_node;

static void sg_batchnorm_backward_(sg_ctx *ctx, sg_node *node)
{
    sg_batchnorm_node *n = (sg_batchnorm_node *)node;
    const sg_tensor *x = n->x;
#ifdef SG_HAVE_DNNL
    if (n->var) {
        /* A gradient buffer made now is all zeros: oneDNN may write it directly. */
        bool dx_zero = n->x->grad == NULL;
        /* The output's gradient is complete now and read by this node only:
         * the ReLU's mask can go into it in place. */
        if (n->relu) sg_relu_mask_cpu(node->out->grad, node->out->data, sg_numel(node->out));
        sg_dnnl_batchnorm_backward(sg_grad_buffer(ctx, n->x),
                                   sg_grad_buffer(ctx, n->weight), sg_grad_buffer(ctx, n->bias),
                                   dx_zero, node->out->grad, x->data,
                                   n->weight ? n->weight->data : NULL,
                                   n->bias ? n->bias->data : NULL, n->mean, n->var,
                                   n->training, n->eps, x->shape[0], x->shape[1],
                                   x->shape[2] * x->shape[3]);
        return;
    }
#endif
    float *dx = sg_grad_buffer(ctx, n->x), *dw = sg_grad_buffer(ctx, n->weight);
    float *db = sg_grad_buffer(ctx, n->bias);
    const float *w = n->weight ? n->weight->data : NULL;
    const int N = x->shape[0], C = x->shape[1], HW = x->shape[2] * x->shape[3];
    if (n->relu)
        sg_batchnorm_relu_backward_cpu(dx, dw, db, node->out->grad, node->out->data, x->data, w,
                                       n->mean, n->invstd, n->training, N, C, HW);
    else
        sg_batchnorm_backward_cpu(dx, dw, db, node->out->grad, x->data, w, n->mean, n->invstd,
                                  n->training, N, C, HW);
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
    /* The unbiased variance divides by n - 1 (torch raises the same error). */
    SG_CHECK(!training || (size_t)N * HW > 1,
             "%s: training needs more than 1 value per channel, x is %s", op,
             sg_shape_str(x, a, sizeof a));

    sg_tensor *out = sg_tensor_like(ctx, x);
    float *mean = sg_arena_alloc(&ctx->arena, (size_t)C * sizeof(float));
    float *invstd = NULL, *var = NULL;
    const bool record = sg_should_record(ctx, 3, (const sg_tensor *const[]){x, weight, bias});
#ifdef SG_HAVE_DNNL
    if (sg_get_cpu_path() == SG_CPU_FAST) {
        var = sg_arena_alloc(&ctx->arena, (size_t)C * sizeof(float));
        const float *w = weight ? weight->data : NULL, *b = bias ? bias->data : NULL;
        if (training) {
            sg_dnnl_batchnorm_train_forward(out->data, mean, var, running_mean->data,
                                            running_var->data, x->data, w, b, momentum, eps, N,
                                            C, HW);
        } else {
            memcpy(mean, running_mean->data, (size_t)C * sizeof(float));
            memcpy(var, running_var->data, (size_t)C * sizeof(float));
            sg_dnnl_batchnorm_eval_forward(out->data, x->data, w, b, mean, var, eps, N, C,
                                           HW);
        }
        if (relu) sg_relu_forward_cpu(out->data, out->data, sg_numel(out));
    } else
#endif
    {
        invstd = sg_arena_alloc(&ctx->arena, (size_t)C * sizeof(float));
        if (training)
            sg_batchnorm_stats_cpu(mean, invstd, running_mean->data, running_var->data, x->data,
                                   momentum, eps, N, C, HW);
        else
            sg_batchnorm_eval_stats_cpu(mean, invstd, running_mean->data, running_var->data, eps,
                                        C);
        sg_batchnorm_forward_cpu(out->data, x->data, weight ? weight->data : NULL,
                                 bias ? bias->data : NULL, mean, invstd, relu, N, C, HW);
    }

    if (record) {
        sg_batchnorm_node *n = sg_tape_record(ctx, sizeof *n, op, sg_batchnorm_backward_, out);
        n->x = x;
        n->weight = weight;
        n->bias = bias;
        n->mean = mean;
        n->invstd = invstd;
        n->var = var;
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
    sg_layernorm_backward_cpu(sg_grad_buffer(ctx, n->x), sg_grad_buffer(ctx, n->weight),
                              sg_grad_buffer(ctx, n->bias), node->out->grad, x->data,
                              n->weight ? n->weight->data : NULL, n->mean, n->rstd,
                              sg_numel(x) / (size_t)D, D);
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

    sg_tensor *out = sg_tensor_like(ctx, x);
    float *mean = sg_arena_alloc(&ctx->arena, rows * sizeof(float));
    float *rstd = sg_arena_alloc(&ctx->arena, rows * sizeof(float));
    sg_layernorm_forward_cpu(out->data, mean, rstd, x->data, weight ? weight->data : NULL,
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
