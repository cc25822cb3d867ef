/*
 * optim_math.h: per-element arithmetic of the SGD step and of the EMA blend
 * (backend.h entries sgd_update, ema_blend), shared by the CPU kernels
 * (optim.c) and the CUDA kernels (src/cuda/cuda_pointwise.cu) through SG_HD.
 * The expressions keep the operation order and float types of the CPU loops
 * they came from, so those results are bitwise what they were before, and
 * the products go through sg_fmul so the GPU does not fuse them into fmas.
 * References: torch.optim.SGD (single-tensor path, dampening 0, no
 * Nesterov) and `ema = ema * decay + p * (1 - decay)` in float32.
 * Covered by tests/test_optim.c (CPU) and tests/test_backend_ops.c (GPU).
 */
#ifndef SEMISEG_CPU_OPTIM_MATH_H
#define SEMISEG_CPU_OPTIM_MATH_H

#include "semiseg/base.h"

#include "pointwise.h"

/* The step direction with weight decay: d = g + wd * p. */
SG_HD float sg_sgd_dir1(float g, float p, float wd) { return g + sg_fmul(wd, p); }
/* The momentum buffer after the first step: momentum * buf + d. (On the
 * first step torch sets buf = d, which the callers do without reading the
 * uninitialised buffer.) */
SG_HD float sg_sgd_momentum1(float buf, float d, float momentum)
{
    return sg_fmul(momentum, buf) + d;
}
/* p - lr * v: v is the buffer, or d without momentum. */
SG_HD float sg_sgd_step1(float p, float v, float lr) { return p - sg_fmul(lr, v); }

/* e * decay + p * keep, keep = 1 - decay rounded once by the caller. */
SG_HD float sg_ema1(float e, float p, float decay, float keep)
{
    return sg_fmul(e, decay) + sg_fmul(p, keep);
}

#endif
