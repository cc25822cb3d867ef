/*
 * simd.h: how the CPU kernels with hot element loops (batchnorm_fast.c,
 * softmax.c and loss.c with vexp.h's exp, resize.c's bilinear forward) get
 * wide vectors from a baseline x86-64 build.
 *
 * SG_SIMD_CLONES compiles a function for AVX-512, AVX2 and the baseline
 * (GCC/Clang target_clones; the loader picks one at start-up through an
 * ifunc). The clones give the same bits: a kernel's sums are split into a
 * fixed number of partial sums (SG_SIMD_LANES, whatever the vector width),
 * and the build never contracts a * b + c into an FMA (-ffp-contract=off),
 * so each clone performs the same IEEE operations in the same order; only
 * their grouping into registers differs. Elsewhere (other architectures,
 * other compilers, or where ifuncs are missing) the attribute is empty and
 * the baseline code runs, with the same results.
 * Covered by tests/test_dnnl.c (the fast BN against batchnorm.c, the same
 * bits at 1 and 2 threads), tests/test_ops_loss.c (softmax and cross-entropy
 * against PyTorch) and tests/test_ops_resize.c (bilinear, bitwise against
 * PyTorch).
 */
#ifndef SEMISEG_CPU_SIMD_H
#define SEMISEG_CPU_SIMD_H

#include <stdint.h>
#include <string.h>

#if defined(__x86_64__) && defined(__GNUC__) && defined(__has_attribute) && defined(__linux__)
#if __has_attribute(target_clones)
#define SG_SIMD_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#endif
#endif
#ifndef SG_SIMD_CLONES
#define SG_SIMD_CLONES
#endif

/* For the loop bodies that a SG_SIMD_CLONES function calls with constant
 * flags: inlined into each clone, so they are compiled for its vector width
 * and specialised for the flags (left to itself, GCC kept one out-of-line
 * baseline copy, scalar). */
#if defined(__GNUC__)
#define SG_SIMD_INLINE static inline __attribute__((always_inline))
#else
#define SG_SIMD_INLINE static inline
#endif

/* a where `take_a`, else b, by their bits: the select that GCC vectorises.
 * A `?:` choosing between floating-point results is left as a branch under
 * -ftrapping-math (the arm not taken might trap), which keeps the loop
 * scalar; here both are computed and masked. */
SG_SIMD_INLINE double sg_simd_select(int take_a, double a, double b)
{
    uint64_t ua, ub, m = -(uint64_t)(take_a != 0);
    memcpy(&ua, &a, sizeof ua);
    memcpy(&ub, &b, sizeof ub);
    ua = (ua & m) | (ub & ~m);
    memcpy(&a, &ua, sizeof a);
    return a;
}

SG_SIMD_INLINE float sg_simd_selectf(int take_a, float a, float b)
{
    uint32_t ua, ub, m = -(uint32_t)(take_a != 0);
    memcpy(&ua, &a, sizeof ua);
    memcpy(&ub, &b, sizeof ub);
    ua = (ua & m) | (ub & ~m);
    memcpy(&a, &ua, sizeof a);
    return a;
}

/* fmaxf(m, v) without the call: v when v > m or m is a NaN, else m (the
 * NaN is passed over, as fmaxf does). Inside a SG_SIMD_CLONES function a
 * libm call per element is slow, and it keeps the loop scalar. */
SG_SIMD_INLINE float sg_simd_maxf(float m, float v)
{
    return sg_simd_selectf(v > m || m != m, v, m);
}

/* Partial sums per reduction: 16 covers one AVX-512 register of floats. */
#define SG_SIMD_LANES 16

#endif
