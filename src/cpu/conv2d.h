/*
 * conv2d.h: 2-D convolution kernels (CPU), im2col + GEMM.
 * Layout: x (N, Cin, H, W), w (Cout, Cin/groups, kh, kw), b (Cout) or NULL,
 * out (N, Cout, Ho, Wo), all contiguous row-major floats.
 * Forward writes `out`; backward ADDS into dx, dw, db (each may be NULL).
 * Matches torch.nn.functional.conv2d; covered by tests/test_ops_conv.c.
 */
#ifndef SEMISEG_CPU_CONV2D_H
#define SEMISEG_CPU_CONV2D_H

#include "semiseg/backend.h" /* sg_conv2d_dims */

/* True when the convolution is a plain matrix product over channels
 * (1x1 kernel, stride 1, no padding) and needs no im2col scratch. */
bool sg_conv2d_is_pointwise(const sg_conv2d_dims *d);
/* Floats of im2col scratch the kernels need (0 for a pointwise conv):
 * one group's column matrix, (Cin/groups * kh * kw) x (Ho * Wo). */
size_t sg_conv2d_scratch_floats(const sg_conv2d_dims *d);

void sg_conv2d_forward_cpu(float *out, float *col, const float *x, const float *w,
                           const float *b, const sg_conv2d_dims *d);
/* dx via W^T * dout + col2im; dw accumulated over images 0, 1, ... in order;
 * db summed in double. `col` as in the forward. */
void sg_conv2d_backward_cpu(float *dx, float *dw, float *db, float *col, const float *dout,
                            const float *x, const float *w, const sg_conv2d_dims *d);

/* Between w (planes, kh, kw) and its crop wc (planes, ckh, ckw) at
 * (kh0, kw0): wc = crop(w), or w += wc when add (dead-tap cropping,
 * src/core/op_conv.c). */
void sg_conv2d_crop_weight_cpu(float *w, float *wc, int planes, int kh, int kw, int ckh, int ckw,
                               int kh0, int kw0, bool add);

#endif
