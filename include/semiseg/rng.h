/*
 * rng.h: counter-based random numbers (Philox4x32-10).
 *
 * A draw is a pure function of (seed, stream, counter), so results never
 * depend on thread count, prefetch depth or timing, and a run resumed from a
 * checkpoint that stored (seed, stream, counter) continues the same sequence.
 * Philox4x32-10 as specified in Salmon et al., "Parallel random numbers: as
 * easy as 1, 2, 3" (SC'11); known-answer vectors from Random123 are checked in
 * tests/test_rng.c.
 *
 * Mapping: key = seed (64 bit); counter words 0-1 = draw-block index, words 2-3
 * = stream id. Streams are built with sg_rng_stream(kind, a, b) so that e.g.
 * (augmentation, epoch, sample) and (dropout, iteration, layer) never collide.
 */
#ifndef SEMISEG_RNG_H
#define SEMISEG_RNG_H

#include "semiseg/base.h"

typedef struct sg_rng {
    uint64_t seed;
    uint64_t stream;
    uint64_t counter;        /* index of the next 128-bit block */
    uint32_t block[4];       /* current block */
    int used;                /* words of `block` consumed (4 = empty) */
} sg_rng;

/* Philox4x32-10 block function: out = philox(ctr, key). */
void sg_philox4x32_10(const uint32_t ctr[4], const uint32_t key[2], uint32_t out[4]);

/* Stream id from a kind (8 bits) and two indices (24 and 32 bits): kind in
 * bits 56-63, a in bits 32-55, b in bits 0-31. Larger values are rejected. */
uint64_t sg_rng_stream(unsigned kind, uint64_t a, uint64_t b);

void sg_rng_init(sg_rng *r, uint64_t seed, uint64_t stream);
uint32_t sg_rng_u32(sg_rng *r);
/* Uniform in [0, 1) with 24 random bits (every value exactly representable). */
float sg_rng_uniform(sg_rng *r);
/* Standard normal (Box-Muller on two uniforms in (0, 1]). */
float sg_rng_normal(sg_rng *r);
/* Uniform integer in [0, n) without modulo bias. */
uint32_t sg_rng_below(sg_rng *r, uint32_t n);
void sg_rng_fill_uniform(sg_rng *r, float *x, size_t n, float lo, float hi);
void sg_rng_fill_normal(sg_rng *r, float *x, size_t n, float mean, float std);

/* Stream kinds used by the suite (the `kind` of sg_rng_stream). */
enum sg_rng_kind {
    SG_RNG_INIT = 1,       /* parameter initialisation */
    SG_RNG_DATA_ORDER = 2, /* epoch shuffles */
    SG_RNG_AUGMENT = 3,    /* per-sample augmentation */
    SG_RNG_DROPOUT = 4,    /* dropout masks: (iteration, call index) */
    SG_RNG_SYNTH = 5,      /* synthetic dataset: (0, image index); frozen, the golden checksums depend on it */
    SG_RNG_SPLIT = 6,      /* generated split lists: (0, n_labeled); frozen, as above */
    SG_RNG_TEST = 200      /* test inputs */
};

#endif
