/*
 * dnnl_pool.c: max pooling forward and backward through oneDNN primitives
 * (dnnl_ops.h), the fast twin of the max pooling in pool.c. Reference:
 * torch.nn.functional.max_pool2d (floor mode, no dilation): oneDNN skips
 * padded positions, the same as padding with -inf.
 *
 * Layout: x, dx nchw (N, C, H, W); out, dout (N, C, Ho, Wo). Symmetric
 * padding as PyTorch's (oneDNN's right padding only has to agree with the
 * floor-mode output size). The training forward fills oneDNN's workspace,
 * its record of where each maximum came from, which the backward reads in
 * place of pool.c's argmax indices; a forward that is not recorded runs the
 * inference primitive and keeps nothing.
 * Covered by tests/test_dnnl.c (against pool.c).
 */
#include "config.h"

#include "dnnl_common.h"
#include "dnnl_ops.h"

/* Key slots. */
enum { K_N, K_C, K_H, K_W, K_HO, K_WO, K_K, K_S, K_P, K_PROP };

static sg_dnnl_key sg_pool_key_(sg_dnnl_kind kind, dnnl_prop_kind_t prop, int N, int C, int H,
                                int W, int Ho, int Wo, int kernel, int stride, int pad)
{
    sg_dnnl_key k = {.kind = kind};
    const int v[] = {N, C, H, W, Ho, Wo, kernel, stride, pad, (int)prop};
    for (int i = 0; i < (int)(sizeof v / sizeof *v); i++) k.v[i] = v[i];
    return k;
}

typedef struct {
    dnnl_memory_desc_t src, dst;
    dnnl_dims_t kernel, strides, pad;
} sg_pool_descs_;

static sg_pool_descs_ sg_pool_descs_of_(const sg_dnnl_key *key)
{
    const int *v = key->v;
    sg_pool_descs_ c;
    c.src = sg_dnnl_md(4, (const dnnl_dim_t[]){v[K_N], v[K_C], v[K_H], v[K_W]});
    c.dst = sg_dnnl_md(4, (const dnnl_dim_t[]){v[K_N], v[K_C], v[K_HO], v[K_WO]});
    c.kernel[0] = c.kernel[1] = v[K_K];
    c.strides[0] = c.strides[1] = v[K_S];
    c.pad[0] = c.pad[1] = v[K_P];
    return c;
}

static dnnl_primitive_desc_t sg_pool_pd_(const dnnl_pooling_desc_t *pd_desc,
                                         const_dnnl_primitive_desc_t hint)
{
    dnnl_primitive_attr_t attr = sg_dnnl_attr_new();
    dnnl_primitive_desc_t pd;
    SG_DNNL_CHECK(dnnl_primitive_desc_create(&pd, pd_desc, attr, sg_dnnl_engine(), hint));
    SG_DNNL_CHECK(dnnl_primitive_attr_destroy(attr));
    return pd;
}

static dnnl_primitive_desc_t sg_pool_fwd_build_(const sg_dnnl_key *key)
{
    sg_pool_descs_ c = sg_pool_descs_of_(key);
    dnnl_pooling_desc_t d;
    SG_DNNL_CHECK(dnnl_pooling_forward_desc_init(&d, (dnnl_prop_kind_t)key->v[K_PROP],
                                                 dnnl_pooling_max, &c.src, &c.dst, c.strides,
                                                 c.kernel, c.pad, c.pad));
    return sg_pool_pd_(&d, NULL);
}

static dnnl_primitive_desc_t sg_pool_bwd_build_(const sg_dnnl_key *key)
{
    sg_pool_descs_ c = sg_pool_descs_of_(key);
    dnnl_pooling_desc_t d;
    SG_DNNL_CHECK(dnnl_pooling_backward_desc_init(&d, dnnl_pooling_max, &c.src, &c.dst, c.strides,
                                                  c.kernel, c.pad, c.pad));
    sg_dnnl_key h = *key;   /* the training forward of the same geometry */
    h.kind = SG_DNNL_POOL_FWD;
    h.v[K_PROP] = (int)dnnl_forward_training;
    return sg_pool_pd_(&d, sg_dnnl_prim_desc(sg_dnnl_prim_get(&h, sg_pool_fwd_build_)));
}

void *sg_dnnl_maxpool2d_forward(sg_arena *arena, float *out, const float *x, bool keep_workspace,
                                int N, int C, int H, int W, int Ho, int Wo, int kernel,
                                int stride, int pad)
{
    dnnl_prop_kind_t prop = keep_workspace ? dnnl_forward_training : dnnl_forward_inference;
    sg_dnnl_key k =
        sg_pool_key_(SG_DNNL_POOL_FWD, prop, N, C, H, W, Ho, Wo, kernel, stride, pad);
    sg_dnnl_prim *p = sg_dnnl_prim_get(&k, sg_pool_fwd_build_);
    size_t ws_bytes = sg_dnnl_prim_workspace_bytes(p);
    void *ws = keep_workspace && ws_bytes ? sg_arena_alloc(arena, ws_bytes) : NULL;
    SG_CHECK(!keep_workspace || ws, "oneDNN: max pooling without a workspace");
    const sg_dnnl_arg args[] = {
        {DNNL_ARG_SRC, (void *)x, false, false},
        {DNNL_ARG_DST, out, false, false},
        {DNNL_ARG_WORKSPACE, ws, false, false}};
    sg_dnnl_exec(p, ws ? 3 : 2, args);
    return ws;
}

void sg_dnnl_maxpool2d_backward(float *dx, bool dx_zero, const float *dout, const void *workspace,
                                int N, int C, int H, int W, int Ho, int Wo, int kernel,
                                int stride, int pad)
{
    if (!dx) return;
    sg_dnnl_key k = sg_pool_key_(SG_DNNL_POOL_BWD, dnnl_backward_data, N, C, H, W, Ho, Wo,
                                 kernel, stride, pad);
    /* The primitive writes every element of its diff_src (0 where no
     * maximum came from). */
    const sg_dnnl_arg args[] = {{DNNL_ARG_DIFF_DST, (void *)dout, false, false},
                                {DNNL_ARG_WORKSPACE, (void *)workspace, false, false},
                                {DNNL_ARG_DIFF_SRC, dx, !dx_zero, false}};
    sg_dnnl_exec(sg_dnnl_prim_get(&k, sg_pool_bwd_build_), 3, args);
}
