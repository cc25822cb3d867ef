/*
 * dnnl_ops.h: the oneDNN fast-path kernels (built only with SG_HAVE_DNNL)
 * that src/cpu/backend_dnnl.c puts into the oneDNN backend's kernel table
 * (include/semiseg/backend.h). Same layouts and semantics as the
 * reference kernels they replace (conv2d.h, pool.h): NCHW
 * contiguous floats, forward writes its outputs, backward ADDS into dx, dw,
 * db (each may be NULL when that gradient is not wanted).
 *
 * `dx_zero`: the caller knows dx holds zeros (a gradient buffer that
 * sg_grad_buffer has just allocated), so oneDNN may write it directly
 * instead of accumulating into it.
 *
 * Results match the reference to rounding (oneDNN sums in other orders) and
 * are bitwise reproducible for a fixed thread count, not across counts.
 * Scratch comes from dnnl_common.c's shared buffer; only the max-pooling
 * workspace, which lives until the backward, comes from `arena`. Covered by tests/test_dnnl.c.
 */
#ifndef SEMISEG_CPU_DNNL_OPS_H
#define SEMISEG_CPU_DNNL_OPS_H

#include <stdbool.h>

#include "semiseg/tensor.h"

#include "conv2d.h"

/* ---- convolution (dnnl_conv.c); dims as in conv2d.h ---------------------- */
/* out (N, Cout, Ho, Wo) = conv(x (N, Cin, H, W), w (Cout, Cin/groups, kh, kw)) + b (Cout) or no b. */
void sg_dnnl_conv2d_forward(float *out, const float *x, const float *w, const float *b,
                            const sg_conv2d_dims *d);
/* dx (N, Cin, H, W), dw (Cout, Cin/groups, kh, kw), db (Cout) += the
 * gradients for dout (N, Cout, Ho, Wo). */
void sg_dnnl_conv2d_backward(float *dx, float *dw, float *db, bool dx_zero, const float *dout,
                             const float *x, const float *w, const sg_conv2d_dims *d);

/* oneDNN's name for the implementation that runs one pass of a
 * convolution on this machine (e.g. "jit_wino_4x3:avx512_core" or
 * "jit:avx512_core"): tests check which algorithm runs. */
typedef enum {
    SG_DNNL_CONV_PASS_FWD,
    SG_DNNL_CONV_PASS_BWD_DATA,
    SG_DNNL_CONV_PASS_BWD_WEIGHTS
} sg_dnnl_conv_pass;
const char *sg_dnnl_conv2d_impl(sg_dnnl_conv_pass pass, const sg_conv2d_dims *d, bool bias);

/* ---- max pooling (dnnl_pool.c), floor mode, padding acts as -inf ---------- */
/* out (N, C, Ho, Wo). With keep_workspace, returns oneDNN's record of the
 * argmax (arena memory) for the backward; otherwise NULL. */
void *sg_dnnl_maxpool2d_forward(sg_arena *arena, float *out, const float *x, bool keep_workspace,
                                int N, int C, int H, int W, int Ho, int Wo, int kernel,
                                int stride, int pad);
/* dx (N, C, H, W) += the gradient routed through the workspace's maxima. */
void sg_dnnl_maxpool2d_backward(float *dx, bool dx_zero, const float *dout, const void *workspace,
                                int N, int C, int H, int W, int Ho, int Wo, int kernel,
                                int stride, int pad);

#endif
