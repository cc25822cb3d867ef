/*
 * semi_check.h: what the one-iteration PyTorch-parity tests of the
 * semi-supervised methods share: the tiny DeepLabV3+'s configuration read
 * from a fixture's "config" record, the fixture's warm-up passes, parameter
 * snapshots, the update / buffer comparisons of a parameter set against
 * <prefix>.param.* / .buf.* / .teacher.* records, one loss term against
 * PyTorch, the SGD step of the fixtures, and the tolerances they all use.
 *
 * Used by tests/test_semi.c (where these helpers and the reasoning behind
 * the tolerances come from), tests/test_dssn.c, tests/test_uccl.c,
 * tests/test_ctt.c and tests/test_u2pl.c. A test whose fixture needs a
 * different value keeps its own tolerance, with its reason, in the test.
 */
#ifndef SEMISEG_TEST_SEMI_CHECK_H
#define SEMISEG_TEST_SEMI_CHECK_H

#include "fixture.h"
#include "semiseg.h"

/* ---- tolerances ---------------------------------------------------------------------
 * The fixtures are PyTorch in float64 rounded to float32, and their
 * generators keep every threshold >= 5e-5 from the values it splits
 * (argmax margins >= 2e-5), so no pseudo-label or mask can differ: what
 * remains is float32 rounding.
 * TERM_TOL: loss terms of size ~1, summed over ~900 pixels in float32 with
 *   double accumulation, relative to max(1, |ref|); test_semi.c observed
 *   1.6e-7 relative.
 * RATIO_TOL: ratios of pixel counts; PyTorch divides in float32 (6e-8 rel).
 * STEP_TOL: the SGD update of each parameter (after - init) against the
 *   reference update, as a fraction of the largest reference update of that
 *   tensor: this is a gradient comparison, and test_model.c bounds gradients
 *   at 1e-3 of their maximum. test_semi.c observed 2e-4 (CutMix-Seg BN
 *   biases deep in the network, whose gradients are small cancelling sums).
 *   A teacher is compared like the step (fraction of its largest change).
 * BUF_TOL: BN running statistics after WARM + the step's passes, fraction of
 *   the tensor's maximum, as test_model.c's BUF_TOL.
 * VALUE_RTOL: on top, 4 float32 ulps of the value itself: a BN weight of
 *   ~1 that moved by 2e-5 has an update scale of 2e-5 but its stored value
 *   is only exact to 6e-8 (half an ulp), and the C blends in float32.
 * FAST_FACTOR: oneDNN sums convolutions in another order: test_model.c
 *   observed up to 3x the reference path's error; every tolerance above is
 *   multiplied by it on the oneDNN path. */
#define TERM_TOL 1e-5
#define RATIO_TOL 1e-6
#define STEP_TOL 1e-3
#define BUF_TOL 1e-3
#define VALUE_RTOL 4.8e-7
#define FAST_FACTOR 2.0

/* The network part of a fixture's "config" record: c[0..14] (depth, widths
 * x4, deep stem, output stride, multi-grid, ASPP channels, ASPP rates x3,
 * reduce channels, decoder channels, classes). The rest is the test's. */
void semi_check_deeplab_config(sg_deeplab_config *cfg, const double *c);

/* The fixtures' batch: x, y (labelled), uw, us1, us2, ign, box1, box2
 * (unlabelled: weak, two strong views, padding, CutMix boxes) and mw, ms1,
 * ms2, mign (the second, mix-source batch), as three sg_batch views. */
#define SEMI_CHECK_N_INPUTS 12
typedef struct {
    sg_batch lab, unl, mix;
    sg_tensor *all[SEMI_CHECK_N_INPUTS];
} semi_check_inputs;

void semi_check_inputs_load(semi_check_inputs *in, const sg_fixture *fx);
void semi_check_inputs_free(semi_check_inputs *in);

/* The fixtures' make() after the build: `warm` train-mode passes of m on
 * cat(x, uw) without gradient (BN statistics move), the context reset after
 * each. */
void semi_check_warm(sg_ctx *ctx, sg_deeplab *m, int warm, sg_tensor *x, sg_tensor *uw);

/* A copy of every parameter's values (the updates are after - before);
 * free with semi_check_snapshot_free(v, ps->n_params). */
float **semi_check_snapshot(const sg_param_set *ps);
void semi_check_snapshot_free(float **v, int n);

/* got vs the record `key` with atol = tol * max|ref - before| (before NULL:
 * max|ref|) and rtol VALUE_RTOL; a size mismatch is a failed TAP line. */
int semi_check_close_delta(const sg_fixture *fx, const char *key, const float *got, const float *before,
                           size_t n, double tol);

/* Every parameter (as an update from `before`, STEP_TOL * f) and buffer
 * (BUF_TOL * f) of a set against <prefix>.param.* / .buf.* (or
 * <prefix>.teacher.* for both); one TAP line "<what>: N parameters and M
 * buffers match (K off)". */
void semi_check_set(const sg_fixture *fx, const char *prefix, bool teacher, const sg_param_set *ps,
                    float **before, double f, const char *what);

/* One loss term: fails when |got - ref| > TERM_TOL max(1, |ref|) (a NaN
 * compares false and passes, as the loops this replaces did), with a TAP
 * diagnostic "<who> <name> = got, PyTorch ref". Returns 1 when it passes. */
int semi_check_term(const char *who, const char *name, double got, double ref);

/* The fixtures' SGD step (torch.optim.SGD's first): two groups (backbone,
 * head at lr x head_mult), momentum 0.9, weight decay wd, learning rate lr. */
void semi_check_sgd_step(sg_param_set *ps, float lr, float head_mult, float wd);

#endif
