/*
 * gradcheck.h: finite-difference gradient checks for ops and small graphs.
 *
 * The scalar probed is L = sum(out * R) for a fixed pseudo-random R, summed in
 * double. Analytic gradients come from sg_backward_with(out, R); numeric ones
 * from central differences (L(x + e) - L(x - e)) / (x+e - (x-e)) with the
 * denominator taken from the rounded float values actually used. Callers keep
 * inputs away from kinks (ReLU at 0, max-pool ties) by more than eps.
 */
#ifndef SEMISEG_TEST_GRADCHECK_H
#define SEMISEG_TEST_GRADCHECK_H

#include "semiseg.h"

typedef sg_tensor *(*sg_gc_fn)(sg_ctx *ctx, sg_tensor **inputs, void *arg);

typedef struct sg_gc_opts {
    double eps;        /* perturbation (default 1e-2 when 0) */
    double atol, rtol; /* |analytic - numeric| <= atol + rtol |numeric| */
    int max_elems;     /* probed elements per input, spread evenly (default 64 when 0) */
    const sg_backend *be; /* the backend both derivatives run on (default CPU one when NULL) */
} sg_gc_opts;

/* Checks d L / d inputs[i] for every long-lived input with requires_grad.
 * Emits one TAP line `label` and returns 1 on success. */
int sg_gradcheck(const char *label, sg_gc_fn fn, sg_tensor **inputs, int n_inputs, void *arg,
                 sg_gc_opts opts);

/* Fill a long-lived tensor with values in [lo, hi) from the test RNG stream `stream`. */
void sg_test_fill_uniform(sg_tensor *t, uint64_t stream, float lo, float hi);
/* Values in [lo, hi) whose magnitude is at least `gap` (away from a kink at 0). */
void sg_test_fill_away_from_zero(sg_tensor *t, uint64_t stream, float lo, float hi, float gap);

#endif
