/*
 * cuda_dnn.cu: the CUDA backend's convolution, batch-norm, linear and
 * batched matrix product entries (include/semiseg/backend.h; declared in
 * cuda_kernels.h). Every pointer is device memory of the current device;
 * every call runs on the legacy default stream. Backward entries ADD into
 * their gradients and skip a NULL one, as the CPU kernels do.
 *
 * conv2d (torch.nn.functional.conv2d; CPU: src/cpu/conv2d.c): cuDNN's
 *   convolution API (cudnn_cnn.h), NCHW float, cross-correlation,
 *   x (N, Cin, H, W), w (Cout, Cin/groups, kh, kw), out (N, Cout, Ho, Wo),
 *   stride, padding (pad_h, pad_w on both sides), dilation and groups.
 *   Forward: out = conv (beta 0), then out += b (cudnnAddTensor). Backward:
 *   dx with beta = dx_zero ? 0 : 1, dw with beta 1; db is a per-channel sum in
 *   double (own kernel, as the CPU does), not cudnnConvolutionBackwardBias.
 *   Algorithms, chosen once per shape and mode and cached with the
 *   descriptors (sg_conv_plan_), see "algorithm choice" below.
 * batchnorm (torch.nn.functional.batch_norm + optional relu; CPU:
 *   src/cpu/batchnorm.c, op: src/core/op_norm.c): own kernels, not cuDNN, so
 *   the statistics are the CPU's: per channel, mean and biased variance in
 *   double by two passes, invstd = 1/sqrt(var + eps), running statistics
 *   updated with momentum and the unbiased variance. `saved` = [mean (C),
 *   invstd (C)]: the batch's in training, the running ones in evaluation.
 * linear (torch.nn.functional.linear) and matmul (torch.bmm with operands
 *   optionally transposed; CPU: src/cpu/matmul.c): cuBLAS sgemm, strided
 *   batched for matmul, with the CPU's operand orders and accumulation; the
 *   linear bias gradient is a column sum in double (own kernel).
 *
 * Determinism: every reduction written here is one thread block per output
 * with a fixed per-thread order and a fixed tree, in double, without atomics;
 * cuBLAS gemm is deterministic for a given GPU and library version (cuBLAS
 * "Results reproducibility"); cuDNN is restricted to its deterministic
 * algorithms in deterministic mode (sg_cuda_get_deterministic).
 * Precision: FP32 only (cuDNN CUDNN_FMA_MATH, cuBLAS CUBLAS_DEFAULT_MATH)
 * unless sg_cuda_set_tf32(true). Element-wise arithmetic uses the
 * round-to-nearest intrinsics (__fmul_rn, __dadd_rn...), which nvcc never
 * contracts into an FMA, so it rounds like the CPU code (x86-64, no FMA).
 *
 * Covered by tests/test_backend_ops.c, which compares every entry with the
 * reference CPU backend on a machine with a CUDA device.
 */
#include "semiseg/base.h"
#include "semiseg/tensor.h"
#include "semiseg/cuda.h"
#include "cuda_check.h"
#include "cuda_grid.h"
#include "cuda_kernels.h"

#include <limits.h>
#include <pthread.h>
#include <string.h>

#define SG_DIE(...) sg_die_(__FILE__, __LINE__, __func__, __VA_ARGS__)

/* ---- reductions ------------------------------------------------------------------ */

/* Threads of a reduction block: a power of two for the tree. One block per
 * channel keeps the summation order fixed for a given shape; the most threads
 * a block can have, because the block's loads in flight set its bandwidth. */
#define SG_RED_THREADS 1024

/* The block's total of v (every thread gets it), by a fixed tree. */
__device__ static double sg_block_sum_(double v, double *sh)
{
    sh[threadIdx.x] = v;
    __syncthreads();
    for (unsigned s = SG_RED_THREADS / 2; s > 0; s >>= 1) {
        if (threadIdx.x < s) sh[threadIdx.x] = __dadd_rn(sh[threadIdx.x], sh[threadIdx.x + s]);
        __syncthreads();
    }
    double total = sh[0];
    /* sh is written again by the next call. */
    __syncthreads();
    return total;
}

/* Element i (< N HW) of channel c of an (N, C, HW) tensor. */
__device__ static inline size_t sg_chan_at_(unsigned i, unsigned HW, int C, int c)
{
    unsigned n = i / HW, j = i - n * HW;
    return ((size_t)n * C + c) * HW + j;
}

/* The channel loops index a channel's elements with unsigned 32-bit
 * integers; INT_MAX leaves room for the last step past the end. */
static void sg_check_channel_size_(const char *op, int N, int HW)
{
    SG_CHECK((size_t)N * (size_t)HW <= INT_MAX, "%s: %d x %d values per channel is too many",
             op, N, HW);
}

/* sum[c] += the sum of channel c of (N, C, HW), in double: the conv bias gradient. */
__global__ static void __launch_bounds__(SG_RED_THREADS)
    sg_channel_sum_kernel_(float *sum, const float *x, int N, int C, int HW)
{
    __shared__ double sh[SG_RED_THREADS];
    const int c = blockIdx.x;
    const unsigned nhw = (unsigned)N * (unsigned)HW;
    double s = 0.0;
    for (unsigned i = threadIdx.x; i < nhw; i += SG_RED_THREADS)
        s = __dadd_rn(s, (double)x[sg_chan_at_(i, (unsigned)HW, C, c)]);
    s = sg_block_sum_(s, sh);
    if (threadIdx.x == 0) sum[c] = __fadd_rn(sum[c], (float)s);
}

/* ---- batch norm ------------------------------------------------------------------ */

/* Training statistics of channel blockIdx.x: sg_batchnorm_stats_cpu. */
__global__ static void __launch_bounds__(SG_RED_THREADS)
    sg_bn_stats_kernel_(float *mean, float *invstd, float *running_mean, float *running_var,
                        const float *x, float momentum, float eps, int N, int C, int HW)
{
    __shared__ double sh[SG_RED_THREADS];
    const int c = blockIdx.x;
    const unsigned nhw = (unsigned)N * (unsigned)HW;
    const double n = (double)N * HW;
    double s = 0.0;
    for (unsigned i = threadIdx.x; i < nhw; i += SG_RED_THREADS)
        s = __dadd_rn(s, (double)x[sg_chan_at_(i, (unsigned)HW, C, c)]);
    const double mu = sg_block_sum_(s, sh) / n;
    /* Two passes: the sum of squared deviations has no cancellation, which
     * matters for the nearly constant channels BN exists to handle. */
    double ss = 0.0;
    for (unsigned i = threadIdx.x; i < nhw; i += SG_RED_THREADS) {
        double d = __dsub_rn((double)x[sg_chan_at_(i, (unsigned)HW, C, c)], mu);
        ss = __dadd_rn(ss, __dmul_rn(d, d));
    }
    ss = sg_block_sum_(ss, sh);
    if (threadIdx.x == 0) {
        const double m = momentum;
        mean[c] = (float)mu;
        invstd[c] = (float)(1.0 / sqrt(ss / n + (double)eps));
        running_mean[c] =
            (float)__dadd_rn(__dmul_rn(1.0 - m, (double)running_mean[c]), __dmul_rn(m, mu));
        running_var[c] = (float)__dadd_rn(__dmul_rn(1.0 - m, (double)running_var[c]),
                                          __dmul_rn(m, ss / (n - 1.0)));
    }
}

/* Evaluation statistics: sg_batchnorm_eval_stats_cpu. */
__global__ static void sg_bn_eval_stats_kernel_(float *mean, float *invstd,
                                                const float *running_mean,
                                                const float *running_var, float eps, int C)
{
    int c = blockIdx.x * blockDim.x + threadIdx.x;
    if (c >= C) return;
    mean[c] = running_mean[c];
    invstd[c] = (float)(1.0 / sqrt((double)running_var[c] + (double)eps));
}

/* out = (x - mean) invstd w + b, clamped at 0 with relu; one block per
 * (n, c) plane: sg_batchnorm_forward_cpu. */
__global__ static void sg_bn_apply_kernel_(float *out, const float *x, const float *w,
                                           const float *b, const float *mean,
                                           const float *invstd, bool relu, int C, int HW)
{
    const size_t plane = blockIdx.x;
    const int c = (int)(plane % (size_t)C);
    const float scale = __fmul_rn(invstd[c], w ? w[c] : 1.0f);
    const float shift = b ? b[c] : 0.0f, mu = mean[c];
    const float *xp = x + plane * HW;
    float *op = out + plane * HW;
    for (int j = threadIdx.x; j < HW; j += blockDim.x) {
        float v = __fadd_rn(__fmul_rn(__fsub_rn(xp[j], mu), scale), shift);
        /* Not fmaxf: a NaN becomes 0, as the CPU's v > 0 ? v : 0. */
        op[j] = relu ? (v > 0.0f ? v : 0.0f) : v;
    }
}

/* Backward of channel blockIdx.x (sg_bn_backward_ in src/cpu/batchnorm.c):
 * dout masked by relu_out > 0 when relu_out is given; db += sum g,
 * dw += sum g xhat, dx += k (g - mean(g) - xhat mean(g xhat)) in training,
 * dx += k g in evaluation, k = invstd w. */
__global__ static void __launch_bounds__(SG_RED_THREADS)
    sg_bn_backward_kernel_(float *dx, float *dw, float *db, const float *dout,
                           const float *relu_out, const float *x, const float *w,
                           const float *mean, const float *invstd, bool training, int N, int C,
                           int HW)
{
    __shared__ double sh[SG_RED_THREADS];
    const int c = blockIdx.x;
    const unsigned nhw = (unsigned)N * (unsigned)HW;
    const double n = (double)N * HW, mu = mean[c], is = invstd[c];
    double sum_dy = 0.0, sum_dy_xhat = 0.0;
    for (unsigned i = threadIdx.x; i < nhw; i += SG_RED_THREADS) {
        size_t at = sg_chan_at_(i, (unsigned)HW, C, c);
        double g = !relu_out || relu_out[at] > 0.0f ? (double)dout[at] : 0.0;
        sum_dy = __dadd_rn(sum_dy, g);
        sum_dy_xhat = __dadd_rn(sum_dy_xhat, __dmul_rn(g, __dmul_rn(__dsub_rn(x[at], mu), is)));
    }
    sum_dy = sg_block_sum_(sum_dy, sh);
    sum_dy_xhat = sg_block_sum_(sum_dy_xhat, sh);
    if (threadIdx.x == 0) {
        if (db) db[c] = __fadd_rn(db[c], (float)sum_dy);
        if (dw) dw[c] = __fadd_rn(dw[c], (float)sum_dy_xhat);
    }
    if (!dx) return;
    const double k = __dmul_rn(is, w ? (double)w[c] : 1.0);
    /* In evaluation the statistics are constants: only the affine map is
     * differentiated, so the two mean terms vanish. */
    const double mean_dy = training ? sum_dy / n : 0.0;
    const double mean_dy_xhat = training ? sum_dy_xhat / n : 0.0;
    for (unsigned i = threadIdx.x; i < nhw; i += SG_RED_THREADS) {
        size_t at = sg_chan_at_(i, (unsigned)HW, C, c);
        double xhat = __dmul_rn(__dsub_rn(x[at], mu), is);
        double g = !relu_out || relu_out[at] > 0.0f ? (double)dout[at] : 0.0;
        double v = __dmul_rn(k, __dsub_rn(__dsub_rn(g, mean_dy), __dmul_rn(xhat, mean_dy_xhat)));
        dx[at] = __fadd_rn(dx[at], (float)v);
    }
}

void sg_cuda_batchnorm_forward(struct sg_arena *, float *out, float *saved, float *running_mean,
                               float *running_var, const float *x, const float *w,
                               const float *b, bool training, bool relu, float momentum,
                               float eps, int N, int C, int HW)
{
    if (C == 0) return;
    float *mean = saved, *invstd = saved + C;
    if (training) {
        sg_check_channel_size_("batchnorm_forward", N, HW);
        sg_bn_stats_kernel_<<<C, SG_RED_THREADS>>>(mean, invstd, running_mean, running_var, x,
                                                   momentum, eps, N, C, HW);
        SG_CUDA_LAUNCHED("sg_bn_stats_kernel_");
    } else {
        sg_bn_eval_stats_kernel_<<<(C + SG_CUDA_THREADS - 1) / SG_CUDA_THREADS, SG_CUDA_THREADS>>>(
            mean, invstd, running_mean, running_var, eps, C);
        SG_CUDA_LAUNCHED("sg_bn_eval_stats_kernel_");
    }
    if (N == 0 || HW == 0) return;
    sg_bn_apply_kernel_<<<(unsigned)((size_t)N * C), SG_CUDA_THREADS>>>(out, x, w, b, mean, invstd,
                                                                        relu, C, HW);
    SG_CUDA_LAUNCHED("sg_bn_apply_kernel_");
}

/* dout is left as it is: the ReLU mask is recomputed from `out` in both
 * passes, which reads as much as writing the masked dout would cost. b and
 * eps are not needed: `saved` holds mean and invstd. dx is added to even
 * when dx_zero: writing it directly would leave -0 where the CPU's 0 + -0
 * gives +0. */
void sg_cuda_batchnorm_backward(struct sg_arena *, float *dx, float *dw, float *db, bool,
                                float *dout, const float *out, const float *x, const float *w,
                                const float *, const float *saved, bool training, bool relu,
                                float, int N, int C, int HW)
{
    if (C == 0 || (!dx && !dw && !db)) return;
    sg_check_channel_size_("batchnorm_backward", N, HW);
    sg_bn_backward_kernel_<<<C, SG_RED_THREADS>>>(dx, dw, db, dout, relu ? out : NULL, x, w,
                                                  saved, saved + C, training, N, C, HW);
    SG_CUDA_LAUNCHED("sg_bn_backward_kernel_");
}

/* ---- linear and matmul (cuBLAS) --------------------------------------------------- */

/* Row-major C_i = op(A_i) op(B_i) + beta C_i for i < batch, the matrices
 * `s*` floats apart. cuBLAS is column-major: row-major C = op(A) op(B) is
 * column-major C^T = op(B)^T op(A)^T, i.e. the operands and M/N swapped. A
 * leading dimension is the row length of a row-major matrix, 0 only when
 * K = 0: cuBLAS wants >= 1 even then (it then just scales C by beta). */
static void sg_gemm_(bool ta, bool tb, int M, int N, int K, const float *A, int lda, size_t sA,
                     const float *B, int ldb, size_t sB, float beta, float *C, int ldc, size_t sC,
                     int batch)
{
    if (M == 0 || N == 0 || batch == 0) return;
    const float one = 1.0f;
    CUBLAS_CHECK(cublasSgemmStridedBatched(
        sg_cuda_cublas(), tb ? CUBLAS_OP_T : CUBLAS_OP_N, ta ? CUBLAS_OP_T : CUBLAS_OP_N, N, M, K,
        &one, B, ldb > 0 ? ldb : 1, (long long)sB, A, lda > 0 ? lda : 1, (long long)sA, &beta, C,
        ldc > 0 ? ldc : 1, (long long)sC, batch));
}

/* out (R, O) = b broadcast over the rows. */
__global__ static void sg_fill_rows_kernel_(float *out, const float *b, size_t n, int O)
{
    SG_CUDA_FOR(i, n) out[i] = b[i % (size_t)O];
}

#define SG_COLS_X 32
#define SG_COLS_Y 16

/* db[o] += sum over r of dout[r, o], in double: threads (x, y) of a block
 * take column o = 32 blockIdx.x + x and rows y, y + 16, ...; row y = 0 adds
 * the 16 partial sums in order. */
__global__ static void sg_col_sum_kernel_(float *db, const float *dout, int R, int O)
{
    __shared__ double sh[SG_COLS_Y][SG_COLS_X];
    const int o = blockIdx.x * SG_COLS_X + threadIdx.x;
    double s = 0.0;
    if (o < O)
        for (int r = threadIdx.y; r < R; r += SG_COLS_Y)
            s = __dadd_rn(s, (double)dout[(size_t)r * O + o]);
    sh[threadIdx.y][threadIdx.x] = s;
    __syncthreads();
    if (threadIdx.y != 0 || o >= O) return;
    double t = 0.0;
    for (int k = 0; k < SG_COLS_Y; k++) t = __dadd_rn(t, sh[k][threadIdx.x]);
    db[o] = __fadd_rn(db[o], (float)t);
}

void sg_cuda_linear_forward(float *out, const float *x, const float *w, const float *b, int R,
                            int I, int O)
{
    size_t n = (size_t)R * O;
    if (n == 0) return;
    /* The bias goes in first and the gemm adds onto it (beta 1), as on the CPU. */
    if (b) {
        sg_fill_rows_kernel_<<<sg_cuda_grid(n), SG_CUDA_THREADS>>>(out, b, n, O);
        SG_CUDA_LAUNCHED("sg_fill_rows_kernel_");
    }
    sg_gemm_(false, true, R, O, I, x, I, 0, w, I, 0, b ? 1.0f : 0.0f, out, O, 0, 1);
}

void sg_cuda_linear_backward(float *dx, float *dw, float *db, const float *dout, const float *x,
                             const float *w, int R, int I, int O)
{
    if (dx) sg_gemm_(false, false, R, I, O, dout, O, 0, w, I, 0, 1.0f, dx, I, 0, 1);
    if (dw) sg_gemm_(true, false, O, I, R, dout, O, 0, x, I, 0, 1.0f, dw, I, 0, 1);
    if (db && O > 0) {
        sg_col_sum_kernel_<<<(O + SG_COLS_X - 1) / SG_COLS_X, dim3(SG_COLS_X, SG_COLS_Y)>>>(
            db, dout, R, O);
        SG_CUDA_LAUNCHED("sg_col_sum_kernel_");
    }
}

void sg_cuda_matmul_forward(float *c, const float *a, const float *b, int B, int M, int N, int K,
                            bool trans_a, bool trans_b)
{
    const int lda = trans_a ? M : K, ldb = trans_b ? K : N;
    sg_gemm_(trans_a, trans_b, M, N, K, a, lda, (size_t)M * K, b, ldb, (size_t)K * N, 0.0f, c, N,
             (size_t)M * N, B);
}

/* Gradients of C = op(A) op(B): d op(A) = dC op(B)^T, d op(B) = op(A)^T dC;
 * an operand stored transposed gets the transpose, in its stored layout. */
void sg_cuda_matmul_backward(float *da, float *db, const float *dc, const float *a,
                             const float *b, int B, int M, int N, int K, bool trans_a,
                             bool trans_b)
{
    const int lda = trans_a ? M : K, ldb = trans_b ? K : N;
    const size_t sa = (size_t)M * K, sb = (size_t)K * N, sc = (size_t)M * N;
    if (da) {
        if (trans_a) /* dA stored (K, M) = op(B) dC^T */
            sg_gemm_(trans_b, true, K, M, N, b, ldb, sb, dc, N, sc, 1.0f, da, M, sa, B);
        else /* dA (M, K) = dC op(B)^T */
            sg_gemm_(false, !trans_b, M, K, N, dc, N, sc, b, ldb, sb, 1.0f, da, K, sa, B);
    }
    if (db) {
        if (trans_b) /* dB stored (N, K) = dC^T op(A) */
            sg_gemm_(true, trans_a, N, K, M, dc, N, sc, a, lda, sa, 1.0f, db, K, sb, B);
        else /* dB (K, N) = op(A)^T dC */
            sg_gemm_(!trans_a, false, K, N, M, a, lda, sa, dc, N, sc, 1.0f, db, N, sb, B);
    }
}

/* ---- convolution (cuDNN) ---------------------------------------------------------- */

/*
 * Algorithm choice, once per (shape, device, deterministic, tf32):
 *
 * Deterministic mode takes the first result of the cudnnGet*_v7 heuristics
 * (best expected first) that succeeded, reports CUDNN_DETERMINISTIC, is on
 * the allow-list below, has an allowed math type and whose workspace fits
 * SG_CONV_WS_LIMIT; failing that, the first of the allow-list, in its order,
 * that cuDNN accepts for the shape. The allow-lists hold the algorithms the
 * cuDNN API reference (cudnnConvolution*Algo_t, and "Reproducibility
 * (Determinism)" in the developer guide) does not call non-deterministic
 * (the excluded ALGO_0 of both backwards and ALGO_3 of backward filter sum
 * with atomic adds) AND that sum products directly, as the CPU reference
 * does: the GEMM and direct families. FFT and Winograd are deterministic too
 * but compute in a transform domain with a larger FP32 error (NVIDIA calls
 * WINOGRAD_NONFUSED's precision sometimes poor; TensorFlow skips it), which
 * the backend-ops tolerances, argued for plain float sums, would not cover:
 *   forward: IMPLICIT_GEMM, IMPLICIT_PRECOMP_GEMM, GEMM, DIRECT;
 *   backward data: ALGO_1;
 *   backward filter: ALGO_1.
 * Non-deterministic mode takes the fastest result of cudnnFind* (which times
 * every algorithm) with an allowed math type and a workspace that fits.
 *
 * Math type: FP32 runs use CUDNN_FMA_MATH ("restricted to only kernels that
 * use FMA instructions"). Not CUDNN_DEFAULT_MATH: on sm_80 and newer it
 * permits TF32 tensor cores for FP32 data, which would break the comparison
 * with the FP32 CPU reference (PyTorch sets FMA_MATH too when TF32 is off).
 * With sg_cuda_set_tf32(true) the descriptor asks for CUDNN_TENSOR_OP_MATH
 * and runs with the math type the chosen result names (cuDNN pairs an
 * algorithm with a math type; PyTorch does the same). Never
 * CUDNN_TENSOR_OP_MATH_ALLOW_CONVERSION, which may convert FP32 to FP16.
 */

/* An algorithm needing more workspace is skipped. A fixed bound, not the
 * free memory, so that the choice (and with it the result bits) does not
 * depend on what else is allocated. */
#define SG_CONV_WS_LIMIT ((size_t)512 << 20)

typedef struct sg_conv_key {
    sg_conv2d_dims d;
    int device, deterministic, tf32;
} sg_conv_key;

typedef struct sg_conv_algo {
    bool ready;
    int algo;                 /* a cudnnConvolution{Fwd,BwdData,BwdFilter}Algo_t */
    cudnnMathType_t math;
    size_t ws;                /* workspace bytes */
} sg_conv_algo;

typedef struct sg_conv_plan {
    sg_conv_key key;
    cudnnTensorDescriptor_t x, y, bias;
    cudnnFilterDescriptor_t w;
    cudnnConvolutionDescriptor_t conv;
    sg_conv_algo fwd, bwd_data, bwd_filter;   /* chosen when first needed */
    struct sg_conv_plan *next;
} sg_conv_plan;

static bool sg_conv_math_ok_(cudnnMathType_t m, bool tf32)
{
    return m != CUDNN_TENSOR_OP_MATH_ALLOW_CONVERSION && (tf32 || m != CUDNN_TENSOR_OP_MATH);
}

/* The three directions, for sg_conv_choose_. */
struct sg_conv_fwd_ {
    typedef cudnnConvolutionFwdAlgo_t algo_t;
    typedef cudnnConvolutionFwdAlgoPerf_t perf_t;
    static constexpr int count = CUDNN_CONVOLUTION_FWD_ALGO_COUNT;
    static constexpr const char *name = "forward";
    static constexpr algo_t allowed[] = {
        CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_PRECOMP_GEMM, CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_GEMM,
        CUDNN_CONVOLUTION_FWD_ALGO_GEMM, CUDNN_CONVOLUTION_FWD_ALGO_DIRECT};
    static cudnnStatus_t heuristics(cudnnHandle_t h, const sg_conv_plan *p, perf_t *r, int *n)
    {
        return cudnnGetConvolutionForwardAlgorithm_v7(h, p->x, p->w, p->conv, p->y, count, n, r);
    }
    static cudnnStatus_t find(cudnnHandle_t h, const sg_conv_plan *p, perf_t *r, int *n)
    {
        return cudnnFindConvolutionForwardAlgorithm(h, p->x, p->w, p->conv, p->y, count, n, r);
    }
    static cudnnStatus_t workspace(cudnnHandle_t h, const sg_conv_plan *p, algo_t a, size_t *b)
    {
        return cudnnGetConvolutionForwardWorkspaceSize(h, p->x, p->w, p->conv, p->y, a, b);
    }
};

struct sg_conv_bwd_data_ {
    typedef cudnnConvolutionBwdDataAlgo_t algo_t;
    typedef cudnnConvolutionBwdDataAlgoPerf_t perf_t;
    static constexpr int count = CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT;
    static constexpr const char *name = "backward-data";
    static constexpr algo_t allowed[] = {CUDNN_CONVOLUTION_BWD_DATA_ALGO_1};
    static cudnnStatus_t heuristics(cudnnHandle_t h, const sg_conv_plan *p, perf_t *r, int *n)
    {
        return cudnnGetConvolutionBackwardDataAlgorithm_v7(h, p->w, p->y, p->conv, p->x, count, n,
                                                           r);
    }
    static cudnnStatus_t find(cudnnHandle_t h, const sg_conv_plan *p, perf_t *r, int *n)
    {
        return cudnnFindConvolutionBackwardDataAlgorithm(h, p->w, p->y, p->conv, p->x, count, n,
                                                         r);
    }
    static cudnnStatus_t workspace(cudnnHandle_t h, const sg_conv_plan *p, algo_t a, size_t *b)
    {
        return cudnnGetConvolutionBackwardDataWorkspaceSize(h, p->w, p->y, p->conv, p->x, a, b);
    }
};

struct sg_conv_bwd_filter_ {
    typedef cudnnConvolutionBwdFilterAlgo_t algo_t;
    typedef cudnnConvolutionBwdFilterAlgoPerf_t perf_t;
    static constexpr int count = CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT;
    static constexpr const char *name = "backward-filter";
    static constexpr algo_t allowed[] = {CUDNN_CONVOLUTION_BWD_FILTER_ALGO_1};
    static cudnnStatus_t heuristics(cudnnHandle_t h, const sg_conv_plan *p, perf_t *r, int *n)
    {
        return cudnnGetConvolutionBackwardFilterAlgorithm_v7(h, p->x, p->y, p->conv, p->w, count,
                                                             n, r);
    }
    static cudnnStatus_t find(cudnnHandle_t h, const sg_conv_plan *p, perf_t *r, int *n)
    {
        return cudnnFindConvolutionBackwardFilterAlgorithm(h, p->x, p->y, p->conv, p->w, count, n,
                                                           r);
    }
    static cudnnStatus_t workspace(cudnnHandle_t h, const sg_conv_plan *p, algo_t a, size_t *b)
    {
        return cudnnGetConvolutionBackwardFilterWorkspaceSize(h, p->x, p->y, p->conv, p->w, a, b);
    }
};

template <class D> static bool sg_conv_allowed_(typename D::algo_t a)
{
    for (typename D::algo_t ok : D::allowed)
        if (a == ok) return true;
    return false;
}

/* Whether algorithm a runs this plan's shape with math type `math` within
 * the workspace bound; fills *out when it does. A failed workspace query is
 * an answer, not an error: cuDNN reports a combination it does not support
 * (CUDNN_STATUS_NOT_SUPPORTED) that way. */
template <class D>
static bool sg_conv_try_(cudnnHandle_t h, sg_conv_plan *p, typename D::algo_t a,
                         cudnnMathType_t math, sg_conv_algo *out)
{
    size_t bytes = 0;
    CUDNN_CHECK(cudnnSetConvolutionMathType(p->conv, math));
    if (D::workspace(h, p, a, &bytes) != CUDNN_STATUS_SUCCESS || bytes > SG_CONV_WS_LIMIT)
        return false;
    out->ready = true;
    out->algo = (int)a;
    out->math = math;
    out->ws = bytes;
    return true;
}

template <class D> static sg_conv_algo sg_conv_choose_(sg_conv_plan *p)
{
    cudnnHandle_t h = sg_cuda_cudnn();
    const bool det = p->key.deterministic, tf32 = p->key.tf32;
    const cudnnMathType_t base = tf32 ? CUDNN_TENSOR_OP_MATH : CUDNN_FMA_MATH;
    typename D::perf_t perf[D::count];
    int n = 0;
    sg_conv_algo c;
    memset(&c, 0, sizeof c);
    /* The descriptor's math type tells cudnnGet/cudnnFind which kernels to consider. */
    CUDNN_CHECK(cudnnSetConvolutionMathType(p->conv, base));
    if (det)
        CUDNN_CHECK(D::heuristics(h, p, perf, &n));
    else
        CUDNN_CHECK(D::find(h, p, perf, &n));
    for (int i = 0; i < n; i++) {
        const typename D::perf_t &r = perf[i];
        if (r.status != CUDNN_STATUS_SUCCESS || !sg_conv_math_ok_(r.mathType, tf32)) continue;
        if (det && (r.determinism != CUDNN_DETERMINISTIC || !sg_conv_allowed_<D>(r.algo)))
            continue;
        /* FP32 runs with FMA math whatever the result names (cuDNN may label
         * FMA-only kernels CUDNN_DEFAULT_MATH); sg_conv_try_ checks that the
         * pair is supported. */
        if (sg_conv_try_<D>(h, p, r.algo, tf32 ? r.mathType : CUDNN_FMA_MATH, &c)) return c;
    }
    for (typename D::algo_t a : D::allowed)
        if (sg_conv_try_<D>(h, p, a, base, &c)) return c;
    const sg_conv2d_dims *d = &p->key.d;
    SG_DIE("no cuDNN %s convolution algorithm for x (%d, %d, %d, %d), w (%d, %d, %d, %d), "
           "stride %dx%d, pad %dx%d, dilation %dx%d, groups %d within %zu MiB of workspace",
           D::name, d->N, d->Cin, d->H, d->W, d->Cout, d->Cin / d->groups, d->kh, d->kw,
           d->stride_h, d->stride_w, d->pad_h, d->pad_w, d->dil_h, d->dil_w, d->groups,
           SG_CONV_WS_LIMIT >> 20);
}

static sg_conv_plan *sg_conv_plan_new_(const sg_conv_key *k)
{
    const sg_conv2d_dims *d = &k->d;
    sg_conv_plan *p = (sg_conv_plan *)sg_xcalloc(1, sizeof *p);
    p->key = *k;
    CUDNN_CHECK(cudnnCreateTensorDescriptor(&p->x));
    CUDNN_CHECK(cudnnCreateTensorDescriptor(&p->y));
    CUDNN_CHECK(cudnnCreateTensorDescriptor(&p->bias));
    CUDNN_CHECK(cudnnCreateFilterDescriptor(&p->w));
    CUDNN_CHECK(cudnnCreateConvolutionDescriptor(&p->conv));
    CUDNN_CHECK(cudnnSetTensor4dDescriptor(p->x, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, d->N, d->Cin,
                                           d->H, d->W));
    CUDNN_CHECK(cudnnSetTensor4dDescriptor(p->y, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, d->N,
                                           d->Cout, d->Ho, d->Wo));
    CUDNN_CHECK(
        cudnnSetTensor4dDescriptor(p->bias, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, 1, d->Cout, 1, 1));
    CUDNN_CHECK(cudnnSetFilter4dDescriptor(p->w, CUDNN_DATA_FLOAT, CUDNN_TENSOR_NCHW, d->Cout,
                                           d->Cin / d->groups, d->kh, d->kw));
    /* torch's conv2d is a cross-correlation (no kernel flip). */
    CUDNN_CHECK(cudnnSetConvolution2dDescriptor(p->conv, d->pad_h, d->pad_w, d->stride_h,
                                                d->stride_w, d->dil_h, d->dil_w,
                                                CUDNN_CROSS_CORRELATION, CUDNN_DATA_FLOAT));
    CUDNN_CHECK(cudnnSetConvolutionGroupCount(p->conv, d->groups));
    int n = 0, c = 0, h = 0, w = 0;
    CUDNN_CHECK(cudnnGetConvolution2dForwardOutputDim(p->conv, p->x, p->w, &n, &c, &h, &w));
    SG_CHECK(n == d->N && c == d->Cout && h == d->Ho && w == d->Wo,
             "conv2d: the output is (%d, %d, %d, %d), cuDNN computes (%d, %d, %d, %d)", d->N,
             d->Cout, d->Ho, d->Wo, n, c, h, w);
    return p;
}

/* Plans live as long as the process: a network has a few dozen shapes. */
#define SG_CONV_BUCKETS 64
static sg_conv_plan *sg_conv_plans_[SG_CONV_BUCKETS];
static pthread_mutex_t sg_conv_lock_ = PTHREAD_MUTEX_INITIALIZER;

/* The plan of shape d in the current mode, with the algorithms of the wanted
 * directions chosen. The key is all ints, so it is hashed and compared as
 * bytes. The lock guards the cache; the descriptors' math type is set per
 * call outside it, which assumes (like the single stream) that one host
 * thread drives the device. */
static const sg_conv_plan *sg_conv_plan_(const sg_conv2d_dims *d, bool fwd, bool bwd_data,
                                         bool bwd_filter)
{
    sg_conv_key k;
    memset(&k, 0, sizeof k);
    k.d = *d;
    k.device = sg_cuda_current_device();
    k.deterministic = sg_cuda_get_deterministic();
    k.tf32 = sg_cuda_get_tf32();
    const unsigned char *bytes = (const unsigned char *)&k;
    uint32_t hash = 2166136261u; /* FNV-1a */
    for (size_t i = 0; i < sizeof k; i++) hash = (hash ^ bytes[i]) * 16777619u;

    pthread_mutex_lock(&sg_conv_lock_);
    sg_conv_plan **bucket = &sg_conv_plans_[hash % SG_CONV_BUCKETS], *p = *bucket;
    while (p && memcmp(&p->key, &k, sizeof k) != 0) p = p->next;
    if (!p) {
        p = sg_conv_plan_new_(&k);
        p->next = *bucket;
        *bucket = p;
    }
    if (fwd && !p->fwd.ready) p->fwd = sg_conv_choose_<sg_conv_fwd_>(p);
    if (bwd_data && !p->bwd_data.ready) p->bwd_data = sg_conv_choose_<sg_conv_bwd_data_>(p);
    if (bwd_filter && !p->bwd_filter.ready) p->bwd_filter = sg_conv_choose_<sg_conv_bwd_filter_>(p);
    pthread_mutex_unlock(&sg_conv_lock_);
    return p;
}

/* Workspace from the context's arena, given back by sg_conv_ws_end_ as soon
 * as the cuDNN calls are queued: whatever reuses that memory later is queued
 * after them on the same (legacy default) stream, and a block the arena
 * frees goes through cudaFree, which waits for the device. */
typedef struct sg_conv_ws {
    struct sg_arena *arena;
    sg_arena_mark mark;
    void *ptr;
} sg_conv_ws;

static sg_conv_ws sg_conv_ws_begin_(struct sg_arena *arena, size_t bytes)
{
    sg_conv_ws w;
    memset(&w, 0, sizeof w);
    if (bytes == 0) return w;
    SG_CHECK(arena != NULL, "conv2d: cuDNN needs %zu bytes of workspace and no arena was given",
             bytes);
    w.arena = arena;
    w.mark = sg_arena_get_mark(arena);
    w.ptr = sg_arena_alloc(arena, bytes);
    return w;
}

static void sg_conv_ws_end_(const sg_conv_ws *w)
{
    if (w->arena) sg_arena_release(w->arena, w->mark);
}

void sg_cuda_conv2d_forward(struct sg_arena *ws, float *out, const float *x, const float *w,
                            const float *b, const sg_conv2d_dims *d)
{
    if ((size_t)d->N * d->Cout * d->Ho * d->Wo == 0) return;
    const sg_conv_plan *p = sg_conv_plan_(d, true, false, false);
    cudnnHandle_t h = sg_cuda_cudnn();
    const float one = 1.0f, zero = 0.0f;
    sg_conv_ws work = sg_conv_ws_begin_(ws, p->fwd.ws);
    CUDNN_CHECK(cudnnSetConvolutionMathType(p->conv, p->fwd.math));
    CUDNN_CHECK(cudnnConvolutionForward(h, &one, p->x, x, p->w, w, p->conv,
                                        (cudnnConvolutionFwdAlgo_t)p->fwd.algo, work.ptr,
                                        p->fwd.ws, &zero, p->y, out));
    if (b) CUDNN_CHECK(cudnnAddTensor(h, &one, p->bias, b, &one, p->y, out));
    sg_conv_ws_end_(&work);
}

void sg_cuda_conv2d_backward(struct sg_arena *ws, float *dx, float *dw, float *db, bool dx_zero,
                             const float *dout, const float *x, const float *w,
                             const sg_conv2d_dims *d)
{
    /* No output element: every gradient gets 0 added. */
    if ((size_t)d->N * d->Cout * d->Ho * d->Wo == 0) return;
    if (db) {
        sg_check_channel_size_("conv2d_backward", d->N, d->Ho * d->Wo);
        sg_channel_sum_kernel_<<<d->Cout, SG_RED_THREADS>>>(db, dout, d->N, d->Cout,
                                                            d->Ho * d->Wo);
        SG_CUDA_LAUNCHED("sg_channel_sum_kernel_");
    }
    if (!dx && !dw) return;
    const sg_conv_plan *p = sg_conv_plan_(d, false, dx != NULL, dw != NULL);
    cudnnHandle_t h = sg_cuda_cudnn();
    const float one = 1.0f, zero = 0.0f;
    size_t bytes = 0;
    if (dx && p->bwd_data.ws > bytes) bytes = p->bwd_data.ws;
    if (dw && p->bwd_filter.ws > bytes) bytes = p->bwd_filter.ws;
    /* One workspace for both calls: they run one after the other. */
    sg_conv_ws work = sg_conv_ws_begin_(ws, bytes);
    if (dx) {
        CUDNN_CHECK(cudnnSetConvolutionMathType(p->conv, p->bwd_data.math));
        CUDNN_CHECK(cudnnConvolutionBackwardData(
            h, &one, p->w, w, p->y, dout, p->conv, (cudnnConvolutionBwdDataAlgo_t)p->bwd_data.algo,
            work.ptr, bytes, dx_zero ? &zero : &one, p->x, dx));
    }
    if (dw) {
        CUDNN_CHECK(cudnnSetConvolutionMathType(p->conv, p->bwd_filter.math));
        CUDNN_CHECK(cudnnConvolutionBackwardFilter(
            h, &one, p->x, x, p->y, dout, p->conv,
            (cudnnConvolutionBwdFilterAlgo_t)p->bwd_filter.algo, work.ptr, bytes, &one, p->w, dw));
    }
    sg_conv_ws_end_(&work);
}
