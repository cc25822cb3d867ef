/*
 * test_rng.c: Philox4x32-10 against the Random123 known-answer vectors
 * (kat_vectors, "philox4x32 10"), stream separation, reproducibility, and
 * the moments of the uniform/normal draws.
 */
#include "semiseg.h"
#include "expect_abort.h"
#include "tap.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static void test_kat(void)
{
    static const struct {
        uint32_t ctr[4], key[2], out[4];
    } kat[] = {
        {{0, 0, 0, 0}, {0, 0}, {0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8}},
        {{0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff},
         {0xffffffff, 0xffffffff},
         {0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd}},
        {{0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344},
         {0xa4093822, 0x299f31d0},
         {0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1}},
    };
    for (size_t i = 0; i < sizeof kat / sizeof kat[0]; i++) {
        uint32_t out[4];
        sg_philox4x32_10(kat[i].ctr, kat[i].key, out);
        tap_ok(memcmp(out, kat[i].out, sizeof out) == 0,
               "philox4x32-10 known answer %zu (got %08x %08x %08x %08x)", i, out[0], out[1],
               out[2], out[3]);
    }
}

static void test_streams(void)
{
    sg_rng a, b, c;
    sg_rng_init(&a, 42, sg_rng_stream(SG_RNG_AUGMENT, 3, 17));
    sg_rng_init(&b, 42, sg_rng_stream(SG_RNG_AUGMENT, 3, 17));
    sg_rng_init(&c, 42, sg_rng_stream(SG_RNG_AUGMENT, 3, 18));
    int same = 1, differ = 0;
    for (int i = 0; i < 1000; i++) {
        uint32_t x = sg_rng_u32(&a), y = sg_rng_u32(&b), z = sg_rng_u32(&c);
        same &= x == y;
        differ += x != z;
    }
    tap_ok(same, "same (seed, stream) gives the same sequence");
    tap_ok(differ > 990, "neighbouring streams differ (%d/1000 words)", differ);

    /* The n-th word is a pure function of (seed, stream, n): a generator
     * restarted from a saved counter continues the sequence exactly. */
    sg_rng r;
    sg_rng_init(&r, 7, 9);
    uint32_t seq[12];
    for (int i = 0; i < 12; i++) seq[i] = sg_rng_u32(&r);
    sg_rng_init(&r, 7, 9);
    r.counter = 2; /* blocks 0 and 1 = words 0..7 consumed */
    tap_ok(sg_rng_u32(&r) == seq[8] && sg_rng_u32(&r) == seq[9], "resume from a saved counter");

    sg_rng_init(&a, 1, 0);
    sg_rng_init(&b, 2, 0);
    tap_ok(sg_rng_u32(&a) != sg_rng_u32(&b), "different seeds differ");
}

static void test_moments(void)
{
    sg_rng r;
    sg_rng_init(&r, 2024, sg_rng_stream(SG_RNG_TEST, 0, 0));
    const int n = 200000;
    double su = 0, su2 = 0, sn = 0, sn2 = 0;
    float umin = 1, umax = 0;
    for (int i = 0; i < n; i++) {
        float u = sg_rng_uniform(&r);
        su += u;
        su2 += (double)u * u;
        if (u < umin) umin = u;
        if (u > umax) umax = u;
        double g = sg_rng_normal(&r);
        sn += g;
        sn2 += g * g;
    }
    double mu = su / n, vu = su2 / n - mu * mu, mn = sn / n, vn = sn2 / n - mn * mn;
    /* 5 standard errors: mean of U(0,1) has s.e. sqrt(1/12/n) = 6.5e-4; of
     * N(0,1) 2.2e-3; the variances' s.e. are 2.0e-4 (uniform) and 3.2e-3 (normal). */
    tap_ok(fabs(mu - 0.5) < 5 * 6.5e-4 && fabs(vu - 1.0 / 12) < 5 * 2.0e-4,
           "uniform mean %.5f var %.5f", mu, vu);
    tap_ok(umin >= 0.0f && umax < 1.0f, "uniform stays in [0, 1)");
    tap_ok(fabs(mn) < 5 * 2.2e-3 && fabs(vn - 1.0) < 5 * 3.2e-3, "normal mean %.5f var %.5f", mn, vn);

    int counts[7] = {0};
    for (int i = 0; i < 70000; i++) counts[sg_rng_below(&r, 7)]++;
    int ok = 1;
    /* Each bin ~ Binomial(70000, 1/7): sd 92; 5 sd = 460. */
    for (int k = 0; k < 7; k++) ok &= abs(counts[k] - 10000) < 460;
    tap_ok(ok, "sg_rng_below(7) is uniform over 7 bins");
}

static void bad_stream_(void *arg)
{
    (void)arg;
    sg_rng_stream(SG_RNG_AUGMENT, (uint64_t)1 << 24, 0);
}

int main(void)
{
    test_kat();
    test_streams();
    test_moments();
    tap_ok(sg_expect_abort(bad_stream_, NULL, (const char *const[]){"does not fit 24 bits"}, 1),
           "an oversized stream index is rejected");
    return tap_done();
}
