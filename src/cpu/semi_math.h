/*
 * semi_math.h: per-pixel rules of the semi-supervised label maps (backend.h
 * entries valid_from_ignore, masked_target, cons_weight_map, paste), shared
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

#endif
