/*
 * op_loss.c: autograd wrappers of the losses (ops.h): sg_cross_entropy,
 * sg_ohem_cross_entropy, sg_mse_loss, sg_kl_div and sg_entropy. Forwards compute per-element maps
 * on the context's backend (backend.h) and reduce them in double; backwards
 * turn the reduction into a scale on the upstream gradient, which the
 * kernel reads where the gradient is (on the device).
 * Matches torch.nn.functional.cross_entropy / mse_loss / kl_div (torch 1.13).
 * Covered by tests/test_ops_loss.c.
 */
#include "semiseg/ops.h"

#include <math.h>
#include <stdlib.h>

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
    /* All pixels ignored: torch's nll_loss backward leaves zero gradients
     * (no 0/0) although the MEAN loss itself is NaN. */
    if (n->red == SG_REDUCE_MEAN && n->count == 0) return;
    const double divisor = n->red == SG_REDUCE_MEAN ? (double)n->count : 1.0;
    float *dlogits = sg_grad_buffer(ctx, n->logits);
    float *dweight = sg_grad_buffer(ctx, n->weight);
    if (dlogits || dweight)
        SG_BACKEND_NEED(ctx->be, cross_entropy_backward)(
            dlogits, dweight, node->out->grad, n->red == SG_REDUCE_NONE, divisor, n->logits->data,
            n->lse, n->ce, n->target, n->weight ? n->weight->data : NULL, n->N, n->K, n->HW,
            n->ignore_index);
}

/* Aborts on a target outside [0, K) that is not ignore_index, naming the
 * pixel; returns the number of non-ignored pixels. */
static size_t sg_ce_check_targets_(const sg_ctx *ctx, const sg_tensor *t, int K, int ignore_index)
{
    size_t count;
    long bad;
    SG_BACKEND_NEED(ctx->be, cross_entropy_check_targets)(t->i32, sg_numel(t), K, ignore_index,
                                                          &count, &bad);
    if (bad >= 0) {
        const int H = t->shape[1], W = t->shape[2];
        int32_t v;
        ctx->be->to_host(&v, t->i32 + bad, sizeof v);
        SG_CHECK(0,
                 "sg_cross_entropy: target %d at pixel (n=%ld, y=%ld, x=%ld) is outside "
                 "[0, %d) and is not ignore_index %d",
                 (int)v, bad / ((long)H * W), bad / W % H, bad % W, K, ignore_index);
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
    sg_check_device(ctx, "sg_cross_entropy", logits);
    sg_check_device(ctx, "sg_cross_entropy", target);
    sg_check_device(ctx, "sg_cross_entropy", weight);
    size_t count = sg_ce_check_targets_(ctx, target, K, ignore_index);

    size_t np = (size_t)N * H * W;
    int HW = H * W;
    sg_tensor *out;
    float *ce, *lse = sg_arena_alloc(&ctx->arena, np * sizeof(float));
    if (red == SG_REDUCE_NONE) {
        out = sg_tensor_new(ctx, SG_F32, 3, target->shape);
        /* Unweighted, the output map is the per-pixel loss itself. */
        ce = weight ? sg_arena_alloc(&ctx->arena, np * sizeof(float)) : out->data;
        SG_BACKEND_NEED(ctx->be, cross_entropy_forward)(ce, lse, weight ? out->data : NULL,
                                                        logits->data, target->i32,
                                                        weight ? weight->data : NULL, N, K, HW,
                                                        ignore_index);
    } else {
        out = sg_tensor_new(ctx, SG_F32, 1, sg_scalar_shape_);
        ce = sg_arena_alloc(&ctx->arena, np * sizeof(float));
        SG_BACKEND_NEED(ctx->be, cross_entropy_forward)(ce, lse, NULL, logits->data, target->i32,
                                                        NULL, N, K, HW, ignore_index);
        /* MEAN over zero pixels is 0/0 = NaN, as torch 1.13 returns. */
        SG_BACKEND_NEED(ctx->be, weighted_sum)(&ctx->arena, out->data, ce,
                                               weight ? weight->data : NULL, np,
                                               red == SG_REDUCE_MEAN ? (double)count : 1.0);
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

/* ---- OHEM cross-entropy ------------------------------------------------------------ */
static int sg_cmp_float_(const void *a, const void *b)
{
    float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

sg_tensor *sg_ohem_cross_entropy(sg_ctx *ctx, sg_tensor *logits, const sg_tensor *target,
                                 int ignore_index, float thresh, long min_kept)
{
    char a[SG_SHAPE_STR_LEN];
    SG_CHECK(logits->dtype == SG_F32 && logits->ndim == 4 && target->dtype == SG_I32 &&
                 target->ndim == 3,
             "sg_ohem_cross_entropy: logits (N, K, H, W) float and target (N, H, W) int32, got %s",
             sg_shape_str(logits, a, sizeof a));
    SG_CHECK(min_kept >= 0, "sg_ohem_cross_entropy: min_kept %ld < 0", min_kept);
    const int n = logits->shape[0], k = logits->shape[1];
    const size_t hw = (size_t)logits->shape[2] * logits->shape[3], np = (size_t)n * hw;
    bool prev = sg_ctx_set_grad(ctx, false);
    sg_tensor *prob = sg_softmax(ctx, logits, 1);
    sg_ctx_set_grad(ctx, prev);
    /* The probability of each pixel's class on the context's device; only
     * the threshold (the min_kept-th smallest of them) is chosen on the host. */
    float *pgt_dev = sg_arena_alloc(&ctx->arena, np * sizeof(float));
    SG_BACKEND_NEED(ctx->be, ohem_target_prob)(pgt_dev, prob->data, target->i32, ignore_index, n,
                                               k, hw);
    float *pgt = pgt_dev;
    if (ctx->arena.be) {
        pgt = sg_arena_alloc(&ctx->host, np * sizeof(float));
        ctx->be->to_host(pgt, pgt_dev, np * sizeof(float));
    }
    float *sorted = sg_arena_alloc(sg_ctx_host_arena(ctx), np * sizeof(float));
    size_t n_valid = 0;
    for (size_t j = 0; j < np; j++)
        if (!isnan(pgt[j])) sorted[n_valid++] = pgt[j];
    if (min_kept == 0 || (size_t)min_kept > n_valid || n_valid == 0)
        return sg_cross_entropy(ctx, logits, target, NULL, ignore_index, SG_REDUCE_MEAN);
    qsort(sorted, n_valid, sizeof(float), sg_cmp_float_);
    float tau = thresh, kth = sorted[min_kept - 1];
    if (kth > tau) tau = kth;
    sg_tensor *kept = sg_tensor_like(ctx, target);
    SG_BACKEND_NEED(ctx->be, ohem_select)(kept->i32, target->i32, pgt_dev, tau, ignore_index, np);
    return sg_cross_entropy(ctx, logits, kept, NULL, ignore_index, SG_REDUCE_MEAN);
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
    const bool none = n->red == SG_REDUCE_NONE;
    float *da = sg_grad_buffer(ctx, n->a);
    float *db = sg_grad_buffer(ctx, n->b);
    size_t len = sg_numel(n->a);
    if (!da && !db) return;
    if (n->kl)
        SG_BACKEND_NEED(ctx->be, kl_div_backward)(da, db, node->out->grad, none, n->divisor,
                                                  n->a->data, n->b->data, len);
    else
        SG_BACKEND_NEED(ctx->be, mse_backward)(da, db, node->out->grad, none, n->divisor,
                                               n->a->data, n->b->data, len);
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
    sg_check_device(ctx, op, a);
    sg_check_device(ctx, op, b);
    size_t len = sg_numel(a);
    bool none = red == SG_REDUCE_NONE;
    sg_tensor *out =
        none ? sg_tensor_like(ctx, a) : sg_tensor_new(ctx, SG_F32, 1, sg_scalar_shape_);
    float *map = none ? out->data : sg_arena_alloc(&ctx->arena, len * sizeof(float));
    if (kl)
        SG_BACKEND_NEED(ctx->be, kl_div_forward)(map, a->data, b->data, len);
    else
        SG_BACKEND_NEED(ctx->be, mse_forward)(map, a->data, b->data, len);
    double divisor = red == SG_REDUCE_MEAN        ? (double)len
                     : red == SG_REDUCE_BATCHMEAN ? (double)a->shape[0]
                                                  : 1.0;
    if (!none)
        SG_BACKEND_NEED(ctx->be, weighted_sum)(&ctx->arena, out->data, map, NULL, len, divisor);
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
        SG_BACKEND_NEED(ctx->be, entropy_backward)(dp, node->out->grad, n->p->data, n->eps, s[0],
                                                   s[1], s[2] * s[3]);
}

sg_tensor *sg_entropy(sg_ctx *ctx, sg_tensor *p, float eps)
{
    char s[SG_SHAPE_STR_LEN];
    SG_CHECK(p->dtype == SG_F32 && p->ndim == 4,
             "sg_entropy: expects float probabilities (N, C, H, W), got %s",
             sg_shape_str(p, s, sizeof s));
    sg_check_device(ctx, "sg_entropy", p);
    sg_tensor *out = sg_tensor_new4(ctx, p->shape[0], 1, p->shape[2], p->shape[3]);
    SG_BACKEND_NEED(ctx->be, entropy_forward)(out->data, p->data, eps, p->shape[0], p->shape[1],
                                              p->shape[2] * p->shape[3]);
    if (sg_should_record(ctx, 1, (const sg_tensor *const[]){p})) {
        sg_entropy_node *n =
            sg_tape_record(ctx, sizeof *n, "sg_entropy", sg_entropy_backward_, out);
        n->p = p;
        n->eps = eps;
    }
    return out;
}
