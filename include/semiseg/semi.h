/*
 * semi.h: the reusable pieces of the semi-supervised methods. The methods
 * themselves (forward passes, pseudo-labels, loss composition, parameter
 * struct) live with their trainers, experiments/<method>/<method>_loss.c,
 * and are built from these:
 *   pseudo-labels   softmax confidence + argmax of detached logits; the
 *                   no-grad prediction of a model in a chosen BN mode
 *   mixing          CutMix pasting of images, logits and (pseudo-label,
 *                   confidence, ignore) maps inside 0/1 box masks; the batch
 *                   roll that makes "the next image of the batch" the partner
 *   losses          the masked unsupervised CE of FixMatch/UniMatch, Mean
 *                   Teacher's softmax-MSE consistency, CutMix-Seg's
 *                   confidence-weighted squared difference
 *   schedules       Mean Teacher's EMA decay and sigmoid ramp-up
 *   blur            the Gaussian blur of the ClassMix strong transform
 *   steps           the supervised criterion, the logged loss terms, the
 *                   feature-perturbation masks, the EMA teacher, the CutMix
 *                   partner batch (the trainer adds backward, the optimizer
 *                   step and the teacher update)
 *
 * The pieces that take batches or the run (CutMix-Seg box masks, partner
 * batches, the glue to the run driver) are the run layer's: method.h.
 *
 * Shapes (loader.h): images (N, 3, S, S) float; labels, ignore maps and box
 * masks (N, S, S) int32 (ignore: 255 = crop padding, else 0; box: 1 inside).
 * Pseudo-labels: label (N, H, W) int32 in [0, K); conf (N, H, W) float.
 *
 * Reference: LiheYoung/UniMatch@0324f3d:unimatch.py and fixmatch.py,
 * Britefury/cutmix-semisup-seg@c073d7b:train_seg_semisup_mask_mt.py,
 * CuriousAI/mean-teacher@546348f:pytorch/main.py. The per-function
 * comments give the equations; experiments/<method>/README.md gives the
 * account of each method.
 *
 * Covered by tests/test_semi.c: the primitives on hand-made inputs, and one
 * iteration of each method's composition (experiments/libsgmethods.a) on a
 * fixed batch (fixed boxes, dropout masks from Philox) against a PyTorch
 * re-implementation (tests/ref/gen_semi.py -> tests/data/semi.bin): every
 * loss term, the weights after the SGD step and the EMA teacher.
 */
#ifndef SEMISEG_SEMI_H
#define SEMISEG_SEMI_H

#include "semiseg/model.h"

/* ---- pseudo-labels ------------------------------------------------------------ */
typedef struct sg_pseudo {
    sg_tensor *label;         /* (N, H, W) int32: argmax over classes (first maximum) */
    sg_tensor *conf;          /* (N, H, W) float: max of the softmax */
    sg_tensor *ignore;        /* (N, H, W) int32: 255 = padding (borrowed, not copied) */
} sg_pseudo;

/* From logits (N, K, H, W), read without recording (UniMatch: pred.detach(),
 * softmax(dim=1).max(dim=1) and argmax(dim=1)). ignore is stored as given. */
void sg_semi_pseudo_label(sg_ctx *ctx, sg_tensor *logits, sg_tensor *ignore, sg_pseudo *out);

/* Fraction of non-padding pixels with conf >= tau (UniMatch's logged "mask
 * ratio"); 0 when every pixel is padding. */
double sg_semi_mask_ratio(const sg_pseudo *p, float tau);

/* ---- mixing (none of these is differentiable: inputs must not require a
 * gradient) --------------------------------------------------------------------- */
/* out = a where box == 0, b where box == 1. a, b: same dtype and shape
 * (N, H, W) or (N, C, H, W); box (N, H, W) int32, every channel follows it
 * (UniMatch: img[box.unsqueeze(1).expand(img.shape) == 1] = img_mix[...]). */
sg_tensor *sg_semi_paste(sg_ctx *ctx, sg_tensor *a, sg_tensor *b, const sg_tensor *box);
/* The three maps of a pseudo-label pasted alike. */
void sg_semi_paste_pseudo(sg_ctx *ctx, const sg_pseudo *a, const sg_pseudo *b, const sg_tensor *box,
                          sg_pseudo *out);
/* out[i] = x[(i + shift) mod N] along dim 0, any dtype: shift 1 makes the next
 * image of the batch each image's partner (U2PL's (i + 1) mod B). */
sg_tensor *sg_semi_roll(sg_ctx *ctx, sg_tensor *x, int shift);
void sg_semi_roll_pseudo(sg_ctx *ctx, const sg_pseudo *p, int shift, sg_pseudo *out);
/* (N, H, W) float: 1 where ignore != 255, else 0. */
sg_tensor *sg_semi_valid(sg_ctx *ctx, const sg_tensor *ignore);

/* ---- losses ------------------------------------------------------------------- */
/* FixMatch/UniMatch unsupervised loss, a scalar:
 *   sum_px CE(logits, label) [conf >= tau] [ignore != 255] / #[ignore != 255]
 * over the whole batch (the denominator counts every non-padding pixel, not
 * only the confident ones). NaN when every pixel is padding, as in PyTorch. */
sg_tensor *sg_semi_masked_ce(sg_ctx *ctx, sg_tensor *logits, const sg_pseudo *target, float tau);
/* Mean Teacher consistency: mean over (n, c, h, w) of (softmax(logits) - probs)^2,
 * i.e. mean_px sum_c (.)^2 / C (torch mse_loss on the softmaxes); probs is the
 * teacher's, constant. */
sg_tensor *sg_semi_softmax_mse(sg_ctx *ctx, sg_tensor *logits, sg_tensor *probs);
/* CutMix-Seg consistency (Britefury/cutmix-semisup-seg@c073d7b:
 * train_seg_semisup_mask_mt.py, mask_mode 'mix', cons_loss_fn 'var'):
 *   conf_c = mean over all pixels of [max_c probs >= thresh]   (one scalar), or
 *            the per-pixel indicator itself when per_pixel;
 *   L = mean_(n,h,w) [ sum_c (softmax(logits) - probs)^2 * valid * conf_c ].
 * valid (N, H, W) float; *conf_out (may be NULL) receives the scalar mean. */
sg_tensor *sg_semi_cutmixseg_cons(sg_ctx *ctx, sg_tensor *logits, sg_tensor *probs, sg_tensor *valid,
                                  float thresh, bool per_pixel, double *conf_out);

/* ---- schedules ---------------------------------------------------------------- */
/* Mean Teacher: min(1 - 1/(it + 1), alpha): 0 at it = 0 (the teacher becomes
 * the student), then rising to alpha. */
float sg_semi_ema_decay(long it, float alpha);
/* Sigmoid ramp-up exp(-5 (1 - clip(it, 0, len)/len)^2); 1 when len <= 0. */
double sg_semi_rampup(long it, long len);

/* ---- pieces of a method's step ---------------------------------------------------- */
/* The supervised criterion on the labeled logits (the run's CE or OHEM);
 * loss == NULL means CE with ignore index 255, mean over non-ignored pixels. */
typedef struct sg_semi_sup {
    sg_tensor *(*loss)(void *user, sg_ctx *ctx, sg_tensor *logits, const sg_tensor *labels);
    void *user;
} sg_semi_sup;

/* sup's criterion on (logits, labels); sup may be NULL (CE, as above). */
sg_tensor *sg_semi_sup_apply(sg_ctx *ctx, const sg_semi_sup *sup, sg_tensor *logits,
                             const sg_tensor *labels);

#define SG_SEMI_MAX_TERMS 10
/* The loss terms of one step, for the log: names are static strings. */
typedef struct sg_semi_terms {
    int n;
    const char *name[SG_SEMI_MAX_TERMS];
    double value[SG_SEMI_MAX_TERMS];
    double mask_ratio;        /* see each method's <method>_loss.h; NAN without pseudo-labels */
} sg_semi_terms;
/* Appends one term; aborts past SG_SEMI_MAX_TERMS. */
void sg_semi_term(sg_semi_terms *t, const char *name, double v);

/* Logits (N, K, H, W) of x predicted by m without recording a gradient, its
 * BN in train mode (batch statistics, running ones updated) when `training`,
 * else eval mode, for this pass only; the pass's activations go back to the
 * arena at once (the teacher's torch.no_grad() forward). */
sg_tensor *sg_semi_predict(sg_ctx *ctx, sg_deeplab *m, sg_tensor *x, bool training);


/* The feature-perturbation masks of iteration `it`: Dropout2d(p) with
 * streams sg_rng_stream(SG_RNG_DROPOUT, it, 0) (c1) and (.., it, 1) (c4). */
sg_deeplab_fp sg_semi_fp(float p, uint64_t seed, long it);
/* DSSN's two perturbed copies: the masks of sg_semi_fp (streams 0 and 1),
 * then the second copy's from streams (dropout, it, 2) (c1) and (.., it, 3)
 * (c4): a run's sg_run_stream(run, 0..3). */
sg_deeplab_fp sg_semi_fp2(float p, uint64_t seed, long it);

/* ---- U2PL (Haochen-Wang409/U2PL@ab3d2be; src/core/semi_u2pl.c) ------------------ */
/* numpy.percentile(v, q) with the default linear interpolation (q in
 * [0, 100]): the sorted values' virtual index (n - 1) (q / 100), then
 * numpy's _lerp a + (b - a) t, or b - (b - a)(1 - t) when t >= 0.5, in
 * double. Sorts v in place; n >= 1. Host-side: U2PL computes its entropy
 * thresholds on the CPU with numpy. */
double sg_semi_percentile(float *v, size_t n, double q);
/* The same of values already sorted ascending (several quantiles, one sort). */
double sg_semi_percentile_sorted(const float *v, size_t n, double q);
/* U2PL's CutMix box (u2pl/dataset/augmentation.py generate_cutout_mask,
 * ratio 2) for an h x w image, drawn from r: width bw = randint[w/2 + 1, w)
 * (numpy's int bounds: w / 2 truncated), bh = round(h w / 2 / bw) (half to
 * even, as np.round), x0 = randint[0, w - bw], y0 = randint[0, h - bh];
 * each randint is sg_rng_below. box = {y0, x0, bh, bw}; w >= 3. */
void sg_semi_u2pl_box(sg_rng *r, int h, int w, int box[4]);
/* (n, h, w) int32 masks, 1 inside one U2PL box per image (drawn in order). */
sg_tensor *sg_semi_u2pl_boxes(sg_ctx *ctx, int n, int h, int w, sg_rng *r);

/* ---- ClassMix blur (kornia 0.3.0 GaussianBlur2d; src/core/semi_blur.c) ---------- */
/* kornia.filters.GaussianBlur2d(kernel_size=(ky, kx), sigma=(sigma, sigma))
 * with border_type 'reflect', as the ClassMix strong transform calls it
 * (1181110317/SSL_CTT@33d7e3c:utils/transformsgpu.py gaussian_blur), each
 * channel of img (N, C, H, W) float on its own: k = ceil(0.1 L), made odd by
 * taking one off (sg_semi_blur_kernel_size), for L = H (ky) and W (kx);
 * weights exp(-(j - k/2)^2 / (2 sigma^2)) normalised to sum 1. Two 1-D
 * passes (rows, then columns) of the separable kernel kornia applies as one
 * 2-D outer-product kernel: equal up to float32 rounding. Not
 * differentiable (img must not require a gradient); host-side (img read
 * once), OpenMP over the planes, bitwise the same for any thread count.
 * sigma > 0. Covered by tests/test_classmix.c (tests/ref/gen_classmix.py). */
sg_tensor *sg_semi_gaussian_blur(sg_ctx *ctx, sg_tensor *img, float sigma);
/* The kernel side of sg_semi_gaussian_blur for a side of L pixels. */
int sg_semi_blur_kernel_size(int side);

#endif
