/*
 * cuda_layout.cu: the layout, resizing and pooling entries of the CUDA
 * kernel table (backend.h): concat and narrow, bilinear and nearest resizing
 * (and nearest on int32 label maps), global average pooling and max pooling.
 *
 * Shapes: concat/narrow view a tensor as (outer, len, inner) around the
 * joined or sliced dimension; resizing maps `planes` (h, w) planes to
 * (oh, ow); pooling reads N*C planes of H x W, max pooling writing
 * (N*C, Ho, Wo) and recording the argmax of each output (int32, within its
 * plane, taken from the arena) for the backward.
 * References: torch.cat, torch.Tensor.narrow,
 * torch.nn.functional.interpolate (mode 'bilinear' with align_corners, and
 * the legacy 'nearest'), adaptive_avg_pool2d(x, 1) and max_pool2d (floor
 * mode, first maximum wins, a NaN wins over numbers).
 *
 * The index and weight arithmetic is the SG_HD code of the CPU kernels
 * (src/cpu/resize.h, src/cpu/pool_math.h). Backward kernels whose CPU
 * version scatters (bilinear, nearest, max pooling) are gathers here: one
 * thread per dx element adds its contributions in the CPU's order (output
 * rows, then columns, then ATen's tap order), so they are bitwise the CPU
 * result and repeat run to run without atomics. Only the global average
 * pooling's sum is in another (fixed) order. Backward kernels add into dx.
 *
 * Covered by tests/test_backend_ops.c (every entry against the reference CPU
 * backend).
 */
#include "cuda_check.h"
#include "cuda_grid.h"
#include "cuda_kernels.h"

#include "semiseg/tensor.h"

#include "../cpu/pool_math.h"
#include "../cpu/resize.h"

/* A grid-stride kernel over n items, its launch checked. */
#define SG_LAUNCH(kernel, n, ...)                                  \
    do {                                                           \
        kernel<<<sg_cuda_grid(n), SG_CUDA_THREADS>>>(__VA_ARGS__); \
        SG_CUDA_LAUNCHED(#kernel);                                 \
    } while (0)

/* ---- concat, narrow ---------------------------------------------------------------- */
/* The element of the (outer, big_len, inner) tensor at (o, off + j, k) for
 * element i = (o, j, k) of the (outer, len, inner) one. */
__device__ static size_t sg_slice_index_(size_t i, size_t run, size_t big_run, size_t off)
{
    return i / run * big_run + off + i % run;
}

__global__ static void sg_slice_put_k_(float *big, const float *small, size_t run,
                                       size_t big_run, size_t off, size_t n)
{
    SG_CUDA_FOR(i, n) big[sg_slice_index_(i, run, big_run, off)] = small[i];
}

__global__ static void sg_slice_put_add_k_(float *big, const float *small, size_t run,
                                           size_t big_run, size_t off, size_t n)
{
    SG_CUDA_FOR(i, n) big[sg_slice_index_(i, run, big_run, off)] += small[i];
}

__global__ static void sg_slice_get_k_(float *small, const float *big, size_t run,
                                       size_t big_run, size_t off, size_t n)
{
    SG_CUDA_FOR(i, n) small[i] = big[sg_slice_index_(i, run, big_run, off)];
}

__global__ static void sg_slice_get_add_k_(float *small, const float *big, size_t run,
                                           size_t big_run, size_t off, size_t n)
{
    SG_CUDA_FOR(i, n) small[i] += big[sg_slice_index_(i, run, big_run, off)];
}

extern "C" void sg_cuda_concat_forward(float *out, const float *x, size_t outer, int out_len,
                                       int off, int len, size_t inner)
{
    const size_t run = (size_t)len * inner, n = outer * run;
    if (n)
        SG_LAUNCH(sg_slice_put_k_, n, out, x, run, (size_t)out_len * inner, (size_t)off * inner,
                  n);
}

extern "C" void sg_cuda_concat_backward(float *dx, const float *dout, size_t outer, int out_len,
                                        int off, int len, size_t inner)
{
    const size_t run = (size_t)len * inner, n = outer * run;
    if (n)
        SG_LAUNCH(sg_slice_get_add_k_, n, dx, dout, run, (size_t)out_len * inner,
                  (size_t)off * inner, n);
}

extern "C" void sg_cuda_narrow_forward(float *out, const float *x, size_t outer, int x_len,
                                       int start, int len, size_t inner)
{
    const size_t run = (size_t)len * inner, n = outer * run;
    if (n)
        SG_LAUNCH(sg_slice_get_k_, n, out, x, run, (size_t)x_len * inner, (size_t)start * inner,
                  n);
}

extern "C" void sg_cuda_narrow_backward(float *dx, const float *dout, size_t outer, int x_len,
                                        int start, int len, size_t inner)
{
    const size_t run = (size_t)len * inner, n = outer * run;
    if (n)
        SG_LAUNCH(sg_slice_put_add_k_, n, dx, dout, run, (size_t)x_len * inner,
                  (size_t)start * inner, n);
}

/* ---- bilinear ---------------------------------------------------------------------- */
/* One output row's or column's stencil (sg_bilinear_index). */
typedef struct {
    int i0, i1;
    float l0, l1;
} sg_tap_;

/* The stencils of the oh output rows, then of the ow output columns,
 * computed once per call as the CPU kernel does. */
__global__ static void sg_stencil_k_(sg_tap_ *t, int h, int w, int oh, int ow, float scale_h,
                                     float scale_w, bool align_corners, size_t n)
{
    SG_CUDA_FOR(d, n)
    {
        const bool row = d < (size_t)oh;
        const int dst = row ? (int)d : (int)(d - (size_t)oh);
        sg_tap_ s;
        sg_bilinear_index(dst, row ? h : w, row ? oh : ow, row ? scale_h : scale_w,
                          align_corners, &s.i0, &s.i1, &s.l0, &s.l1);
        t[d] = s;
    }
}

static sg_tap_ *sg_stencils_(sg_arena *ws, int h, int w, int oh, int ow, bool align_corners)
{
    const size_t n = (size_t)oh + (size_t)ow;
    sg_tap_ *t = (sg_tap_ *)sg_arena_alloc(ws, n * sizeof(sg_tap_));
    SG_LAUNCH(sg_stencil_k_, n, t, h, w, oh, ow, sg_bilinear_scale(h, oh, align_corners),
              sg_bilinear_scale(w, ow, align_corners), align_corners, n);
    return t;
}

__global__ static void sg_bilinear_fwd_k_(float *out, const float *x, const sg_tap_ *th,
                                          const sg_tap_ *tw, int h, int w, int oh, int ow,
                                          size_t n)
{
    SG_CUDA_FOR(i, n)
    {
        const size_t r = i / (size_t)ow, p = r / (size_t)oh;
        const sg_tap_ a = th[r % (size_t)oh], b = tw[i % (size_t)ow];
        const float *x0 = x + (p * h + a.i0) * w, *x1 = x + (p * h + a.i1) * w;
        out[i] = sg_bilinear_combine(a.l0, a.l1, b.l0, b.l1, x0[b.i0], x0[b.i1], x1[b.i0],
                                     x1[b.i1]);
    }
}

/* The first of the len stencils whose i0 exceeds v: i0 never decreases
 * along an axis. */
__device__ static int sg_tap_upper_(const sg_tap_ *t, int len, int v)
{
    int lo = 0, hi = len;
    while (lo < hi) {
        const int mid = lo + (hi - lo) / 2;
        if (t[mid].i0 > v)
            hi = mid;
        else
            lo = mid + 1;
    }
    return lo;
}

/* dx (p, hy, wx) takes from the outputs whose i0 is hy (taps 0) or hy - 1
 * (taps 1: i1 = i0 + 1), a run of rows and of columns. Walking them in
 * (row, column) order with the taps 00, 01, 10, 11 replays the CPU's
 * scatter for this element, rounding for rounding. */
__global__ static void sg_bilinear_bwd_k_(float *dx, const float *dout, const sg_tap_ *th,
                                          const sg_tap_ *tw, int h, int w, int oh, int ow,
                                          size_t n)
{
    SG_CUDA_FOR(i, n)
    {
        const int wx = (int)(i % (size_t)w);
        const size_t r = i / (size_t)w, p = r / (size_t)h;
        const int hy = (int)(r % (size_t)h);
        const int y0 = sg_tap_upper_(th, oh, hy - 2), y1 = sg_tap_upper_(th, oh, hy);
        const int x0 = sg_tap_upper_(tw, ow, wx - 2), x1 = sg_tap_upper_(tw, ow, wx);
        float g = dx[i];
        for (int y = y0; y < y1; y++) {
            const sg_tap_ a = th[y];
            const float *d = dout + (p * oh + y) * ow;
            for (int xo = x0; xo < x1; xo++) {
                const sg_tap_ b = tw[xo];
                const double v = d[xo];
                if (a.i0 == hy) {
                    if (b.i0 == wx) g = sg_bilinear_accum(g, a.l0 * b.l0, v);
                    if (b.i1 == wx) g = sg_bilinear_accum(g, a.l0 * b.l1, v);
                }
                if (a.i1 == hy) {
                    if (b.i0 == wx) g = sg_bilinear_accum(g, a.l1 * b.l0, v);
                    if (b.i1 == wx) g = sg_bilinear_accum(g, a.l1 * b.l1, v);
                }
            }
        }
        dx[i] = g;
    }
}

extern "C" void sg_cuda_resize_bilinear_forward(sg_arena *ws, float *out, const float *x,
                                                int planes, int h, int w, int oh, int ow,
                                                bool align_corners)
{
    const size_t n = (size_t)planes * oh * ow;
    if (!n) return;
    const sg_tap_ *t = sg_stencils_(ws, h, w, oh, ow, align_corners);
    SG_LAUNCH(sg_bilinear_fwd_k_, n, out, x, t, t + oh, h, w, oh, ow, n);
}

extern "C" void sg_cuda_resize_bilinear_backward(sg_arena *ws, float *dx, const float *dout,
                                                 int planes, int h, int w, int oh, int ow,
                                                 bool align_corners)
{
    const size_t n = (size_t)planes * h * w;
    if (!n || !oh || !ow) return;
    const sg_tap_ *t = sg_stencils_(ws, h, w, oh, ow, align_corners);
    SG_LAUNCH(sg_bilinear_bwd_k_, n, dx, dout, t, t + oh, h, w, oh, ow, n);
}

/* ---- nearest ----------------------------------------------------------------------- */
template <typename T>
__global__ static void sg_nearest_fwd_k_(T *out, const T *x, int h, int w, int oh, int ow,
                                         size_t n)
{
    SG_CUDA_FOR(i, n)
    {
        const size_t r = i / (size_t)ow, p = r / (size_t)oh;
        const int y = (int)(r % (size_t)oh), xo = (int)(i % (size_t)ow);
        out[i] = x[(p * h + sg_nearest_index(y, h, oh)) * w + sg_nearest_index(xo, w, ow)];
    }
}

/* The first output index along an axis whose source is >= v: the source
 * index never decreases along the axis. */
__device__ static int sg_nearest_first_(int v, int in, int out)
{
    int lo = 0, hi = out;
    while (lo < hi) {
        const int mid = lo + (hi - lo) / 2;
        if (sg_nearest_index(mid, in, out) >= v)
            hi = mid;
        else
            lo = mid + 1;
    }
    return lo;
}

/* dx (p, hy, wx) sums the block of outputs that copied it, in the CPU's
 * (row, column) order. */
__global__ static void sg_nearest_bwd_k_(float *dx, const float *dout, int h, int w, int oh,
                                         int ow, size_t n)
{
    SG_CUDA_FOR(i, n)
    {
        const int wx = (int)(i % (size_t)w);
        const size_t r = i / (size_t)w, p = r / (size_t)h;
        const int hy = (int)(r % (size_t)h);
        const int y0 = sg_nearest_first_(hy, h, oh), y1 = sg_nearest_first_(hy + 1, h, oh);
        const int x0 = sg_nearest_first_(wx, w, ow), x1 = sg_nearest_first_(wx + 1, w, ow);
        float g = dx[i];
        for (int y = y0; y < y1; y++) {
            const float *d = dout + (p * oh + y) * ow;
            for (int xo = x0; xo < x1; xo++) g += d[xo];
        }
        dx[i] = g;
    }
}

extern "C" void sg_cuda_resize_nearest_forward(float *out, const float *x, int planes, int h,
                                               int w, int oh, int ow)
{
    const size_t n = (size_t)planes * oh * ow;
    if (n) SG_LAUNCH(sg_nearest_fwd_k_<float>, n, out, x, h, w, oh, ow, n);
}

extern "C" void sg_cuda_resize_nearest_backward(float *dx, const float *dout, int planes, int h,
                                                int w, int oh, int ow)
{
    const size_t n = (size_t)planes * h * w;
    if (n) SG_LAUNCH(sg_nearest_bwd_k_, n, dx, dout, h, w, oh, ow, n);
}

extern "C" void sg_cuda_resize_nearest_labels(int32_t *out, const int32_t *x, int planes, int h,
                                              int w, int oh, int ow)
{
    const size_t n = (size_t)planes * oh * ow;
    if (n) SG_LAUNCH(sg_nearest_fwd_k_<int32_t>, n, out, x, h, w, oh, ow, n);
}

/* ---- global average pooling ------------------------------------------------------- */
/* One warp per plane: each lane sums a strided share in double, then a fixed
 * shuffle tree adds the lanes, so the result repeats run to run. */
__global__ static void sg_avgpool_fwd_k_(float *out, const float *x, size_t NC, int HW)
{
    const int lane = (int)(threadIdx.x % 32);
    const size_t warps = (size_t)gridDim.x * (blockDim.x / 32);
    for (size_t p = (blockIdx.x * (size_t)blockDim.x + threadIdx.x) / 32; p < NC; p += warps) {
        const float *xp = x + p * HW;
        double s = 0.0;
        for (int j = lane; j < HW; j += 32) s += xp[j];
        for (int off = 16; off > 0; off /= 2) s += __shfl_down_sync(0xffffffffu, s, off);
        if (lane == 0) out[p] = sg_avgpool_mean(s, HW);
    }
}

__global__ static void sg_avgpool_bwd_k_(float *dx, const float *dout, int HW, size_t n)
{
    SG_CUDA_FOR(i, n) dx[i] += sg_avgpool_grad(dout[i / (size_t)HW], HW);
}

extern "C" void sg_cuda_global_avgpool_forward(float *out, const float *x, int NC, int HW)
{
    if (NC > 0) SG_LAUNCH(sg_avgpool_fwd_k_, (size_t)NC * 32, out, x, (size_t)NC, HW);
}

extern "C" void sg_cuda_global_avgpool_backward(float *dx, const float *dout, int NC, int HW)
{
    const size_t n = (size_t)NC * HW;
    if (n) SG_LAUNCH(sg_avgpool_bwd_k_, n, dx, dout, HW, n);
}

/* ---- max pooling ----------------------------------------------------------------- */
__global__ static void sg_maxpool_fwd_k_(float *out, int32_t *argmax, const float *x, int H,
                                         int W, int Ho, int Wo, int kernel, int stride, int pad,
                                         size_t n)
{
    SG_CUDA_FOR(o, n)
    {
        const size_t r = o / (size_t)Wo, p = r / (size_t)Ho;
        int best;
        out[o] = sg_maxpool_window(x + p * H * W, H, W, (int)(r % (size_t)Ho),
                                   (int)(o % (size_t)Wo), kernel, stride, pad, &best);
        if (argmax) argmax[o] = best;
    }
}

/* The outputs along one axis whose window [o * stride - pad, + kernel)
 * holds position v: [*lo, *hi]. */
__device__ static void sg_windows_at_(int v, int kernel, int stride, int pad, int out, int *lo,
                                      int *hi)
{
    const int t = v + pad - kernel;
    *lo = t < 0 ? 0 : t / stride + 1;
    const int h = (v + pad) / stride;
    *hi = h < out - 1 ? h : out - 1;
}

/* dx element e of its plane sums dout over the outputs whose window holds it
 * and whose argmax it is, in output order as the CPU's scatter. */
__global__ static void sg_maxpool_bwd_k_(float *dx, bool dx_zero, const float *dout,
                                         const int32_t *argmax, int H, int W, int Ho, int Wo,
                                         int kernel, int stride, int pad, size_t n)
{
    SG_CUDA_FOR(i, n)
    {
        const size_t plane = (size_t)H * W, p = i / plane;
        const int e = (int)(i % plane), hh = e / W, ww = e % W;
        int oh0, oh1, ow0, ow1;
        sg_windows_at_(hh, kernel, stride, pad, Ho, &oh0, &oh1);
        sg_windows_at_(ww, kernel, stride, pad, Wo, &ow0, &ow1);
        const size_t base = p * Ho * Wo;
        float g = dx_zero ? 0.0f : dx[i];
        for (int oh = oh0; oh <= oh1; oh++)
            for (int ow = ow0; ow <= ow1; ow++) {
                const size_t o = base + (size_t)oh * Wo + ow;
                if (argmax[o] == e) g += dout[o];
            }
        dx[i] = g;
    }
}

extern "C" void *sg_cuda_maxpool2d_forward(sg_arena *ws, float *out, const float *x, bool record,
                                           int N, int C, int H, int W, int Ho, int Wo, int kernel,
                                           int stride, int pad)
{
    const size_t n = (size_t)N * C * Ho * Wo;
    int32_t *argmax = record ? (int32_t *)sg_arena_alloc(ws, n * sizeof(int32_t)) : NULL;
    if (n)
        SG_LAUNCH(sg_maxpool_fwd_k_, n, out, argmax, x, H, W, Ho, Wo, kernel, stride, pad, n);
    return argmax;
}

extern "C" void sg_cuda_maxpool2d_backward(float *dx, bool dx_zero, const float *dout,
                                           const void *saved, int N, int C, int H, int W, int Ho,
                                           int Wo, int kernel, int stride, int pad)
{
    const size_t n = (size_t)N * C * H * W;
    if (n)
        SG_LAUNCH(sg_maxpool_bwd_k_, n, dx, dx_zero, dout, (const int32_t *)saved, H, W, Ho, Wo,
                  kernel, stride, pad, n);
}
