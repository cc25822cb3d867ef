/*
 * rng.c: Philox4x32-10 counter-based generator (rng.h).
 *
 * Reference: Salmon, Moraes, Dror, Shaw, "Parallel random numbers: as easy as
 * 1, 2, 3", SC'11; constants and round structure as in Random123's philox.h.
 * Known-answer tests in tests/test_rng.c.
 */
#include "semiseg/rng.h"

#include <math.h>
#include <string.h>

#define PHILOX_M0 0xD2511F53u
#define PHILOX_M1 0xCD9E8D57u
#define PHILOX_W0 0x9E3779B9u /* golden ratio */
#define PHILOX_W1 0xBB67AE85u /* sqrt(3) - 1 */

static inline void sg_mulhilo32_(uint32_t a, uint32_t b, uint32_t *hi, uint32_t *lo)
{
    uint64_t p = (uint64_t)a * b;
    *hi = (uint32_t)(p >> 32);
    *lo = (uint32_t)p;
}

void sg_philox4x32_10(const uint32_t ctr[4], const uint32_t key[2], uint32_t out[4])
{
    uint32_t c0 = ctr[0], c1 = ctr[1], c2 = ctr[2], c3 = ctr[3];
    uint32_t k0 = key[0], k1 = key[1];
    for (int round = 0; round < 10; round++) {
        uint32_t hi0, lo0, hi1, lo1;
        sg_mulhilo32_(PHILOX_M0, c0, &hi0, &lo0);
        sg_mulhilo32_(PHILOX_M1, c2, &hi1, &lo1);
        uint32_t n0 = hi1 ^ c1 ^ k0;
        uint32_t n1 = lo1;
        uint32_t n2 = hi0 ^ c3 ^ k1;
        uint32_t n3 = lo0;
        c0 = n0; c1 = n1; c2 = n2; c3 = n3;
        k0 += PHILOX_W0;
        k1 += PHILOX_W1;
    }
    out[0] = c0; out[1] = c1; out[2] = c2; out[3] = c3;
}

uint64_t sg_rng_stream(unsigned kind, uint64_t a, uint64_t b)
{
    SG_CHECK(kind < 256, "rng stream kind %u does not fit 8 bits", kind);
    SG_CHECK(a < ((uint64_t)1 << 24), "rng stream index a=%llu does not fit 24 bits",
             (unsigned long long)a);
    SG_CHECK(b < ((uint64_t)1 << 32), "rng stream index b=%llu does not fit 32 bits",
             (unsigned long long)b);
    return ((uint64_t)kind << 56) | (a << 32) | b;
}

void sg_rng_init(sg_rng *r, uint64_t seed, uint64_t stream)
{
    memset(r, 0, sizeof *r);
    r->seed = seed;
    r->stream = stream;
    r->counter = 0;
    r->used = 4;
}

uint32_t sg_rng_u32(sg_rng *r)
{
    if (r->used == 4) {
        uint32_t ctr[4] = {(uint32_t)r->counter, (uint32_t)(r->counter >> 32),
                           (uint32_t)r->stream, (uint32_t)(r->stream >> 32)};
        uint32_t key[2] = {(uint32_t)r->seed, (uint32_t)(r->seed >> 32)};
        sg_philox4x32_10(ctr, key, r->block);
        r->counter++;
        r->used = 0;
    }
    return r->block[r->used++];
}

float sg_rng_uniform(sg_rng *r)
{
    return (float)(sg_rng_u32(r) >> 8) * (1.0f / 16777216.0f);
}

float sg_rng_normal(sg_rng *r)
{
    /* u1 in (0, 1] keeps log() finite. */
    double u1 = ((double)(sg_rng_u32(r) >> 8) + 1.0) / 16777216.0;
    double u2 = (double)(sg_rng_u32(r) >> 8) / 16777216.0;
    return (float)(sqrt(-2.0 * log(u1)) * cos(2.0 * M_PI * u2));
}

uint32_t sg_rng_below(sg_rng *r, uint32_t n)
{
    SG_CHECK(n > 0, "sg_rng_below(0)");
    /* Rejection of the top partial range (Lemire's threshold) removes bias. */
    uint32_t threshold = (uint32_t)(-n) % n;
    for (;;) {
        uint32_t x = sg_rng_u32(r);
        if (x >= threshold) return x % n;
    }
}

void sg_rng_fill_uniform(sg_rng *r, float *x, size_t n, float lo, float hi)
{
    for (size_t i = 0; i < n; i++) x[i] = lo + (hi - lo) * sg_rng_uniform(r);
}

void sg_rng_fill_normal(sg_rng *r, float *x, size_t n, float mean, float std)
{
    for (size_t i = 0; i < n; i++) x[i] = mean + std * sg_rng_normal(r);
}
