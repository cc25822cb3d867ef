/*
 * op_loss.c: autograd wrappers of the losses (ops.h): sg_cross_entropy,
 * sg_mse_loss, sg_kl_div and sg_entropy. Forwards compute per-element maps
 * with the CPU kernels (src/cpu/loss.c) and reduce them in double; backwards
 * turn the reduction into a scale on the upstream gradient.
 * Matches torch.nn.functional.cross_entropy / mse_loss / kl_div (torch 1.13).
 * Covered by tests/test_ops_loss.c.
 */
#include "semiseg/ops.h"

#include "../cpu/loss.h"

static const int sg_scalar_shape_[1] = {1};

static const char *sg_reduction_name_(sg_reduction red)
{
    switch (red) {
    case SG_REDUCE_NONE: return "NONE";
    case SG_REDUCE_MEAN: return "MEAN";
    case SG_REDUCE_SUM: return "SUM";
    case SG_REDUCE_BATCHMEAN: return "BATCHMEAN";
    }
    return "unknown";
}

/* ---- cross-entropy --------------------------------------------------------------- */
typedef struct {
    sg_node node;
    sg_tensor *logits, *weight;
    const int32_t *target;
    float *ce, *lse; /* unweighted per-pixel loss (0 at ignored) and logsumexp */
    size_t count;    /* non-ignored pixels: MEAN's divisor */
    sg_reduction red;
    int N, K, HW, ignore_index;
} sg_ce_node;

static void sg_ce_backward_(sg_ctx *ctx, sg_node *node)
{
    sg_ce_node *n = (sg_ce_node *)node;
    const float *dout = NULL;
    double scale = 1.0;
    if (n->red == SG_REDUCE_NONE) {
        dout = node->out->grad;
    } else {
        scale = node->out->grad[0];
        /* All pixels ignored: torch's nll_loss backward leaves zero
         * gradients (no 0/0) although the MEAN loss itself is NaN. */
        if (n->red == SG_REDUCE_MEAN) {
            if (n->count == 0) return;
            scale /= (double)n->count;
        }
    }
    float *dlogits = sg_grad_buffer(ctx, n->logits);
    float *dweight = sg_grad_buffer(ctx, n->weight);
    if (dlogits || dweight)
        sg_cross_entropy_backward_cpu(dlogits, dweight, dout, scale, n->logits->data, n->lse, n->ce,
                                      n->target, n->weight ? n->weight->data : NULL, n->N, n->K,
                                      n->HW, n->ignore_index);
}

/* Aborts on a target outside [0, K) that is not ignore_index, naming the
 * pixel; returns the number of non-ignored pixels. */
static size_t sg_ce_check_targets_(const int32_t *t, int N, int K, int H, int W, int ignore_index)
{
    size_t count = 0;
    for (int n = 0; n < N; n++)
        for (int y = 0; y < H; y++)
            for (int x = 0; x < W; x++) {
                int32_t v = t[((size_t)n * H + y) * W + x];
                if (v == ignore_index) continue;
                SG_CHECK(v >= 0 && v < K,
                         "sg_cross_entropy: target %d at pixel (n=%d, y=%d, x=%d) is outside "
                         "[0, %d) and is not ignore_index %d",
                         (int)v, n, y, x, K, ignore_index);
                count++;
            }
    return count;
}

sg_tensor *sg_cross_entropy(sg_ctx *ctx, sg_tensor *logits, const sg_tensor *target,
                            sg_tensor *weight, int ignore_index, sg_reduction red)
{
    char a[SG_SHAPE_STR_LEN], b[SG_SHAPE_STR_LEN];
    SG_CHECK(logits->dtype == SG_F32 && logits->ndim == 4,
             "sg_cross_entropy: logits must be float (N, K, H, W), got %s",
             sg_shape_str(logits, a, sizeof a));
    int N = logits->shape[0], K = logits->shape[1], H = logits->shape[2], W = logits->shape[3];
    SG_CHECK(target->dtype == SG_I32 && target->ndim == 3 && target->shape[0] == N &&
                 target->shape[1] == H && target->shape[2] == W,
             "sg_cross_entropy: target must be int32 (N, H, W) matching logits %s, got %s",
             sg_shape_str(logits, a, sizeof a), sg_shape_str(target, b, sizeof b));
    SG_CHECK(!weight || (weight->dtype == SG_F32 && sg_same_shape(weight, target)),
             "sg_cross_entropy: weight must be float with the target's shape %s, got %s",
             sg_shape_str(target, a, sizeof a), weight ? sg_shape_str(weight, b, sizeof b) : "");
    SG_CHECK(red == SG_REDUCE_NONE || red == SG_REDUCE_MEAN || red == SG_REDUCE_SUM,
             "sg_cross_entropy: reduction %s is not NONE, MEAN or SUM", sg_reduction_name_(red));
    size_t count = sg_ce_check_targets_(target->i32, N, K, H, W, ignore_index);

    size_t np = (size_t)N * H * W;
    int HW = H * W;
    sg_tensor *out;
    float *ce, *lse = sg_arena_alloc(&ctx->arena, np * sizeof(float));
    if (red == SG_REDUCE_NONE) {
        out = sg_tensor_new(ctx, SG_F32, 3, target->shape);
        /* Unweighted, the output map is the per-pixel loss itself. */
        ce = weight ? sg_arena_alloc(&ctx->arena, np * sizeof(float)) : out->data;
        sg_cross_entropy_forward_cpu(ce, lse, weight ? out->data : NULL, logits->data, target->i32,
                                     weight ? weight->data : NULL, N, K, HW, ignore_index);
    } else {
        out = sg_tensor_new(ctx, SG_F32, 1, sg_scalar_shape_);
        ce = sg_arena_alloc(&ctx->arena, np * sizeof(float));
        sg_cross_entropy_forward_cpu(ce, lse, NULL, logits->data, target->i32, NULL, N, K, HW,
                                     ignore_index);
        double *partials = sg_arena_alloc(&ctx->arena, sg_loss_blocks(np) * sizeof(double));
        double s = sg_weighted_sum_cpu(partials, ce, weight ? weight->data : NULL, np);
        /* MEAN over zero pixels is 0/0 = NaN, as torch 1.13 returns. */
        out->data[0] = (float)(red == SG_REDUCE_MEAN ? s / (double)count : s);
    }
    if (sg_should_record(ctx, 2, (const sg_tensor *const[]){logits, weight})) {
        sg_ce_node *n = sg_tape_record(ctx, sizeof *n, "sg_cross_entropy", sg_ce_backward_, out);
        n->logits = logits;
        n->weight = weight;
        n->target = target->i32;
        n->ce = ce;
        n->lse = lse;
        n->count = count;
        n->red = red;
        n->N = N;
        n->K = K;
        n->HW = HW;
        n->ignore_index = ignore_index;
    }
    return out;
}

/* ---- element-wise losses: MSE and KL ---------------------------------------------- */
typedef struct {
    sg_node node;
    sg_tensor *a, *b; /* MSE: (a, b); KL: (log_input, target) */
    sg_reduction red;
    double divisor; /* MEAN: numel; BATCHMEAN: shape[0]; else 1 */
    bool kl;
} sg_pointwise_loss_node;

static void sg_pointwise_loss_backward_(sg_ctx *ctx, sg_node *node)
{
    sg_pointwise_loss_node *n = (sg_pointwise_loss_node *)node;
    const float *dout = n->red == SG_REDUCE_NONE ? node->out->grad : NULL;
    double scale = n->red == SG_REDUCE_NONE ? 1.0 : node->out->grad[0] / n->divisor;
    float *da = sg_grad_buffer(ctx, n->a);
    float *db = sg_grad_buffer(ctx, n->b);
    size_t len = sg_numel(n->a);
    if (!da && !db) return;
    if (n->kl)
        sg_kl_div_backward_cpu(da, db, dout, scale, n->a->data, n->b->data, len);
    else
        sg_mse_backward_cpu(da, db, dout, scale, n->a->data, n->b->data, len);
}

static sg_tensor *sg_pointwise_loss_(sg_ctx *ctx, sg_tensor *a, sg_tensor *b, sg_reduction red,
                                     bool kl, const char *op)
{
    char sa[SG_SHAPE_STR_LEN], sb[SG_SHAPE_STR_LEN];
    SG_CHECK(a->dtype == SG_F32 && b->dtype == SG_F32, "%s: expects float tensors", op);
    SG_CHECK(sg_same_shape(a, b), "%s: shapes differ: %s vs %s", op, sg_shape_str(a, sa, sizeof sa),
             sg_shape_str(b, sb, sizeof sb));
    SG_CHECK(red == SG_REDUCE_NONE || red == SG_REDUCE_MEAN || red == SG_REDUCE_SUM ||
                 (kl && red == SG_REDUCE_BATCHMEAN),
             "%s: reduction %s is not supported", op, sg_reduction_name_(red));
    size_t len = sg_numel(a);
    bool none = red == SG_REDUCE_NONE;
    sg_tensor *out =
        none ? sg_tensor_like(ctx, a) : sg_tensor_new(ctx, SG_F32, 1, sg_scalar_shape_);
    float *map = none ? out->data : sg_arena_alloc(&ctx->arena, len * sizeof(float));
    if (kl)
        sg_kl_div_forward_cpu(map, a->data, b->data, len);
    else
        sg_mse_forward_cpu(map, a->data, b->data, len);
    double divisor = red == SG_REDUCE_MEAN        ? (double)len
                     : red == SG_REDUCE_BATCHMEAN ? (double)a->shape[0]
                                                  : 1.0;
    if (!none) {
        double *partials = sg_arena_alloc(&ctx->arena, sg_loss_blocks(len) * sizeof(double));
        out->data[0] = (float)(sg_weighted_sum_cpu(partials, map, NULL, len) / divisor);
    }
    if (sg_should_record(ctx, 2, (const sg_tensor *const[]){a, b})) {
        sg_pointwise_loss_node *n =
            sg_tape_record(ctx, sizeof *n, op, sg_pointwise_loss_backward_, out);
        n->a = a;
        n->b = b;
        n->red = red;
        n->divisor = divisor;
        n->kl = kl;
    }
    return out;
}

sg_tensor *sg_mse_loss(sg_ctx *ctx, sg_tensor *a, sg_tensor *b, sg_reduction red)
{
    return sg_pointwise_loss_(ctx, a, b, red, false, "sg_mse_loss");
}

sg_tensor *sg_kl_div(sg_ctx *ctx, sg_tensor *log_input, sg_tensor *target, sg_reduction red)
{
    return sg_pointwise_loss_(ctx, log_input, target, red, true, "sg_kl_div");
}

/* ---- entropy ---------------------------------------------------------------------- */
typedef struct {
    sg_node node;
    sg_tensor *p;
    float eps;
} sg_entropy_node;

static void sg_entropy_backward_(sg_ctx *ctx, sg_node *node)
{
    sg_entropy_node *n = (sg_entropy_node *)node;
    float *dp = sg_grad_buffer(ctx, n->p);
    const int *s = n->p->shape;
    if (dp)
        sg_entropy_backward_cpu(dp, node->out->grad, n->p->data, n->eps, s[0], s[1], s[2] * s[3]);
}

sg_tensor *sg_entropy(sg_ctx *ctx, sg_tensor *p, float eps)
{
    char s[SG_SHAPE_STR_LEN];
    SG_CHECK(p->dtype == SG_F32 && p->ndim == 4,
             "sg_entropy: expects float probabilities (N, C, H, W), got %s",
             sg_shape_str(p, s, sizeof s));
    sg_tensor *out = sg_tensor_new4(ctx, p->shape[0], 1, p->shape[2], p->shape[3]);
    sg_entropy_forward_cpu(out->data, p->data, eps, p->shape[0], p->shape[1],
                           p->shape[2] * p->shape[3]);
    if (sg_should_record(ctx, 1, (const sg_tensor *const[]){p})) {
        sg_entropy_node *n =
            sg_tape_record(ctx, sizeof *n, "sg_entropy", sg_entropy_backward_, out);
        n->p = p;
        n->eps = eps;
    }
    return out;
}
