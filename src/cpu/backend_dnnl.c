/*
 * backend_dnnl.c: the oneDNN CPU backend's kernel table (backend.h): the
 * reference table with convolution, batch norm and max pooling replaced by
 * oneDNN primitives (dnnl_conv.c, dnnl_bn.c, dnnl_pool.c), as cuDNN is on
 * GPUs. Bitwise repeatable for a fixed thread count (oneDNN splits its
 * reductions by thread). Built only with oneDNN (configure --with-dnnl).
 * Covered by tests/test_dnnl.c and tests/test_backend_ops.c.
 */
#include "semiseg/backend.h"

#include <pthread.h>
#include <string.h>

#include "activation.h"
#include "dnnl_ops.h"

/* saved = [mean (C), var (C)]: oneDNN's backward takes the variance and eps. */
static void sg_dnnl_bn_forward_(sg_arena *ws, float *out, float *saved, float *running_mean,
                                float *running_var, const float *x, const float *w,
                                const float *b, bool training, bool relu, float momentum,
                                float eps, int N, int C, int HW)
{
    (void)ws;
    float *mean = saved, *var = saved + C;
    if (training) {
        sg_dnnl_batchnorm_train_forward(out, mean, var, running_mean, running_var, x, w, b,
                                        momentum, eps, N, C, HW);
    } else {
        memcpy(mean, running_mean, (size_t)C * sizeof(float));
        memcpy(var, running_var, (size_t)C * sizeof(float));
        sg_dnnl_batchnorm_eval_forward(out, x, w, b, mean, var, eps, N, C, HW);
    }
    /* oneDNN's fused BN + ReLU is unvectorised on plain layouts (dnnl_bn.c):
     * a separate clamp in place is faster. */
    if (relu) sg_relu_forward_cpu(out, out, (size_t)N * C * HW);
}

static void sg_dnnl_bn_backward_(sg_arena *ws, float *dx, float *dw, float *db, bool dx_zero,
                                 float *dout, const float *out, const float *x, const float *w,
                                 const float *b, const float *saved, bool training, bool relu,
                                 float eps, int N, int C, int HW)
{
    (void)ws;
    /* The output's gradient is complete now and read by this node only: the
     * ReLU's mask can go into it in place. */
    if (relu) sg_relu_mask_cpu(dout, out, (size_t)N * C * HW);
    sg_dnnl_batchnorm_backward(dx, dw, db, dx_zero, dout, x, w, b, saved, saved + C, training,
                               eps, N, C, HW);
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
