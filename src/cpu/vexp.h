/*
 * vexp.h: exp(x) in double as straight-line arithmetic, so that the loops of
 * softmax.c and loss.c that call it vectorise (inside SG_SIMD_CLONES
 * functions, simd.h), where libm's exp is a call per element (5 % of a
 * training step in bench/README.md's profile).
 *
 * Method (Cody-Waite, as fdlibm's e_exp.c): x = k ln2 + r with k =
 * round(x / ln2) and |r| <= ln2 / 2, ln2 split in a high part with trailing
 * zero bits (k * ln2_hi is exact) and a low part; exp(r) by its Taylor
 * series to r^12 / 12!, whose truncation error is below 2e-16 relative on
 * that interval; exp(x) = 2^k exp(r), 2^k built from its exponent bits.
 * Measured against glibc's exp over [-708, 709]: at most 1.5 ulp.
 * Range: x below -708 gives exp(-708) ~ 3.3e-308 (not 0: 2^k must stay
 * normal), which every caller adds to a sum that is at least 1 or rounds to
 * float, where it is 0; x above 709 gives exp(709); a NaN stays a NaN.
 * The clamps are sg_simd_select (simd.h), not `?:`, which would not vectorise.
 * The CUDA kernels keep the device's exp (softmax_math.h, loss_math.h).
 * Covered by tests/test_ops_loss.c (softmax, log-softmax and cross-entropy
 * against PyTorch; exp itself against libm, including the range limits).
 */
#ifndef SEMISEG_CPU_VEXP_H
#define SEMISEG_CPU_VEXP_H

#include <stdint.h>
#include <string.h>

#include "simd.h"

SG_SIMD_INLINE double sg_vexp(double x)
{
    const double log2e = 0x1.71547652b82fep0, ln2_hi = 6.93147180369123816490e-01,
                 ln2_lo = 1.90821492927058770002e-10, round_shift = 0x1.8p52;
    x = sg_simd_select(x < -708.0, -708.0, x);
    x = sg_simd_select(x > 709.0, 709.0, x);
    /* k = round(x / ln2): adding 1.5 * 2^52 leaves k in the low mantissa bits. */
    double kd = x * log2e + round_shift;
    uint64_t k_bits;
    memcpy(&k_bits, &kd, sizeof k_bits);
    kd -= round_shift;
    const double r = (x - kd * ln2_hi) - kd * ln2_lo;
    double p = 1.0 / 479001600.0;
    p = p * r + 1.0 / 39916800.0;
    p = p * r + 1.0 / 3628800.0;
    p = p * r + 1.0 / 362880.0;
    p = p * r + 1.0 / 40320.0;
    p = p * r + 1.0 / 5040.0;
    p = p * r + 1.0 / 720.0;
    p = p * r + 1.0 / 120.0;
    p = p * r + 1.0 / 24.0;
    p = p * r + 1.0 / 6.0;
    p = p * r + 0.5;
    p = p * r + 1.0;
    p = p * r + 1.0;
    /* 2^k: k's two's-complement low bits plus the bias, shifted into the
     * exponent field (the mantissa bits above k's are shifted out). */
    const uint64_t scale_bits = (k_bits + 1023) << 52;
    double scale;
    memcpy(&scale, &scale_bits, sizeof scale);
    return p * scale;
}

#endif
