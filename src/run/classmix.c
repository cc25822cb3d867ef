/*
 * classmix.c: ClassMix of a batch and the Gaussian blur of the ClassMix
 * strong transform (classmix.h), after
 * 1181110317/SSL_CTT@33d7e3c:cross_teacher_contr.py ema_loss (the masks),
 * utils/transformmasks.py generate_class_mask, utils/transformsgpu.py mix and
 * gaussian_blur, and kornia 0.3.0 kornia/filters/gaussian.py + filter.py
 * (get_gaussian_kernel2d, filter2d with reflect padding).
 * Covered by tests/test_classmix.c (tests/ref/gen_classmix.py).
 */
#include "semiseg/classmix.h"

#include <math.h>
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

int sg_semi_blur_kernel_size(int side)
{
    /* int(np.floor(np.ceil(0.1 * L) - 0.5 + np.ceil(0.1 * L) % 2)) */
    const int c = (int)ceil(0.1 * side);
    return c % 2 ? c : c - 1;
}

/* kornia 0.3.0 gaussian(window_size, sigma): math.exp in double per tap,
 * stored as float32, divided by their float32 sum. */
static float *gauss_kernel_(int k, float sigma)
{
    float *g = sg_xmalloc((size_t)k * sizeof *g);
    float sum = 0.0f;
    for (int x = 0; x < k; x++) {
        const double d = x - k / 2;
        g[x] = (float)exp(-d * d / (2.0 * (double)sigma * (double)sigma));
        sum += g[x];
    }
    for (int x = 0; x < k; x++) g[x] /= sum;
    return g;
}

/* F.pad(mode='reflect') index: the border pixel is not repeated. */
static int reflect_(int i, int n)
{
    if (i < 0) return -i;
    if (i >= n) return 2 * (n - 1) - i;
    return i;
}

sg_tensor *sg_semi_gaussian_blur(sg_ctx *ctx, sg_tensor *img, float sigma)
{
    check_plain_(img, "sg_semi_gaussian_blur");
    SG_CHECK(sigma > 0, "sg_semi_gaussian_blur: sigma %g <= 0", (double)sigma);
    const int N = img->shape[0], C = img->shape[1], H = img->shape[2], W = img->shape[3];
    const int ky = sg_semi_blur_kernel_size(H), kx = sg_semi_blur_kernel_size(W);
    float *gy = gauss_kernel_(ky, sigma), *gx = gauss_kernel_(kx, sigma);
    const size_t hw = (size_t)H * W;
    float *x = sg_xmalloc(sg_numel(img) * sizeof *x), *tmp = sg_xmalloc(hw * sizeof *tmp);
    sg_tensor_read(img, x);
    sg_tensor *out = sg_tensor_like(ctx, img);
    float *o = sg_ctx_stage(ctx, out);
    for (size_t plane = 0; plane < (size_t)N * C; plane++) {
        const float *in = x + plane * hw;
        float *dst = o + plane * hw;
        for (int r = 0; r < H; r++)
            for (int c = 0; c < W; c++) {
                double acc = 0.0;
                for (int j = 0; j < kx; j++) acc += (double)gx[j] * in[(size_t)r * W + reflect_(c + j - kx / 2, W)];
                tmp[(size_t)r * W + c] = (float)acc;
            }
        for (int r = 0; r < H; r++)
            for (int c = 0; c < W; c++) {
                double acc = 0.0;
                for (int i = 0; i < ky; i++) acc += (double)gy[i] * tmp[(size_t)reflect_(r + i - ky / 2, H) * W + c];
                dst[(size_t)r * W + c] = (float)acc;
            }
    }
    sg_ctx_stage_done(ctx, out, o);
    free(x);
    free(tmp);
    free(gx);
    free(gy);
    return out;
}
