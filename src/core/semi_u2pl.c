/*
 * semi_u2pl.c: the host-side pieces of U2PL (semi.h, "U2PL"): numpy's
 * linear percentile, which U2PL's entropy thresholds use
 * (Haochen-Wang409/U2PL@ab3d2be:u2pl/utils/loss_helper.py
 * compute_unsupervised_loss, train_semi.py), and its CutMix box
 * (u2pl/dataset/augmentation.py generate_cutout_mask). Covered by
 * tests/test_u2pl.c (hand-made cases, and the fixture of
 * tests/ref/gen_u2pl.py, which draws the same boxes with tests/ref/philox.py).
 */
#include "semiseg/semi.h"

#include <math.h>
#include <stdlib.h>

static int sg_cmp_float_(const void *a, const void *b)
{
    const float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

double sg_semi_percentile(float *v, size_t n, double q)
{
    SG_CHECK(n >= 1, "sg_semi_percentile: no values");
    qsort(v, n, sizeof *v, sg_cmp_float_);
    return sg_semi_percentile_sorted(v, n, q);
}

double sg_semi_percentile_sorted(const float *v, size_t n, double q)
{
    SG_CHECK(n >= 1 && q >= 0.0 && q <= 100.0, "sg_semi_percentile: %zu values, q = %g", n, q);
    const double pos = (double)(n - 1) * (q / 100.0);
    size_t k = (size_t)floor(pos);
    if (k > n - 1) k = n - 1;
    const double t = pos - (double)k;
    const double a = v[k], b = v[k + 1 < n ? k + 1 : n - 1];
    return t >= 0.5 ? b - (b - a) * (1.0 - t) : a + (b - a) * t;
}

void sg_semi_u2pl_box(sg_rng *r, int h, int w, int box[4])
{
    SG_CHECK(h >= 1 && w >= 3, "sg_semi_u2pl_box: image %d x %d", h, w);
    const int lo = w / 2 + 1;
    const int bw = lo + (int)sg_rng_below(r, (uint32_t)(w - lo));
    int bh = (int)nearbyint((double)h * (double)w / 2.0 / (double)bw);
    if (bh > h) bh = h;
    const int x0 = (int)sg_rng_below(r, (uint32_t)(w - bw + 1));
    const int y0 = (int)sg_rng_below(r, (uint32_t)(h - bh + 1));
    box[0] = y0;
    box[1] = x0;
    box[2] = bh;
    box[3] = bw;
}

sg_tensor *sg_semi_u2pl_boxes(sg_ctx *ctx, int n, int h, int w, sg_rng *r)
{
    sg_tensor *m = sg_tensor_new(ctx, SG_I32, 3, (const int[]){n, h, w});
    int32_t *host = sg_ctx_stage(ctx, m);
    for (int i = 0; i < n; i++) {
        int b[4];
        sg_semi_u2pl_box(r, h, w, b);
        int32_t *mi = host + (size_t)i * h * w;
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++)
                mi[(size_t)y * w + x] = y >= b[0] && y < b[0] + b[2] && x >= b[1] && x < b[1] + b[3];
    }
    sg_ctx_stage_done(ctx, m, host);
    return m;
}
