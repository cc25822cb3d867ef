/*
 * gradcheck.c: see gradcheck.h. The loss is accumulated in double so that
 * the only float error left is the op's own rounding, about 1e-7 relative per
 * output element; with eps = 1e-2 that contributes ~1e-5 relative to the
 * numeric derivative, far below the 1e-2 tolerances the op tests use.
 */
#include "gradcheck.h"
#include "tap.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static double probe_loss_(sg_ctx *ctx, sg_gc_fn fn, sg_tensor **in, void *arg, const float *r)
{
    sg_ctx_reset(ctx);
    bool prev = sg_ctx_set_grad(ctx, false);
    sg_tensor *out = fn(ctx, in, arg);
    sg_ctx_set_grad(ctx, prev);
    double l = 0.0;
    size_t n = sg_numel(out);
    for (size_t i = 0; i < n; i++) l += (double)out->data[i] * (double)r[i];
    return l;
}

int sg_gradcheck(const char *label, sg_gc_fn fn, sg_tensor **in, int n_in, void *arg,
                 sg_gc_opts o)
{
    if (o.eps == 0) o.eps = 1e-2;
    if (o.max_elems == 0) o.max_elems = 64;
    sg_ctx ctx;
    sg_ctx_init_on(&ctx, o.be ? o.be : sg_backend_cpu_default());

    for (int i = 0; i < n_in; i++)
        if (in[i] && in[i]->requires_grad) sg_tensor_zero_grad(in[i]);
    sg_tensor *out = fn(&ctx, in, arg);
    size_t n_out = sg_numel(out);
    float *r = sg_xmalloc(n_out * sizeof(float));
    sg_rng rng;
    sg_rng_init(&rng, 12345, sg_rng_stream(SG_RNG_TEST, 0, 0));
    sg_rng_fill_uniform(&rng, r, n_out, -1.0f, 1.0f);
    sg_backward_with(&ctx, out, r);

    int ok = 1, probed = 0;
    double worst = 0.0;
    char where[160] = "";
    for (int i = 0; i < n_in; i++) {
        sg_tensor *t = in[i];
        if (!t || !t->requires_grad) continue;
        size_t n = sg_numel(t);
        size_t step = n > (size_t)o.max_elems ? n / (size_t)o.max_elems : 1;
        for (size_t j = 0; j < n; j += step) {
            float v = t->data[j];
            float vp = (float)(v + o.eps), vm = (float)(v - o.eps);
            t->data[j] = vp;
            double lp = probe_loss_(&ctx, fn, in, arg, r);
            t->data[j] = vm;
            double lm = probe_loss_(&ctx, fn, in, arg, r);
            t->data[j] = v;
            double num = (lp - lm) / ((double)vp - (double)vm);
            double ana = t->grad[j];
            double err = fabs(ana - num);
            double lim = o.atol + o.rtol * fabs(num);
            probed++;
            if (!(err <= lim)) {
                ok = 0;
                if (err - lim > worst || worst == 0.0) {
                    worst = err - lim;
                    snprintf(where, sizeof where, "input %d elem %zu: analytic %.7g numeric %.7g",
                             i, j, ana, num);
                }
            }
        }
    }
    if (!ok) tap_diag("%s: worst %s", label, where);
    tap_ok(ok && probed > 0, "gradcheck %s (%d elements, eps %g)", label, probed, o.eps);
    free(r);
    sg_ctx_free(&ctx);
    return ok;
}

void sg_test_fill_uniform(sg_tensor *t, uint64_t stream, float lo, float hi)
{
    sg_rng rng;
    sg_rng_init(&rng, 777, sg_rng_stream(SG_RNG_TEST, 1, stream));
    sg_rng_fill_uniform(&rng, t->data, sg_numel(t), lo, hi);
}

void sg_test_fill_away_from_zero(sg_tensor *t, uint64_t stream, float lo, float hi, float gap)
{
    sg_rng rng;
    sg_rng_init(&rng, 778, sg_rng_stream(SG_RNG_TEST, 1, stream));
    size_t n = sg_numel(t);
    for (size_t i = 0; i < n; i++) {
        float v;
        do v = lo + (hi - lo) * sg_rng_uniform(&rng);
        while (fabsf(v) < gap);
        t->data[i] = v;
    }
}
