/*
 * backend_dnnl.c: the fast CPU backend's kernel table (backend.h): the
 * reference table with convolution and max pooling replaced by oneDNN
 * primitives (dnnl_conv.c, dnnl_pool.c), as cuDNN is on GPUs, and batch norm
 * (with its fused ReLU) by the vectorised kernels of batchnorm_fast.c, which
 * on NCHW are several times faster than oneDNN's plain-layout BN. Bitwise
 * repeatable for a fixed thread count (oneDNN splits its reductions by
 * thread). Built only with oneDNN (configure --with-dnnl).
 * Covered by tests/test_dnnl.c and tests/test_backend_ops.c.
 */
#include "semiseg/backend.h"

#include <pthread.h>

#include "batchnorm.h"
#include "batchnorm_fast.h"
#include "dnnl_ops.h"

/* saved = [mean (C), invstd (C)], as the reference backend's. */
static void sg_dnnl_bn_forward_(sg_arena *ws, float *out, float *saved, float *running_mean,
                                float *running_var, const float *x, const float *w,
                                const float *b, bool training, bool relu, float momentum,
                                float eps, int N, int C, int HW)
{
    (void)ws;
    float *mean = saved, *invstd = saved + C;
    if (training)
        sg_batchnorm_fast_stats(mean, invstd, running_mean, running_var, x, momentum, eps, N, C,
                                HW);
    else
        sg_batchnorm_eval_stats_cpu(mean, invstd, running_mean, running_var, eps, C);
    sg_batchnorm_fast_forward(out, x, w, b, mean, invstd, relu, N, C, HW);
}

static void sg_dnnl_bn_backward_(sg_arena *ws, float *dx, float *dw, float *db, bool dx_zero,
                                 float *dout, const float *out, const float *x, const float *w,
                                 const float *b, const float *saved, bool training, bool relu,
                                 float eps, int N, int C, int HW)
{
    (void)ws, (void)b, (void)eps;
    sg_batchnorm_fast_backward(dx, dw, db, dx_zero, dout, relu ? out : NULL, x, w, saved,
                               saved + C, training, N, C, HW);
}

static void sg_dnnl_conv_backward_(sg_arena *ws, float *dx, float *dw, float *db, bool dx_zero,
                                   const float *dout, const float *x, const float *w,
                                   const sg_conv2d_dims *d)
{
    (void)ws;
    sg_dnnl_conv2d_backward(dx, dw, db, dx_zero, dout, x, w, d);
}

static void sg_dnnl_conv_forward_(sg_arena *ws, float *out, const float *x, const float *w,
                                  const float *b, const sg_conv2d_dims *d)
{
    (void)ws;
    sg_dnnl_conv2d_forward(out, x, w, b, d);
}

/* The saved state is oneDNN's pooling workspace. */
static void *sg_dnnl_pool_forward_(sg_arena *ws, float *out, const float *x, bool record, int N,
                                   int C, int H, int W, int Ho, int Wo, int kernel, int stride,
                                   int pad)
{
    return sg_dnnl_maxpool2d_forward(ws, out, x, record, N, C, H, W, Ho, Wo, kernel, stride, pad);
}

static sg_backend sg_backend_dnnl_;
static pthread_once_t sg_backend_dnnl_once_ = PTHREAD_ONCE_INIT;

static void sg_backend_dnnl_make_(void)
{
    sg_backend_dnnl_ = *sg_backend_cpu_reference();
    sg_backend_dnnl_.name = "cpu-dnnl";
    /* oneDNN's convolution and pooling and batchnorm_fast.c write all of dx
     * when told dx_zero. */
    sg_backend_dnnl_.dx_zero_overwrites = true;
    sg_backend_dnnl_.conv2d_forward = sg_dnnl_conv_forward_;
    sg_backend_dnnl_.conv2d_backward = sg_dnnl_conv_backward_;
    sg_backend_dnnl_.batchnorm_forward = sg_dnnl_bn_forward_;
    sg_backend_dnnl_.batchnorm_backward = sg_dnnl_bn_backward_;
    sg_backend_dnnl_.maxpool2d_forward = sg_dnnl_pool_forward_;
    sg_backend_dnnl_.maxpool2d_backward = sg_dnnl_maxpool2d_backward;
}

const sg_backend *sg_backend_cpu_dnnl(void)
{
    pthread_once(&sg_backend_dnnl_once_, sg_backend_dnnl_make_);
    return &sg_backend_dnnl_;
}
