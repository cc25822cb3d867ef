/*
 * semi_math.h: per-pixel rules of the semi-supervised label maps (backend.h
 * entries valid_from_ignore, masked_target, cons_weight_map, paste,
 * ohem_select), shared
 * by the CPU kernels (semi_kernels.c) and the CUDA kernels
 * (src/cuda/cuda_pointwise.cu; cuda_reduce.cu takes the padding test) through
 * SG_HD. 255 marks the padding that augmentation adds (UniMatch's ignore
 * mask).
 * References: UniMatch's masked CE (criterion_u(pred, mask) * ((conf >= tau)
 * & (ignore_mask != 255))), CutMix-Seg's consistency weight and its paste
 * (img[mask == 1] = img_mix[mask == 1]).
 * Covered by tests/test_semi.c (CPU) and tests/test_backend_ops.c (GPU).
 */
#ifndef SEMISEG_CPU_SEMI_MATH_H
#define SEMISEG_CPU_SEMI_MATH_H

#include "semiseg/base.h"

SG_HD bool sg_semi_is_pad(int32_t ignore) { return ignore == 255; }
/* 1 where the pixel is real image, 0 on the padding. */
SG_HD float sg_semi_valid1(int32_t ignore) { return !sg_semi_is_pad(ignore); }
/* The CE target: ignore_index 255 on the padding, else the pseudo-label. */
SG_HD int32_t sg_semi_target1(int32_t label, int32_t ignore)
{
    return sg_semi_is_pad(ignore) ? 255 : label;
}
/* The CE weight: confident pixels off the padding. */
SG_HD float sg_semi_weight1(float conf, int32_t ignore, float tau)
{
    return !sg_semi_is_pad(ignore) && conf >= tau;
}
/* The consistency weight of one (n, c, pixel) term: valid times the pixel's
 * confidence indicator, or times the batch's confident fraction. */
SG_HD float sg_semi_cons_weight1(float valid, float conf_w) { return valid * conf_w; }
/* Whether pixel takes the pasted image b (box == 1) rather than a. */
SG_HD bool sg_semi_pasted(int32_t box) { return box == 1; }
/* OHEM: the probability of the pixel's class, prob_pixel pointing at its
 * class-0 value in (K, HW) planes; a quiet NaN of fixed bits (the same on
 * both sides) where the target is ignored or outside [0, K) (which
 * sg_cross_entropy then reports). */
SG_HD float sg_ohem_target_prob1(int32_t target, int ignore_index, int K, const float *prob_pixel,
                                 size_t HW)
{
    union {
        uint32_t u;
        float f;
    } nan_bits = {0x7fc00000u};
    if (target == ignore_index || target < 0 || target >= K) return nan_bits.f;
    return prob_pixel[(size_t)target * HW];
}
/* OHEM's rule: a labelled pixel whose probability of its class is at most
 * tau stays (hard); the others become ignore_index. pgt is NAN on ignored
 * pixels, which the comparison also drops. */
SG_HD int32_t sg_ohem_select1(int32_t target, float pgt, float tau, int ignore_index)
{
    return target != ignore_index && pgt <= tau ? target : ignore_index;
}

#endif
