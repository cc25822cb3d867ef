/*
 * semi.c: pseudo-labels, CutMix pasting, the unsupervised losses, Mean
 * Teacher's schedules and the tensor-level pieces every method's step
 * shares: the supervised criterion, the logged terms, the no-grad
 * prediction, the feature-perturbation masks (include/semiseg/semi.h). The
 * pieces that take batches or the run are src/run/method.c (method.h); the
 * methods' compositions are in experiments/<method>/<method>_loss.c.
 *
 * Everything differentiable is built from recorded ops (ops.h), so one
 * sg_backward on a loss built from these gives the method's gradient; the
 * data manipulations (pasting, rolling, thresholds) act on tensors that
 * carry no gradient, exactly as the reference code mixes detached tensors.
 *
 * Reference: LiheYoung/UniMatch@0324f3d:unimatch.py and fixmatch.py,
 * Britefury/cutmix-semisup-seg@c073d7b:train_seg_semisup_mask_mt.py,
 * CuriousAI/mean-teacher@546348f:pytorch/main.py.
 * Covered by tests/test_semi.c (PyTorch fixture tests/data/semi.bin).
 */
#include "semiseg/semi.h"

#include <math.h>
#include <string.h>


/* ---- pseudo-labels ------------------------------------------------------------ */
void sg_semi_pseudo_label(sg_ctx *ctx, sg_tensor *logits, sg_tensor *ignore, sg_pseudo *out)
{
    char a[SG_SHAPE_STR_LEN];
    SG_CHECK(logits->dtype == SG_F32 && logits->ndim == 4,
             "sg_semi_pseudo_label: logits must be float (N, K, H, W), got %s",
             sg_shape_str(logits, a, sizeof a));
    const int N = logits->shape[0], K = logits->shape[1], H = logits->shape[2],
              W = logits->shape[3];
    SG_CHECK(!ignore || (ignore->dtype == SG_I32 && ignore->ndim == 3 && ignore->shape[0] == N &&
                         ignore->shape[1] == H && ignore->shape[2] == W),
             "sg_semi_pseudo_label: ignore must be int32 (%d, %d, %d)", N, H, W);
    /* The confidence is the max of torch's softmax, so take it from sg_softmax
     * (same arithmetic) rather than 1 / sum exp(z - max). */
    const int shape[3] = {N, H, W};
    out->label = sg_tensor_new(ctx, SG_I32, 3, shape);
    out->conf = sg_tensor_new(ctx, SG_F32, 3, shape);
    out->ignore = ignore;
    /* The probabilities are dead once label and conf exist: give them back. */
    const sg_arena_mark mark = sg_arena_get_mark(&ctx->arena);
    bool was = sg_ctx_set_grad(ctx, false);
    sg_tensor *prob = sg_softmax(ctx, logits, 1);
    sg_ctx_set_grad(ctx, was);
    SG_BACKEND_NEED(ctx->be, pseudo_label)(out->label->i32, out->conf->data, logits->data,
                                           prob->data, N, K, (size_t)H * W);
    sg_arena_release(&ctx->arena, mark);
}

double sg_semi_mask_ratio(const sg_pseudo *p, float tau)
{
    size_t valid, kept;
    SG_BACKEND_NEED(sg_backend_of_device(p->conf->device), count_confident)(
        p->conf->data, p->ignore ? p->ignore->i32 : NULL, tau, sg_numel(p->conf), &valid, &kept);
    return valid ? (double)kept / (double)valid : 0.0;
}

/* ---- mixing ------------------------------------------------------------------- */
static void sg_semi_check_plain_(const sg_tensor *t, const char *fn)
{
    SG_CHECK(!t->requires_grad,
             "%s: inputs must not require a gradient (mixing is not differentiable)", fn);
}

sg_tensor *sg_semi_paste(sg_ctx *ctx, sg_tensor *a, sg_tensor *b, const sg_tensor *box)
{
    char sa[SG_SHAPE_STR_LEN], sb[SG_SHAPE_STR_LEN];
    SG_CHECK(
        a->dtype == b->dtype && sg_same_shape(a, b) && (a->ndim == 3 || a->ndim == 4),
        "sg_semi_paste: a %s and b %s must have one dtype and shape, (N, H, W) or (N, C, H, W)",
        sg_shape_str(a, sa, sizeof sa), sg_shape_str(b, sb, sizeof sb));
    sg_semi_check_plain_(a, "sg_semi_paste");
    sg_semi_check_plain_(b, "sg_semi_paste");
    const int N = a->shape[0], C = a->ndim == 4 ? a->shape[1] : 1;
    const int H = a->shape[a->ndim - 2], W = a->shape[a->ndim - 1];
    SG_CHECK(box->dtype == SG_I32 && box->ndim == 3 && box->shape[0] == N && box->shape[1] == H &&
                 box->shape[2] == W,
             "sg_semi_paste: box must be int32 (%d, %d, %d), got %s", N, H, W,
             sg_shape_str(box, sb, sizeof sb));
    sg_check_device(ctx, "sg_semi_paste", a);
    sg_check_device(ctx, "sg_semi_paste", b);
    sg_check_device(ctx, "sg_semi_paste", box);
    sg_tensor *out = sg_tensor_like(ctx, a);
    SG_BACKEND_NEED(ctx->be, paste)(out->data, a->data, b->data, box->i32, sg_dtype_size(a->dtype),
                                    N, C, (size_t)H * W);
    return out;
}

void sg_semi_paste_pseudo(sg_ctx *ctx, const sg_pseudo *a, const sg_pseudo *b, const sg_tensor *box,
                          sg_pseudo *out)
{
    SG_CHECK(a->ignore && b->ignore, "sg_semi_paste_pseudo: both pseudo-labels need an ignore map");
    out->label = sg_semi_paste(ctx, a->label, b->label, box);
    out->conf = sg_semi_paste(ctx, a->conf, b->conf, box);
    out->ignore = sg_semi_paste(ctx, a->ignore, b->ignore, box);
}

sg_tensor *sg_semi_roll(sg_ctx *ctx, sg_tensor *x, int shift)
{
    sg_semi_check_plain_(x, "sg_semi_roll");
    const int N = x->shape[0];
    sg_tensor *out = sg_tensor_like(ctx, x);
    const size_t row = sg_numel(x) / (size_t)N * sg_dtype_size(x->dtype);
    const int s = ((shift % N) + N) % N;
    sg_check_device(ctx, "sg_semi_roll", x);
    for (int i = 0; i < N; i++)
        ctx->be->copy((unsigned char *)out->data + (size_t)i * row,
                      (const unsigned char *)x->data + (size_t)((i + s) % N) * row, row);
    return out;
}

void sg_semi_roll_pseudo(sg_ctx *ctx, const sg_pseudo *p, int shift, sg_pseudo *out)
{
    SG_CHECK(p->ignore, "sg_semi_roll_pseudo: the pseudo-label needs an ignore map");
    out->label = sg_semi_roll(ctx, p->label, shift);
    out->conf = sg_semi_roll(ctx, p->conf, shift);
    out->ignore = sg_semi_roll(ctx, p->ignore, shift);
}

sg_tensor *sg_semi_valid(sg_ctx *ctx, const sg_tensor *ignore)
{
    SG_CHECK(ignore->dtype == SG_I32 && ignore->ndim == 3,
             "sg_semi_valid: ignore must be int32 (N, H, W)");
    sg_check_device(ctx, "sg_semi_valid", ignore);
    sg_tensor *v = sg_tensor_new(ctx, SG_F32, 3, ignore->shape);
    SG_BACKEND_NEED(ctx->be, valid_from_ignore)(v->data, ignore->i32, sg_numel(ignore));
    return v;
}

/* ---- losses ------------------------------------------------------------------- */
sg_tensor *sg_semi_masked_ce(sg_ctx *ctx, sg_tensor *logits, const sg_pseudo *target, float tau)
{
    SG_CHECK(target->ignore, "sg_semi_masked_ce: the target needs an ignore map");
    /* CE with ignore_index 255 on the padding and weight [conf >= tau] is
     * sum CE [conf >= tau] [ign != 255] / #[ign != 255]: the MEAN divisor of
     * sg_cross_entropy counts exactly the non-padding pixels. */
    sg_tensor *t = sg_tensor_like(ctx, target->label);
    sg_tensor *w = sg_tensor_like(ctx, target->conf);
    SG_BACKEND_NEED(ctx->be, masked_target)(t->i32, w->data, target->label->i32, target->conf->data,
                                            target->ignore->i32, tau, sg_numel(t));
    return sg_cross_entropy(ctx, logits, t, w, 255, SG_REDUCE_MEAN);
}

sg_tensor *sg_semi_softmax_mse(sg_ctx *ctx, sg_tensor *logits, sg_tensor *probs)
{
    return sg_mse_loss(ctx, sg_softmax(ctx, logits, 1), probs, SG_REDUCE_MEAN);
}

sg_tensor *sg_semi_cutmixseg_cons(sg_ctx *ctx, sg_tensor *logits, sg_tensor *probs,
                                  sg_tensor *valid, float thresh, bool per_pixel, double *conf_out)
{
    char a[SG_SHAPE_STR_LEN], b[SG_SHAPE_STR_LEN];
    SG_CHECK(sg_same_shape(logits, probs) && logits->ndim == 4,
             "sg_semi_cutmixseg_cons: logits %s and probs %s must be one (N, C, H, W) shape",
             sg_shape_str(logits, a, sizeof a), sg_shape_str(probs, b, sizeof b));
    const int N = logits->shape[0], C = logits->shape[1], H = logits->shape[2],
              W = logits->shape[3];
    SG_CHECK(valid->dtype == SG_F32 && valid->ndim == 3 && valid->shape[0] == N &&
                 valid->shape[1] == H && valid->shape[2] == W,
             "sg_semi_cutmixseg_cons: valid must be float (%d, %d, %d)", N, H, W);
    const size_t HW = (size_t)H * W, np = (size_t)N * HW;
    /* Per-pixel confidence indicator of the teacher; its mean is the scalar
     * factor of CM's default (conf_per_pixel False). */
    float *ind = sg_arena_alloc(&ctx->arena, np * sizeof(float));
    size_t kept;
    SG_BACKEND_NEED(ctx->be, confidence_indicator)(ind, &kept, probs->data, thresh, N, C, HW);
    const float factor = (float)((double)kept / (double)np);
    if (conf_out) *conf_out = factor;
    /* The weight of every (n, c, h, w) term: valid * confidence, the same
     * for all channels. */
    sg_tensor *wmap = sg_tensor_like(ctx, logits);
    SG_BACKEND_NEED(ctx->be, cons_weight_map)(wmap->data, valid->data, ind, factor, per_pixel, N, C,
                                              HW);
    sg_tensor *d = sg_sub(ctx, sg_softmax(ctx, logits, 1), probs);
    sg_tensor *s = sg_sum(ctx, sg_mul(ctx, sg_mul(ctx, d, d), wmap));
    return sg_scale(ctx, s, (float)(1.0 / (double)np));
}

/* ---- schedules ---------------------------------------------------------------- */
float sg_semi_ema_decay(long it, float alpha)
{
    SG_CHECK(it >= 0, "sg_semi_ema_decay: iteration %ld < 0", it);
    return (float)fmin(1.0 - 1.0 / ((double)it + 1.0), (double)alpha);
}

double sg_semi_rampup(long it, long len)
{
    if (len <= 0) return 1.0;
    const double t = 1.0 - (double)(it < 0 ? 0 : it > len ? len : it) / (double)len;
    return exp(-5.0 * t * t);
}

/* ---- pieces of a method's step ---------------------------------------------------- */
sg_deeplab_fp sg_semi_fp(float p, uint64_t seed, long it)
{
    return (sg_deeplab_fp){.p = p,
                           .seed = seed,
                           .stream_c1 = sg_rng_stream(SG_RNG_DROPOUT, (uint64_t)it, 0),
                           .stream_c4 = sg_rng_stream(SG_RNG_DROPOUT, (uint64_t)it, 1)};
}

sg_deeplab_fp sg_semi_fp2(float p, uint64_t seed, long it)
{
    sg_deeplab_fp fp = sg_semi_fp(p, seed, it);
    fp.second = true;
    fp.stream2_c1 = sg_rng_stream(SG_RNG_DROPOUT, (uint64_t)it, 2);
    fp.stream2_c4 = sg_rng_stream(SG_RNG_DROPOUT, (uint64_t)it, 3);
    return fp;
}

sg_tensor *sg_semi_sup_apply(sg_ctx *ctx, const sg_semi_sup *sup, sg_tensor *logits,
                             const sg_tensor *labels)
{
    if (sup && sup->loss) return sup->loss(sup->user, ctx, logits, labels);
    return sg_cross_entropy(ctx, logits, labels, NULL, 255, SG_REDUCE_MEAN);
}

void sg_semi_term(sg_semi_terms *t, const char *name, double v)
{
    SG_CHECK(t->n < SG_SEMI_MAX_TERMS, "sg_semi_terms: more than %d terms", SG_SEMI_MAX_TERMS);
    t->name[t->n] = name;
    t->value[t->n++] = v;
}

sg_tensor *sg_semi_predict(sg_ctx *ctx, sg_deeplab *m, sg_tensor *x, bool training)
{
    const bool was_training = m->training, was_grad = sg_ctx_set_grad(ctx, false);
    /* Only the logits outlive this pass: its activations go back to the
     * arena at once instead of staying until the end of the step. */
    const sg_arena_mark mark = sg_arena_get_mark(&ctx->arena);
    const int n_nodes = ctx->n_nodes;
    m->training = training;
    sg_deeplab_out out;
    sg_deeplab_forward(ctx, m, x, NULL, &out);
    m->training = was_training;
    sg_ctx_set_grad(ctx, was_grad);
    return sg_ctx_release_keep(ctx, mark, n_nodes, out.logits);
}
