/*
 * dnnl_conv.c: 2-D convolution forward, backward-data and backward-weights
 * (+bias) through oneDNN primitives (dnnl_ops.h), the fast twin of conv2d.c.
 * Reference: torch.nn.functional.conv2d and its autograd, which PyTorch's
 * own CPU build also runs through oneDNN (mkldnn_convolution).
 *
 * Layout: x nchw (N, Cin, H, W), w oihw (Cout, Cin, kh, kw), seen as goihw
 * (groups, Cout/groups, Cin/groups, kh, kw) with groups, which is the same
 * memory; b and db (Cout); out nchw. Padding is symmetric like PyTorch's
 * (oneDNN's right padding only has to be consistent with the floor-mode
 * output size), and oneDNN counts dilation from 0 (dilation d is d - 1).
 *
 * The primitives are built with format_tag_any for src, weights and dst, so
 * oneDNN picks its kernels on blocked layouts; sg_dnnl_exec reorders our
 * plain buffers in and out (dnnl_common.c).
 *
 * Algorithm: Winograd F(4x4, 3x3) (Lavin & Gray, "Fast Algorithms for
 * Convolutional Neural Networks", CVPR 2016; oneDNN's jit_wino_4x3, AVX-512
 * only, for 3x3 stride-1 undilated ungrouped convolutions on multiples of 16
 * channels) where oneDNN has it and the output has at least
 * SG_WINO_MIN_PIXELS pixels; direct otherwise, or everywhere with
 * SG_CPU_CONV=direct. A fixed rule on the shape rather than oneDNN's
 * convolution_auto, which picks by batch size and thread count: measured on
 * DeepLabV3+ / ResNet-18 (bench/README.md), Winograd halves the 32 x 32
 * decoder convolutions' time at batch 8 and 16, but is slower on 8 x 8 maps,
 * where a 6 x 6 input tile per 4 x 4 output costs more in transforms than it
 * saves. Winograd trades rounding for speed: its transforms multiply by
 * constants up to 8 around the sums, so out and dx sit within ~3e-6 of their
 * largest magnitude instead of ~4e-7 with direct sums (dw within ~2e-6 with
 * either); the results stay bitwise reproducible for a fixed thread count.
 *
 * The backward reorders dout once when it runs both backward-data and
 * backward-weights (a kept blocked copy, dnnl_common.h), dropped at its end.
 *
 * oneDNN writes its outputs; our gradients accumulate, so dx is accumulated
 * (sg_dnnl_arg.accumulate) unless the caller says dx is all zeros, and dw/db
 * always are.
 * Covered by tests/test_dnnl.c (against conv2d.c over the cases of
 * tests/test_ops_conv.c; a reused dout buffer with new contents; which
 * algorithm runs) and tests/test_ops_conv.c (a Winograd case against PyTorch).
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "dnnl_common.h"
#include "dnnl_ops.h"

/* Outputs smaller than 16 x 16 stay direct (the header says why). */
#define SG_WINO_MIN_PIXELS 256

/* Key slots. */
enum { K_N, K_CIN, K_H, K_W, K_COUT, K_KH, K_KW, K_HO, K_WO, K_SH, K_SW, K_PH, K_PW, K_DH, K_DW,
       K_G, K_BIAS, K_WINO };

/* SG_CPU_CONV: winograd (the default) or direct. Read on every call, so a
 * change takes effect for the next convolution (the choice is in the key). */
static bool sg_conv_winograd_allowed_(void)
{
    const char *env = getenv("SG_CPU_CONV");
    if (!env || !*env || !strcmp(env, "winograd")) return true;
    SG_CHECK(!strcmp(env, "direct"), "SG_CPU_CONV=%s: expected winograd or direct", env);
    return false;
}

/* Whether to ask oneDNN for Winograd; it may still not implement the shape
 * (sg_conv_pd_ then falls back to direct). The variable is checked first, so
 * a misspelled value stops at the first convolution of any shape. */
static bool sg_conv_wants_winograd_(const sg_conv2d_dims *d)
{
    return sg_conv_winograd_allowed_() && d->kh == 3 && d->kw == 3 && d->stride_h == 1 &&
           d->stride_w == 1 && d->dil_h == 1 && d->dil_w == 1 && d->groups == 1 &&
           (long)d->Ho * d->Wo >= SG_WINO_MIN_PIXELS;
}

static sg_dnnl_key sg_conv_key_(sg_dnnl_kind kind, const sg_conv2d_dims *d, bool bias)
{
    sg_dnnl_key k = {.kind = kind};
    const int v[] = {d->N, d->Cin, d->H, d->W, d->Cout, d->kh, d->kw, d->Ho, d->Wo,
                     d->stride_h, d->stride_w, d->pad_h, d->pad_w, d->dil_h, d->dil_w,
                     d->groups, bias, sg_conv_wants_winograd_(d)};
    for (int i = 0; i < (int)(sizeof v / sizeof *v); i++) k.v[i] = v[i];
    return k;
}

/* Memory descriptors and geometry of a key. */
typedef struct {
    dnnl_memory_desc_t src, wei, bias, dst;
    dnnl_dims_t strides, dilates, pad;
} sg_conv_descs_;

static sg_conv_descs_ sg_conv_descs_of_(const sg_dnnl_key *key)
{
    const int *v = key->v;
    sg_conv_descs_ c;
    c.src = sg_dnnl_md_any(4, (const dnnl_dim_t[]){v[K_N], v[K_CIN], v[K_H], v[K_W]});
    c.dst = sg_dnnl_md_any(4, (const dnnl_dim_t[]){v[K_N], v[K_COUT], v[K_HO], v[K_WO]});
    c.bias = sg_dnnl_md(1, (const dnnl_dim_t[]){v[K_COUT]});
    int g = v[K_G];
    if (g == 1)
        c.wei = sg_dnnl_md_any(4, (const dnnl_dim_t[]){v[K_COUT], v[K_CIN], v[K_KH], v[K_KW]});
    else
        c.wei = sg_dnnl_md_any(
            5, (const dnnl_dim_t[]){g, v[K_COUT] / g, v[K_CIN] / g, v[K_KH], v[K_KW]});
    c.strides[0] = v[K_SH];
    c.strides[1] = v[K_SW];
    c.dilates[0] = v[K_DH] - 1;
    c.dilates[1] = v[K_DW] - 1;
    c.pad[0] = v[K_PH];
    c.pad[1] = v[K_PW];
    return c;
}

/* The primitive descriptor for cd (built with the direct algorithm): with
 * K_WINO, Winograd if oneDNN implements it for this shape and machine. */
static dnnl_primitive_desc_t sg_conv_pd_(const sg_dnnl_key *key,
                                         const dnnl_convolution_desc_t *cd,
                                         const_dnnl_primitive_desc_t hint)
{
    dnnl_primitive_attr_t attr = sg_dnnl_attr_new();
    dnnl_primitive_desc_t pd = NULL;
    if (key->v[K_WINO]) {
        dnnl_convolution_desc_t wino = *cd;
        wino.alg_kind = dnnl_convolution_winograd;
        dnnl_status_t st = dnnl_primitive_desc_create(&pd, &wino, attr, sg_dnnl_engine(), hint);
        SG_CHECK(st == dnnl_success || st == dnnl_unimplemented,
                 "oneDNN: Winograd convolution descriptor failed: %s", dnnl_status2str(st));
        if (st != dnnl_success) pd = NULL;
    }
    if (!pd) SG_DNNL_CHECK(dnnl_primitive_desc_create(&pd, cd, attr, sg_dnnl_engine(), hint));
    SG_DNNL_CHECK(dnnl_primitive_attr_destroy(attr));
    return pd;
}

static dnnl_primitive_desc_t sg_conv_fwd_build_(const sg_dnnl_key *key)
{
    sg_conv_descs_ c = sg_conv_descs_of_(key);
    dnnl_convolution_desc_t cd;
    SG_DNNL_CHECK(dnnl_dilated_convolution_forward_desc_init(
        &cd, dnnl_forward_training, dnnl_convolution_direct, &c.src, &c.wei,
        key->v[K_BIAS] ? &c.bias : NULL, &c.dst, c.strides, c.dilates, c.pad, c.pad));
    return sg_conv_pd_(key, &cd, NULL);
}

/* The forward primitive descriptor that hints a backward one: same geometry. */
static const_dnnl_primitive_desc_t sg_conv_hint_(const sg_dnnl_key *key)
{
    sg_dnnl_key h = *key;
    h.kind = SG_DNNL_CONV_FWD;
    return sg_dnnl_prim_desc(sg_dnnl_prim_get(&h, sg_conv_fwd_build_));
}

static dnnl_primitive_desc_t sg_conv_bwd_data_build_(const sg_dnnl_key *key)
{
    sg_conv_descs_ c = sg_conv_descs_of_(key);
    dnnl_convolution_desc_t cd;
    SG_DNNL_CHECK(dnnl_dilated_convolution_backward_data_desc_init(
        &cd, dnnl_convolution_direct, &c.src, &c.wei, &c.dst, c.strides, c.dilates, c.pad,
        c.pad));
    return sg_conv_pd_(key, &cd, sg_conv_hint_(key));
}

static dnnl_primitive_desc_t sg_conv_bwd_weights_build_(const sg_dnnl_key *key)
{
    sg_conv_descs_ c = sg_conv_descs_of_(key);
    dnnl_convolution_desc_t cd;
    SG_DNNL_CHECK(dnnl_dilated_convolution_backward_weights_desc_init(
        &cd, dnnl_convolution_direct, &c.src, &c.wei, key->v[K_BIAS] ? &c.bias : NULL, &c.dst,
        c.strides, c.dilates, c.pad, c.pad));
    return sg_conv_pd_(key, &cd, sg_conv_hint_(key));
}

void sg_dnnl_conv2d_forward(float *out, const float *x, const float *w, const float *b,
                            const sg_conv2d_dims *d)
{
    sg_dnnl_key k = sg_conv_key_(SG_DNNL_CONV_FWD, d, b != NULL);
    sg_dnnl_prim *p = sg_dnnl_prim_get(&k, sg_conv_fwd_build_);
    const sg_dnnl_arg args[] = {{DNNL_ARG_SRC, (void *)x, false, false},
                                {DNNL_ARG_WEIGHTS, (void *)w, false, false},
                                {DNNL_ARG_DST, out, false, false},
                                {DNNL_ARG_BIAS, (void *)b, false, false}};
    sg_dnnl_exec(p, b ? 4 : 3, args);
}

void sg_dnnl_conv2d_backward(float *dx, float *dw, float *db, bool dx_zero, const float *dout,
                             const float *x, const float *w, const sg_conv2d_dims *d)
{
    /* Both passes reorder dout; when both run, the second reuses the
     * first's blocked copy (if it wants the same layout). */
    const bool both = dx && (dw || db);
    if (dx) {
        sg_dnnl_key k = sg_conv_key_(SG_DNNL_CONV_BWD_DATA, d, false);
        const sg_dnnl_arg args[] = {{DNNL_ARG_DIFF_DST, (void *)dout, false, both},
                                    {DNNL_ARG_WEIGHTS, (void *)w, false, false},
                                    {DNNL_ARG_DIFF_SRC, dx, !dx_zero, false}};
        sg_dnnl_exec(sg_dnnl_prim_get(&k, sg_conv_bwd_data_build_), 3, args);
    }
    if (dw || db) {
        /* oneDNN computes dw also when only db is wanted (dw NULL: discarded).
         * A parameter's gradient keeps accumulating across the backward pass. */
        sg_dnnl_key k = sg_conv_key_(SG_DNNL_CONV_BWD_WEIGHTS, d, db != NULL);
        const sg_dnnl_arg args[] = {{DNNL_ARG_SRC, (void *)x, false, false},
                                    {DNNL_ARG_DIFF_DST, (void *)dout, false, both},
                                    {DNNL_ARG_DIFF_WEIGHTS, dw, true, false},
                                    {DNNL_ARG_DIFF_BIAS, db, true, false}};
        sg_dnnl_exec(sg_dnnl_prim_get(&k, sg_conv_bwd_weights_build_), db ? 4 : 3, args);
    }
    /* dout's buffer may hold something else after this call. */
    if (both) sg_dnnl_drop_kept();
}

const char *sg_dnnl_conv2d_impl(sg_dnnl_conv_pass pass, const sg_conv2d_dims *d, bool bias)
{
    static const sg_dnnl_kind kinds[] = {SG_DNNL_CONV_FWD, SG_DNNL_CONV_BWD_DATA,
                                         SG_DNNL_CONV_BWD_WEIGHTS};
    static const sg_dnnl_build_fn builds[] = {sg_conv_fwd_build_, sg_conv_bwd_data_build_,
                                              sg_conv_bwd_weights_build_};
    /* Backward-data has no bias (as in sg_dnnl_conv2d_backward's key). */
    sg_dnnl_key k = sg_conv_key_(kinds[pass], d, bias && pass != SG_DNNL_CONV_PASS_BWD_DATA);
    const char *name = NULL;
    SG_DNNL_CHECK(dnnl_primitive_desc_query(sg_dnnl_prim_desc(sg_dnnl_prim_get(&k, builds[pass])),
                                            dnnl_query_impl_info_str, 0, &name));
    return name;
}
