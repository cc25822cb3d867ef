/*
 * cuda_reduce.cu: the CUDA entries of the kernel table (backend.h) that
 * reduce: full sums and means, the weighted loss sum, the pixel counts of
 * the semi-supervised primitives, and layer normalisation (row statistics,
 * and dw/db summed over rows).
 *
 *   sum_forward / mean_forward   x (n) -> out[0]          torch.sum / torch.mean
 *   sum_backward / mean_backward dx (n) += dout[0] (/ n)
 *   weighted_sum                 out[0] = sum x w / divisor (the loss reductions)
 *   cross_entropy_check_targets  target (n): non-ignored count, first bad index
 *   count_confident              conf, ignore (n): valid and kept pixels
 *   confidence_indicator         probs (N, C, HW) -> ind (N, HW), kept count
 *   layernorm_forward/backward   x (rows, D)              F.layer_norm over D
 *
 * Determinism: no floating-point atomics. A sum over n elements is split into
 * chunks of SG_RED_CHUNK; one block reduces each chunk (a strided per-thread
 * sum in double, then a fixed shared-memory tree), and a single block adds the
 * chunk partials the same way. The tree depends on n only, so results repeat
 * bitwise run to run; they differ from the CPU's sequential chunk sums only by
 * double rounding. Counts use the same tree in integers. Scratch comes from
 * the caller's arena where the entry takes one, else from a per-device buffer
 * cached for the process.
 *
 * The per-element arithmetic is the CPU kernels' own (the src/cpu/ *_math.h
 * headers).
 * Covered by tests/test_backend_ops.c (against the reference CPU backend).
 */
#include "semiseg/base.h"
#include "semiseg/tensor.h"
#include "cuda_check.h"
#include "cuda_grid.h"
#include "cuda_kernels.h"

#include "../cpu/layernorm_math.h"
#include "../cpu/loss_math.h"
#include "../cpu/channel_math.h"
#include "../cpu/reduce_math.h"
#include "../cpu/semi_math.h"

#include <limits.h>
#include <pthread.h>

/* ---- fixed-order reduction ---------------------------------------------------------- */

/* Elements reduced by one block into one partial. */
#define SG_RED_CHUNK 4096

__host__ __device__ static size_t sg_red_chunks_(size_t n)
{
    return (n + SG_RED_CHUNK - 1) / SG_RED_CHUNK;
}

/* Accumulators: zero() and add() of a tree node, on the device. */
struct sg_dsum_ {
    double s;
    __device__ static sg_dsum_ zero() { return {0.0}; }
    __device__ static sg_dsum_ add(sg_dsum_ a, sg_dsum_ b) { return {a.s + b.s}; }
};

struct sg_count2_ {
    unsigned long long a, b;
    __device__ static sg_count2_ zero() { return {0, 0}; }
    __device__ static sg_count2_ add(sg_count2_ x, sg_count2_ y) { return {x.a + y.a, x.b + y.b}; }
};

/* Non-ignored targets, and the smallest index of a bad one (LLONG_MAX: none). */
struct sg_target_scan_ {
    unsigned long long count;
    long long first;
    __device__ static sg_target_scan_ zero() { return {0, LLONG_MAX}; }
    __device__ static sg_target_scan_ add(sg_target_scan_ x, sg_target_scan_ y)
    {
        return {x.count + y.count, x.first < y.first ? x.first : y.first};
    }
};

/* Every thread of the block passes its value; all get the block's total.
 * The halving tree is fixed, so the rounding is too. */
template <typename Acc>
__device__ static Acc sg_block_reduce_(Acc v)
{
    __shared__ Acc sh[SG_CUDA_THREADS];
    sh[threadIdx.x] = v;
    __syncthreads();
    for (unsigned s = SG_CUDA_THREADS / 2; s > 0; s >>= 1) {
        if (threadIdx.x < s) sh[threadIdx.x] = Acc::add(sh[threadIdx.x], sh[threadIdx.x + s]);
        __syncthreads();
    }
    Acc r = sh[0];
    /* The caller may reduce again (next chunk) into the same array. */
    __syncthreads();
    return r;
}

/* part[c] = the reduction of load(i) over chunk c. Blocks stride over the
 * chunks, so a capped grid gives the same partials. */
template <typename Acc, typename Load>
__global__ static void sg_partials_kernel_(Acc *part, size_t n, Load load)
{
    const size_t chunks = sg_red_chunks_(n);
    for (size_t c = blockIdx.x; c < chunks; c += gridDim.x) {
        const size_t lo = c * SG_RED_CHUNK, hi = lo + SG_RED_CHUNK < n ? lo + SG_RED_CHUNK : n;
        Acc acc = Acc::zero();
        for (size_t i = lo + threadIdx.x; i < hi; i += SG_CUDA_THREADS)
            acc = Acc::add(acc, load(i));
        acc = sg_block_reduce_(acc);
        if (threadIdx.x == 0) part[c] = acc;
    }
}

/* One block: the partials in a fixed order, then finish(total). */
template <typename Acc, typename Finish>
__global__ static void sg_finish_kernel_(const Acc *part, size_t chunks, Finish finish)
{
    Acc acc = Acc::zero();
    for (size_t c = threadIdx.x; c < chunks; c += SG_CUDA_THREADS) acc = Acc::add(acc, part[c]);
    acc = sg_block_reduce_(acc);
    if (threadIdx.x == 0) finish(acc);
}

/* Reduces load(0..n) with part (sg_red_chunks_(n) accumulators) as scratch.
 * n == 0 runs only the finish, on the zero accumulator (a sum of nothing is
 * 0, a mean NaN, as on the CPU). */
template <typename Acc, typename Load, typename Finish>
static void sg_reduce_(Acc *part, size_t n, Load load, Finish finish)
{
    const size_t chunks = sg_red_chunks_(n);
    if (chunks) {
        const unsigned grid = (unsigned)(chunks < 65535u * 16u ? chunks : 65535u * 16u);
        sg_partials_kernel_<<<grid, SG_CUDA_THREADS>>>(part, n, load);
        SG_CUDA_LAUNCHED("sg_partials_kernel_");
    }
    sg_finish_kernel_<<<1, SG_CUDA_THREADS>>>(part, chunks, finish);
    SG_CUDA_LAUNCHED("sg_finish_kernel_");
}

/* Partials for n elements from the caller's arena. */
template <typename Acc>
static Acc *sg_arena_partials_(sg_arena *ws, size_t n)
{
    const size_t chunks = sg_red_chunks_(n);
    return (Acc *)sg_arena_alloc(ws, (chunks ? chunks : 1) * sizeof(Acc));
}

/* ---- scratch for the entries without an arena ------------------------------------- */

/* One buffer per device, grown on demand and kept for the process, so a hot
 * loop does not cudaMalloc. Hold the lock from sg_scratch_ until the kernels
 * using the buffer are queued: every kernel runs on the legacy default
 * stream, so the next holder's kernels run after them. */
static pthread_mutex_t sg_scratch_lock_ = PTHREAD_MUTEX_INITIALIZER;
static void *sg_scratch_mem_[SG_CUDA_MAX_DEVICES];
static size_t sg_scratch_cap_[SG_CUDA_MAX_DEVICES];

static void *sg_scratch_(size_t bytes)
{
    const int d = sg_cuda_current_device();
    if (bytes > sg_scratch_cap_[d]) {
        size_t cap = 2 * sg_scratch_cap_[d] > bytes ? 2 * sg_scratch_cap_[d] : bytes;
        if (sg_scratch_mem_[d]) {
            /* Queued kernels of earlier holders may still read the old buffer. */
            CUDA_CHECK(cudaDeviceSynchronize());
            CUDA_CHECK(cudaFree(sg_scratch_mem_[d]));
        }
        CUDA_CHECK(cudaMalloc(&sg_scratch_mem_[d], cap));
        sg_scratch_cap_[d] = cap;
    }
    return sg_scratch_mem_[d];
}

template <typename Acc>
struct sg_store_ {
    Acc *dst;
    __device__ void operator()(Acc a) const { *dst = a; }
};

/* Reduces load(0..n) into an Acc in the scratch and copies it to the host
 * (synchronous: the caller needs the value now). */
template <typename Acc, typename Load>
static Acc sg_reduce_to_host_(size_t n, Load load)
{
    const size_t chunks = sg_red_chunks_(n);
    Acc r;
    pthread_mutex_lock(&sg_scratch_lock_);
    Acc *part = (Acc *)sg_scratch_((chunks + 1) * sizeof(Acc));
    sg_reduce_(part, n, load, sg_store_<Acc>{part + chunks});
    CUDA_CHECK(cudaMemcpy(&r, part + chunks, sizeof r, cudaMemcpyDeviceToHost));
    pthread_mutex_unlock(&sg_scratch_lock_);
    return r;
}

/* ---- sum, mean, weighted sum ---------------------------------------------------------- */

struct sg_load_x_ {
    const float *x;
    __device__ sg_dsum_ operator()(size_t i) const { return {(double)x[i]}; }
};

struct sg_load_xw_ {
    const float *x, *w;
    __device__ sg_dsum_ operator()(size_t i) const { return {sg_wsum_term1(x[i], w[i])}; }
};

struct sg_finish_sum_ {
    float *out;
    __device__ void operator()(sg_dsum_ a) const { out[0] = sg_sum_finish(a.s); }
};

struct sg_finish_mean_ {
    float *out;
    size_t n;
    __device__ void operator()(sg_dsum_ a) const { out[0] = sg_mean_finish(a.s, n); }
};

struct sg_finish_wsum_ {
    float *out;
    double divisor;
    __device__ void operator()(sg_dsum_ a) const { out[0] = sg_wsum_finish(a.s, divisor); }
};

extern "C" void sg_cuda_sum_forward(sg_arena *ws, float *out, const float *x, size_t n)
{
    sg_reduce_(sg_arena_partials_<sg_dsum_>(ws, n), n, sg_load_x_{x}, sg_finish_sum_{out});
}

extern "C" void sg_cuda_mean_forward(sg_arena *ws, float *out, const float *x, size_t n)
{
    sg_reduce_(sg_arena_partials_<sg_dsum_>(ws, n), n, sg_load_x_{x}, sg_finish_mean_{out, n});
}

extern "C" void sg_cuda_weighted_sum(sg_arena *ws, float *out, const float *x, const float *w,
                                     size_t n, double divisor)
{
    sg_dsum_ *part = sg_arena_partials_<sg_dsum_>(ws, n);
    if (w)
        sg_reduce_(part, n, sg_load_xw_{x, w}, sg_finish_wsum_{out, divisor});
    else
        sg_reduce_(part, n, sg_load_x_{x}, sg_finish_wsum_{out, divisor});
}

/* dx += g, g = dout[0] (mean: dout[0] / n in float), read on the device so
 * the host never waits for the upstream gradient. */
template <bool MEAN>
__global__ static void sg_broadcast_grad_kernel_(float *dx, const float *dout, size_t n)
{
    const float g = MEAN ? sg_mean_grad(dout[0], n) : dout[0];
    SG_CUDA_FOR(i, n) dx[i] += g;
}

extern "C" void sg_cuda_sum_backward(float *dx, const float *dout, size_t n)
{
    if (n == 0) return;
    sg_broadcast_grad_kernel_<false><<<sg_cuda_grid(n), SG_CUDA_THREADS>>>(dx, dout, n);
    SG_CUDA_LAUNCHED("sg_broadcast_grad_kernel_<false>");
}

extern "C" void sg_cuda_mean_backward(float *dx, const float *dout, size_t n)
{
    if (n == 0) return;
    sg_broadcast_grad_kernel_<true><<<sg_cuda_grid(n), SG_CUDA_THREADS>>>(dx, dout, n);
    SG_CUDA_LAUNCHED("sg_broadcast_grad_kernel_<true>");
}

/* ---- counts with a host result ------------------------------------------------------ */

struct sg_load_target_ {
    const int32_t *target;
    int K, ignore_index;
    __device__ sg_target_scan_ operator()(size_t i) const
    {
        const int32_t v = target[i];
        if (v == ignore_index) return {0, LLONG_MAX};
        return {1, v >= 0 && v < K ? LLONG_MAX : (long long)i};
    }
};

extern "C" void sg_cuda_cross_entropy_check_targets(const int32_t *target, size_t n, int K,
                                                    int ignore_index, size_t *count,
                                                    long *first_bad)
{
    const sg_load_target_ load = {target, K, ignore_index};
    sg_target_scan_ r = {0, LLONG_MAX};
    if (n) r = sg_reduce_to_host_<sg_target_scan_>(n, load);
    /* The CPU scan stops at the first bad target: its count is of the
     * pixels before it, all good. Recount that prefix (the error path). */
    if (r.first != LLONG_MAX) {
        const size_t first = (size_t)r.first;
        r.count = first ? sg_reduce_to_host_<sg_target_scan_>(first, load).count : 0;
    }
    *count = (size_t)r.count;
    *first_bad = r.first == LLONG_MAX ? -1 : (long)r.first;
}

/* a: valid pixels, b: valid and confident. */
struct sg_load_confident_ {
    const float *conf;
    const int32_t *ignore;
    float tau;
    __device__ sg_count2_ operator()(size_t i) const
    {
        const bool valid = !ignore || !sg_semi_is_pad(ignore[i]);
        return {valid, valid && conf[i] >= tau};
    }
};

extern "C" void sg_cuda_count_confident(const float *conf, const int32_t *ignore, float tau,
                                        size_t n, size_t *valid, size_t *kept)
{
    sg_count2_ r = {0, 0};
    if (n) r = sg_reduce_to_host_<sg_count2_>(n, sg_load_confident_{conf, ignore, tau});
    *valid = (size_t)r.a;
    *kept = (size_t)r.b;
}

/* Pixel p of (N, HW): writes ind[p] = [max_c probs >= thresh] and counts it
 * (a: kept). The chunks cover each pixel once, so the write can ride on the
 * count's pass. */
struct sg_load_indicator_ {
    float *ind;
    const float *probs;
    float thresh;
    int C;
    size_t HW;
    __device__ sg_count2_ operator()(size_t p) const
    {
        const float *pp = probs + (p / HW) * (size_t)C * HW + p % HW;
        const bool on = sg_channel_max(pp, C, HW) >= thresh;
        ind[p] = on;
        return {on, 0};
    }
};

extern "C" void sg_cuda_confidence_indicator(float *ind, size_t *kept, const float *probs,
                                             float thresh, int N, int C, size_t HW)
{
    const size_t np = (size_t)N * HW;
    sg_count2_ r = {0, 0};
    if (np && C > 0)
        r = sg_reduce_to_host_<sg_count2_>(np, sg_load_indicator_{ind, probs, thresh, C, HW});
    *kept = (size_t)r.a;
}

/* ---- layer normalisation ---------------------------------------------------------------- */

/* Sum over the 32 lanes of a warp; every lane gets the same bits (each
 * butterfly step adds the same two values, and + commutes exactly). */
__device__ static double sg_warp_sum_(double v)
{
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}

/* One warp per row: rows are short (D of a token), so a warp's strided
 * loads stay coalesced and its shuffle tree fixes the summation order. The
 * row loop is warp-uniform, as the full-mask shuffles need. */
#define SG_LN_WARP_FOR(r, rows)                                                          \
    for (size_t r = (blockIdx.x * (size_t)blockDim.x + threadIdx.x) / 32; r < (rows);   \
         r += (size_t)gridDim.x * blockDim.x / 32)

__global__ static void sg_ln_forward_kernel_(float *out, float *mean, float *rstd, const float *x,
                                             const float *w, const float *b, float eps,
                                             size_t rows, int D)
{
    const int lane = (int)(threadIdx.x % 32);
    SG_LN_WARP_FOR(r, rows)
    {
        const float *xr = x + r * (size_t)D;
        double s = 0.0;
        for (int d = lane; d < D; d += 32) s += xr[d];
        const double mu = sg_ln_mean(sg_warp_sum_(s), D);
        double ss = 0.0;
        for (int d = lane; d < D; d += 32) ss += sg_ln_sq1(xr[d], mu);
        const float m = (float)mu;
        const float is = sg_ln_rstd(sg_warp_sum_(ss), D, eps);
        if (lane == 0) {
            mean[r] = m;
            rstd[r] = is;
        }
        float *o = out + r * (size_t)D;
        for (int d = lane; d < D; d += 32) o[d] = sg_ln_out1(xr[d], m, is, w, b, d);
    }
}

extern "C" void sg_cuda_layernorm_forward(float *out, float *mean, float *rstd, const float *x,
                                          const float *w, const float *b, float eps, size_t rows,
                                          int D)
{
    if (rows == 0 || D <= 0) return;
    sg_ln_forward_kernel_<<<sg_cuda_grid(rows * 32), SG_CUDA_THREADS>>>(out, mean, rstd, x, w, b,
                                                                        eps, rows, D);
    SG_CUDA_LAUNCHED("sg_ln_forward_kernel_");
}

__global__ static void sg_ln_dx_kernel_(float *dx, const float *dout, const float *x,
                                        const float *w, const float *mean, const float *rstd,
                                        size_t rows, int D)
{
    const int lane = (int)(threadIdx.x % 32);
    SG_LN_WARP_FOR(r, rows)
    {
        const float *xr = x + r * (size_t)D, *gr = dout + r * (size_t)D;
        const double mu = mean[r], is = rstd[r];
        double sum_g = 0.0, sum_g_xhat = 0.0;
        for (int d = lane; d < D; d += 32) {
            const double g = sg_ln_g1(gr[d], w, d);
            sum_g += g;
            sum_g_xhat += g * sg_ln_xhat1(xr[d], mu, is);
        }
        const double mean_g = sg_ln_mean(sg_warp_sum_(sum_g), D);
        const double mean_g_xhat = sg_ln_mean(sg_warp_sum_(sum_g_xhat), D);
        float *dxr = dx + r * (size_t)D;
        for (int d = lane; d < D; d += 32)
            dxr[d] += sg_ln_dx1(is, sg_ln_g1(gr[d], w, d), mean_g, sg_ln_xhat1(xr[d], mu, is),
                                mean_g_xhat);
    }
}

/* dw/db sum over rows: a block of SG_LN_COLS x SG_LN_LANES threads sums a
 * tile of columns over one chunk of SG_LN_ROWS rows (each thread every
 * SG_LN_LANES-th row, then a fixed tree over the lanes) into a partial per
 * (chunk, column); a second kernel adds the chunks in order. */
#define SG_LN_COLS 32
#define SG_LN_LANES 8
#define SG_LN_ROWS 256

__global__ static void sg_ln_dwdb_partials_kernel_(double *pw, double *pb, const float *dout,
                                                   const float *x, const float *mean,
                                                   const float *rstd, size_t rows, int D,
                                                   size_t chunks)
{
    __shared__ double sw[SG_LN_LANES][SG_LN_COLS], sb[SG_LN_LANES][SG_LN_COLS];
    const unsigned tx = threadIdx.x, ty = threadIdx.y;
    const int d = (int)(blockIdx.x * SG_LN_COLS + tx);
    for (size_t c = blockIdx.y; c < chunks; c += gridDim.y) {
        double aw = 0.0, ab = 0.0;
        if (d < D) {
            const size_t r1 = (c + 1) * SG_LN_ROWS < rows ? (c + 1) * SG_LN_ROWS : rows;
            for (size_t r = c * SG_LN_ROWS + ty; r < r1; r += SG_LN_LANES) {
                const double g = dout[r * (size_t)D + d];
                ab += g;
                aw += g * sg_ln_xhat1(x[r * (size_t)D + d], mean[r], rstd[r]);
            }
        }
        sw[ty][tx] = aw;
        sb[ty][tx] = ab;
        __syncthreads();
        for (unsigned s = SG_LN_LANES / 2; s > 0; s >>= 1) {
            if (ty < s) {
                sw[ty][tx] += sw[ty + s][tx];
                sb[ty][tx] += sb[ty + s][tx];
            }
            __syncthreads();
        }
        if (ty == 0 && d < D) {
            pw[c * (size_t)D + d] = sw[0][tx];
            pb[c * (size_t)D + d] = sb[0][tx];
        }
        /* The next chunk overwrites the tiles. */
        __syncthreads();
    }
}

__global__ static void sg_ln_dwdb_finish_kernel_(float *dw, float *db, const double *pw,
                                                 const double *pb, int D, size_t chunks)
{
    SG_CUDA_FOR(d, (size_t)D)
    {
        double sw = 0.0, sb = 0.0;
        for (size_t c = 0; c < chunks; c++) {
            sw += pw[c * (size_t)D + d];
            sb += pb[c * (size_t)D + d];
        }
        if (dw) dw[d] += (float)sw;
        if (db) db[d] += (float)sb;
    }
}

extern "C" void sg_cuda_layernorm_backward(float *dx, float *dw, float *db, const float *dout,
                                           const float *x, const float *w, const float *mean,
                                           const float *rstd, size_t rows, int D)
{
    if (rows == 0 || D <= 0) return;
    if (dx) {
        sg_ln_dx_kernel_<<<sg_cuda_grid(rows * 32), SG_CUDA_THREADS>>>(dx, dout, x, w, mean, rstd,
                                                                       rows, D);
        SG_CUDA_LAUNCHED("sg_ln_dx_kernel_");
    }
    if (!dw && !db) return;
    const size_t chunks = (rows + SG_LN_ROWS - 1) / SG_LN_ROWS;
    const dim3 grid((unsigned)((D + SG_LN_COLS - 1) / SG_LN_COLS),
                    (unsigned)(chunks < 65535 ? chunks : 65535));
    pthread_mutex_lock(&sg_scratch_lock_);
    double *pw = (double *)sg_scratch_(2 * chunks * (size_t)D * sizeof(double));
    double *pb = pw + chunks * (size_t)D;
    sg_ln_dwdb_partials_kernel_<<<grid, dim3(SG_LN_COLS, SG_LN_LANES)>>>(pw, pb, dout, x, mean,
                                                                         rstd, rows, D, chunks);
    SG_CUDA_LAUNCHED("sg_ln_dwdb_partials_kernel_");
    sg_ln_dwdb_finish_kernel_<<<sg_cuda_grid((size_t)D), SG_CUDA_THREADS>>>(dw, db, pw, pb, D,
                                                                           chunks);
    SG_CUDA_LAUNCHED("sg_ln_dwdb_finish_kernel_");
    pthread_mutex_unlock(&sg_scratch_lock_);
}
