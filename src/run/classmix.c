/*
 * classmix.c: ClassMix of a batch (classmix.h), after
 * 1181110317/SSL_CTT@33d7e3c:cross_teacher_contr.py ema_loss (the masks),
 * utils/transformmasks.py generate_class_mask and utils/transformsgpu.py mix.
 * Covered by tests/test_classmix.c (tests/ref/gen_classmix.py).
 */
#include "semiseg/classmix.h"

#include <stdlib.h>

#include "semiseg/augment.h"

static void check_plain_(const sg_tensor *t, const char *what)
{
    SG_CHECK(t->dtype == SG_F32 && t->ndim == 4 && !t->requires_grad,
             "%s: expected a float (N, C, H, W) tensor without gradient", what);
}

void sg_semi_classmix(sg_ctx *ctx, sg_tensor *probs, sg_tensor *img, sg_rng *rng, sg_classmix *out)
{
    check_plain_(probs, "sg_semi_classmix: probs");
    check_plain_(img, "sg_semi_classmix: img");
    const int N = probs->shape[0], K = probs->shape[1], H = probs->shape[2], W = probs->shape[3];
    SG_CHECK(img->shape[0] == N && img->shape[2] == H && img->shape[3] == W,
             "sg_semi_classmix: images and probabilities differ in batch or size");
    const size_t hw = (size_t)H * W;
    float *p = sg_xmalloc(sg_numel(probs) * sizeof *p);
    sg_tensor_read(probs, p);
    int32_t *arg = sg_xmalloc((size_t)N * hw * sizeof *arg);
    float *best = sg_xmalloc((size_t)N * hw * sizeof *best);
    /* softmax_u_w.max(dim=1): the first maximum of each pixel */
    for (int n = 0; n < N; n++)
        for (size_t i = 0; i < hw; i++) {
            const float *pi = p + (size_t)n * K * hw + i;
            int a = 0;
            for (int k = 1; k < K; k++)
                if (pi[(size_t)k * hw] > pi[(size_t)a * hw]) a = k;
            arg[(size_t)n * hw + i] = a;
            best[(size_t)n * hw + i] = pi[(size_t)a * hw];
        }
    free(p);

    const int shape[3] = {N, H, W};
    out->mask = sg_tensor_new(ctx, SG_I32, 3, shape);
    int32_t *mask = sg_ctx_stage(ctx, out->mask);
    /* for image_i: classes = torch.unique(argmax_u_w[image_i]); choose
     * (n - n % 2) / 2 of them; MixMask[image_i] = generate_class_mask(...) */
    for (int n = 0; n < N; n++)
        sg_classmix_mask(mask + (size_t)n * hw, arg + (size_t)n * hw, H, W, K, rng);

    /* strongTransform(strong_parameters, data=softmax_u_w) -> transformsgpu.mix:
     * mask[i] * p[i] + (1 - mask[i]) * p[(i + 1) % N], then max / argmax over
     * classes. With a 0/1 mask the mixed pixel is one of the two images'
     * probability vectors, so its argmax and max are that image's. */
    out->pseudo.label = sg_tensor_new(ctx, SG_I32, 3, shape);
    out->pseudo.conf = sg_tensor_new(ctx, SG_F32, 3, shape);
    out->pseudo.ignore = NULL;
    int32_t *lab = sg_ctx_stage(ctx, out->pseudo.label);
    float *conf = sg_ctx_stage(ctx, out->pseudo.conf);
    for (int n = 0; n < N; n++) {
        const size_t own = (size_t)n * hw, next = (size_t)((n + 1) % N) * hw;
        for (size_t i = 0; i < hw; i++) {
            const size_t src = mask[own + i] ? own + i : next + i;
            lab[own + i] = arg[src];
            conf[own + i] = best[src];
        }
    }
    sg_ctx_stage_done(ctx, out->pseudo.label, lab);
    sg_ctx_stage_done(ctx, out->pseudo.conf, conf);
    sg_ctx_stage_done(ctx, out->mask, mask);
    free(arg);
    free(best);
    /* inputs_u_s = mix(MixMask, images): mask 1 keeps image i (sg_semi_paste
     * takes its second operand where the box is 1). */
    out->img = sg_semi_paste(ctx, sg_semi_roll(ctx, img, 1), img, out->mask);
}
