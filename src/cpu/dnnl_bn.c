/*
 * dnnl_bn.c: batch normalisation forward (training / evaluation) and
 * backward through oneDNN primitives (dnnl_ops.h), the fast twin of
 * batchnorm.c. Reference: torch.nn.functional.batch_norm (training: batch
 * mean and biased variance, eps inside the square root, running variance
 * updated with the unbiased one; evaluation: running statistics).
 *
 * Layout: x, out, dout, dx nchw, given to oneDNN as (N, C, HW, 1); weight
 * (scale), bias (shift), mean and variance (C). oneDNN's dnnl_use_scale /
 * dnnl_use_shift flags make weight and bias optional; dnnl_use_global_stats
 * makes the statistics inputs (evaluation), and in the backward it treats
 * them as constants, which is what the reference differentiates in
 * evaluation. oneDNN keeps no running statistics: the training forward
 * updates them here from the batch statistics it returns. (oneDNN's own
 * fused BN+ReLU, dnnl_fuse_norm_relu, is not used: on plain layouts it
 * falls back to an unvectorised kernel, 10x slower than a separate clamp.)
 *
 * Outputs oneDNN writes but the caller does not want (dx of an input that
 * needs no gradient, dw when only db is wanted) are discarded (a NULL
 * sg_dnnl_arg); the gradients it returns are accumulated into ours.
 * Covered by tests/test_dnnl.c (against batchnorm.c).
 */
#include "config.h"

#include <string.h>

#include "dnnl_common.h"
#include "dnnl_ops.h"

/* Key slots: shape, normalisation flags, propagation kind, eps bits. */
enum { K_N, K_C, K_HW, K_FLAGS, K_PROP, K_EPS };

static sg_dnnl_key sg_bn_key_(sg_dnnl_kind kind, int N, int C, int HW, unsigned flags,
                              dnnl_prop_kind_t prop, float eps)
{
    sg_dnnl_key k = {.kind = kind};
    k.v[K_N] = N;
    k.v[K_C] = C;
    k.v[K_HW] = HW;
    k.v[K_FLAGS] = (int)flags;
    k.v[K_PROP] = (int)prop;
    memcpy(&k.v[K_EPS], &eps, sizeof eps);
    return k;
}

static dnnl_memory_desc_t sg_bn_data_md_(const sg_dnnl_key *k)
{
    return sg_dnnl_md(4, (const dnnl_dim_t[]){k->v[K_N], k->v[K_C], k->v[K_HW], 1});
}

static float sg_bn_eps_(const sg_dnnl_key *k)
{
    float eps;
    memcpy(&eps, &k->v[K_EPS], sizeof eps);
    return eps;
}

static dnnl_primitive_desc_t sg_bn_pd_(const dnnl_batch_normalization_desc_t *bd,
                                       const_dnnl_primitive_desc_t hint)
{
    dnnl_primitive_attr_t attr = sg_dnnl_attr_new();
    dnnl_primitive_desc_t pd;
    SG_DNNL_CHECK(dnnl_primitive_desc_create(&pd, bd, attr, sg_dnnl_engine(), hint));
    SG_DNNL_CHECK(dnnl_primitive_attr_destroy(attr));
    return pd;
}

static dnnl_primitive_desc_t sg_bn_fwd_build_(const sg_dnnl_key *key)
{
    dnnl_memory_desc_t data = sg_bn_data_md_(key);
    dnnl_batch_normalization_desc_t bd;
    SG_DNNL_CHECK(dnnl_batch_normalization_forward_desc_init(
        &bd, (dnnl_prop_kind_t)key->v[K_PROP], &data, sg_bn_eps_(key), (unsigned)key->v[K_FLAGS]));
    return sg_bn_pd_(&bd, NULL);
}

static dnnl_primitive_desc_t sg_bn_bwd_build_(const sg_dnnl_key *key)
{
    dnnl_memory_desc_t data = sg_bn_data_md_(key);
    dnnl_batch_normalization_desc_t bd;
    SG_DNNL_CHECK(dnnl_batch_normalization_backward_desc_init(
        &bd, (dnnl_prop_kind_t)key->v[K_PROP], &data, &data, sg_bn_eps_(key),
        (unsigned)key->v[K_FLAGS]));
    sg_dnnl_key h = sg_bn_key_(SG_DNNL_BN_FWD, key->v[K_N], key->v[K_C], key->v[K_HW],
                               (unsigned)key->v[K_FLAGS], dnnl_forward_training, sg_bn_eps_(key));
    return sg_bn_pd_(&bd, sg_dnnl_prim_desc(sg_dnnl_prim_get(&h, sg_bn_fwd_build_)));
}

static unsigned sg_bn_affine_flags_(const float *w, const float *b)
{
    return (w ? (unsigned)dnnl_use_scale : 0u) | (b ? (unsigned)dnnl_use_shift : 0u);
}

/* Runs a forward primitive; the arguments that are NULL are left out. */
static void sg_bn_fwd_exec_(const sg_dnnl_key *k, float *out, const float *x, const float *w,
                            const float *b, const float *mean, const float *var)
{
    sg_dnnl_arg args[6];
    int n = 0;
    args[n++] = (sg_dnnl_arg){DNNL_ARG_SRC, (void *)x, false};
    args[n++] = (sg_dnnl_arg){DNNL_ARG_DST, out, false};
    args[n++] = (sg_dnnl_arg){DNNL_ARG_MEAN, (void *)mean, false};
    args[n++] = (sg_dnnl_arg){DNNL_ARG_VARIANCE, (void *)var, false};
    if (w) args[n++] = (sg_dnnl_arg){DNNL_ARG_SCALE, (void *)w, false};
    if (b) args[n++] = (sg_dnnl_arg){DNNL_ARG_SHIFT, (void *)b, false};
    sg_dnnl_exec(sg_dnnl_prim_get(k, sg_bn_fwd_build_), n, args);
}

void sg_dnnl_batchnorm_train_forward(float *out, float *mean, float *var, float *running_mean,
                                     float *running_var, const float *x, const float *w,
                                     const float *b, float momentum, float eps, int N, int C,
                                     int HW)
{
    sg_dnnl_key k =
        sg_bn_key_(SG_DNNL_BN_FWD, N, C, HW, sg_bn_affine_flags_(w, b), dnnl_forward_training, eps);
    sg_bn_fwd_exec_(&k, out, x, w, b, mean, var);
    /* The same arithmetic as batchnorm.c's update, in double, from oneDNN's
     * float statistics. */
    const double n = (double)N * HW, m = momentum;
    for (int c = 0; c < C; c++) {
        running_mean[c] = (float)((1.0 - m) * running_mean[c] + m * mean[c]);
        running_var[c] = (float)((1.0 - m) * running_var[c] + m * (var[c] * n / (n - 1.0)));
    }
}

void sg_dnnl_batchnorm_eval_forward(float *out, const float *x, const float *w, const float *b,
                                    const float *mean, const float *var, float eps, int N, int C,
                                    int HW)
{
    sg_dnnl_key k = sg_bn_key_(SG_DNNL_BN_FWD, N, C, HW,
                               sg_bn_affine_flags_(w, b) | (unsigned)dnnl_use_global_stats,
                               dnnl_forward_inference, eps);
    sg_bn_fwd_exec_(&k, out, x, w, b, mean, var);
}

void sg_dnnl_batchnorm_backward(float *dx, float *dw, float *db, bool dx_zero,
                                const float *dout, const float *x, const float *w, const float *b,
                                const float *mean, const float *var, bool training, float eps,
                                int N, int C, int HW)
{
    if (!dx && !dw && !db) return;
    SG_CHECK(!db || b, "sg_dnnl_batchnorm_backward: a bias gradient without a bias");
    /* The scale enters dx, so it is used whenever there is one; the shift
     * only matters for its own gradient. */
    unsigned flags = (w ? (unsigned)dnnl_use_scale : 0u) | (db ? (unsigned)dnnl_use_shift : 0u) |
                     (training ? 0u : (unsigned)dnnl_use_global_stats);
    bool params = (w && dw) || db;
    dnnl_prop_kind_t prop = params ? dnnl_backward : dnnl_backward_data;
    sg_dnnl_key k = sg_bn_key_(SG_DNNL_BN_BWD, N, C, HW, flags, prop, eps);

    sg_dnnl_arg args[9];
    int n = 0;
    args[n++] = (sg_dnnl_arg){DNNL_ARG_SRC, (void *)x, false};
    args[n++] = (sg_dnnl_arg){DNNL_ARG_MEAN, (void *)mean, false};
    args[n++] = (sg_dnnl_arg){DNNL_ARG_VARIANCE, (void *)var, false};
    args[n++] = (sg_dnnl_arg){DNNL_ARG_DIFF_DST, (void *)dout, false};
    args[n++] = (sg_dnnl_arg){DNNL_ARG_DIFF_SRC, dx, dx && !dx_zero};
    if (w) args[n++] = (sg_dnnl_arg){DNNL_ARG_SCALE, (void *)w, false};
    if (params && w) args[n++] = (sg_dnnl_arg){DNNL_ARG_DIFF_SCALE, dw, dw != NULL};
    if (db) {
        args[n++] = (sg_dnnl_arg){DNNL_ARG_DIFF_SHIFT, db, true};
        /* With dnnl_use_shift, oneDNN 2.6 insists on the shift as an input of
         * the backward although the gradients do not depend on it. */
        args[n++] = (sg_dnnl_arg){DNNL_ARG_SHIFT, (void *)b, false};
    }
    sg_dnnl_exec(sg_dnnl_prim_get(&k, sg_bn_bwd_build_), n, args);
}
