/*
 * cuda_softmax_loss.cu: the CUDA entries of the kernel table (backend.h) for
 * softmax, the per-element losses and the per-pixel channel scans.
 *
 *   softmax / log_softmax fwd, bwd  (outer, C, inner), over C   torch.softmax,
 *                                   torch.log_softmax and their backward
 *   cross_entropy fwd, bwd          logits (N, K, HW), target (N, HW)
 *                                   F.cross_entropy(reduction='none') and its
 *                                   gradient (softmax - onehot) g w
 *   mse fwd, bwd                    a, b (n)                    F.mse_loss
 *   kl_div fwd, bwd                 log_input, target (n)       F.kl_div
 *   entropy fwd, bwd                p (N, C, HW) -> (N, HW)     -(p log(p + eps)).sum(1)
 *   pseudo_label                    logits, prob (N, K, HW) -> label, conf (N, HW)
 *   argmax_u8                       x (N, K, HW) -> ids (N, HW) torch.argmax(dim=1)
 *   ohem_target_prob, ohem_select   prob (N, K, HW), target (N, HW) -> pgt, target
 *
 * One thread owns one position (or pixel) and walks its channels in order,
 * as the CPU kernels do per position: the channel sums run in double in the
 * CPU's order, so no reduction tree is involved and the results repeat
 * bitwise. Neighbouring threads take neighbouring positions of the
 * contiguous inner axis, which keeps the strided channel loads coalesced.
 * The reduced losses' backward reads the upstream gradient dout[0] on the
 * device (scale = dout[0] / divisor, sg_loss_scale), so the host never waits.
 *
 * The per-element arithmetic is the CPU kernels' own (softmax_math.h,
 * loss_math.h, channel_math.h under src/cpu/). Covered by
 * tests/test_backend_ops.c (against the reference CPU backend).
 */
#include "semiseg/base.h"
#include "cuda_check.h"
#include "cuda_grid.h"
#include "cuda_kernels.h"

#include "../cpu/channel_math.h"
#include "../cpu/loss_math.h"
#include "../cpu/semi_math.h"
#include "../cpu/softmax_math.h"

/* ---- softmax, log-softmax ----------------------------------------------------------- */

/* Element (o, c, i) of (outer, C, inner) is at (o C + c) inner + i: position
 * p = o inner + i starts at this offset, its channels `inner` apart. */
__device__ static size_t sg_position_base_(size_t p, int C, size_t inner)
{
    return (p / inner) * (size_t)C * inner + p % inner;
}

template <bool LOG>
__global__ static void sg_softmax_forward_kernel_(float *out, const float *x, size_t positions,
                                                  int C, size_t inner)
{
    SG_CUDA_FOR(p, positions)
    {
        const size_t base = sg_position_base_(p, C, inner);
        const float *xp = x + base;
        float *op = out + base;
        float m = xp[0];
        for (int c = 1; c < C; c++) m = fmaxf(m, xp[c * inner]);
        double s = 0.0;
        for (int c = 0; c < C; c++) s += sg_sm_exp1(xp[c * inner], m);
        if (LOG) {
            const double log_s = log(s);
            for (int c = 0; c < C; c++) op[c * inner] = sg_log_softmax1(xp[c * inner], m, log_s);
        } else {
            for (int c = 0; c < C; c++) op[c * inner] = sg_softmax1(xp[c * inner], m, s);
        }
    }
}

/* softmax: dx += y (dout - sum_c dout y); log-softmax: dx += dout - exp(y) sum_c dout. */
template <bool LOG>
__global__ static void sg_softmax_backward_kernel_(float *dx, const float *dout, const float *y,
                                                   size_t positions, int C, size_t inner)
{
    SG_CUDA_FOR(p, positions)
    {
        const size_t base = sg_position_base_(p, C, inner);
        const float *gp = dout + base, *yp = y + base;
        float *dp = dx + base;
        double s = 0.0;
        for (int c = 0; c < C; c++)
            s += LOG ? (double)gp[c * inner] : sg_softmax_dot1(gp[c * inner], yp[c * inner]);
        for (int c = 0; c < C; c++)
            dp[c * inner] += LOG ? sg_log_softmax_grad1(gp[c * inner], yp[c * inner], s)
                                 : sg_softmax_grad1(gp[c * inner], yp[c * inner], s);
    }
}

template <bool LOG>
static void sg_softmax_forward_(float *out, const float *x, int outer, int C, int inner)
{
    const size_t positions = (size_t)outer * (size_t)inner;
    if (positions == 0 || C <= 0) return;
    sg_softmax_forward_kernel_<LOG><<<sg_cuda_grid(positions), SG_CUDA_THREADS>>>(
        out, x, positions, C, (size_t)inner);
    SG_CUDA_LAUNCHED(LOG ? "sg_softmax_forward_kernel_<log>" : "sg_softmax_forward_kernel_");
}

template <bool LOG>
static void sg_softmax_backward_(float *dx, const float *dout, const float *y, int outer, int C,
                                 int inner)
{
    const size_t positions = (size_t)outer * (size_t)inner;
    if (positions == 0 || C <= 0) return;
    sg_softmax_backward_kernel_<LOG><<<sg_cuda_grid(positions), SG_CUDA_THREADS>>>(
        dx, dout, y, positions, C, (size_t)inner);
    SG_CUDA_LAUNCHED(LOG ? "sg_softmax_backward_kernel_<log>" : "sg_softmax_backward_kernel_");
}

extern "C" void sg_cuda_softmax_forward(float *out, const float *x, int outer, int C, int inner)
{
    sg_softmax_forward_<false>(out, x, outer, C, inner);
}

extern "C" void sg_cuda_softmax_backward(float *dx, const float *dout, const float *y, int outer,
                                         int C, int inner)
{
    sg_softmax_backward_<false>(dx, dout, y, outer, C, inner);
}

extern "C" void sg_cuda_log_softmax_forward(float *out, const float *x, int outer, int C,
                                            int inner)
{
    sg_softmax_forward_<true>(out, x, outer, C, inner);
}

extern "C" void sg_cuda_log_softmax_backward(float *dx, const float *dout, const float *y,
                                             int outer, int C, int inner)
{
    sg_softmax_backward_<true>(dx, dout, y, outer, C, inner);
}

/* ---- cross-entropy ---------------------------------------------------------------------- */

/* Pixel p of (N, HW): logsumexp over K, ce = lse - x[target] (0 at ignored
 * pixels, whose target is not read as a channel), wce = weight ce. */
__global__ static void sg_ce_forward_kernel_(float *ce, float *lse, float *wce,
                                             const float *logits, const int32_t *target,
                                             const float *weight, size_t np, int K, size_t HW,
                                             int ignore_index)
{
    SG_CUDA_FOR(p, np)
    {
        const float *x = logits + (p / HW) * (size_t)K * HW + p % HW;
        float m = x[0];
        for (int k = 1; k < K; k++) m = fmaxf(m, x[k * HW]);
        double s = 0.0;
        for (int k = 0; k < K; k++) s += sg_sm_exp1(x[k * HW], m);
        const double l = sg_ce_lse(m, s);
        const int32_t c = target[p];
        lse[p] = (float)l;
        const float v = c == ignore_index ? 0.0f : sg_ce1(l, x[(size_t)c * HW]);
        ce[p] = v;
        if (wce) wce[p] = sg_ce_weighted1(weight, p, v);
    }
}

extern "C" void sg_cuda_cross_entropy_forward(float *ce, float *lse, float *wce,
                                              const float *logits, const int32_t *target,
                                              const float *weight, int N, int K, int HW,
                                              int ignore_index)
{
    const size_t np = (size_t)N * (size_t)HW;
    if (np == 0 || K <= 0) return;
    sg_ce_forward_kernel_<<<sg_cuda_grid(np), SG_CUDA_THREADS>>>(ce, lse, wce, logits, target,
                                                                  weight, np, K, (size_t)HW,
                                                                  ignore_index);
    SG_CUDA_LAUNCHED("sg_ce_forward_kernel_");
}

/* dweight += g ce at non-ignored pixels, g = scale dout[p] (reduced: scale). */
__global__ static void sg_ce_dweight_kernel_(float *dweight, const float *dout, bool per_pixel,
                                             double divisor, const float *ce,
                                             const int32_t *target, size_t np, int ignore_index)
{
    const double scale = sg_loss_scale(dout, per_pixel, divisor);
    const float *dp = per_pixel ? dout : NULL;
    SG_CUDA_FOR(p, np)
    {
        if (target[p] != ignore_index)
            dweight[p] += sg_ce_dweight1(scale * sg_loss_dout1(dp, p), ce[p]);
    }
}

/* Element e of (N, K, HW): dlogits += g w (softmax - [k == target]). */
__global__ static void sg_ce_dlogits_kernel_(float *dlogits, const float *dout, bool per_pixel,
                                             double divisor, const float *logits,
                                             const float *lse, const int32_t *target,
                                             const float *weight, size_t n, int K, size_t HW,
                                             int ignore_index)
{
    const double scale = sg_loss_scale(dout, per_pixel, divisor);
    const float *dp = per_pixel ? dout : NULL;
    SG_CUDA_FOR(e, n)
    {
        const size_t nk = e / HW;
        const size_t p = (nk / (size_t)K) * HW + e % HW;
        const int k = (int)(nk % (size_t)K);
        const int32_t c = target[p];
        if (c == ignore_index) continue;
        double g = scale * sg_loss_dout1(dp, p);
        if (weight) g *= (double)weight[p];
        dlogits[e] += sg_ce_grad1(g, logits[e], lse[p], c == k);
    }
}

extern "C" void sg_cuda_cross_entropy_backward(float *dlogits, float *dweight, const float *dout,
                                               bool per_pixel, double divisor,
                                               const float *logits, const float *lse,
                                               const float *ce, const int32_t *target,
                                               const float *weight, int N, int K, int HW,
                                               int ignore_index)
{
    const size_t np = (size_t)N * (size_t)HW;
    if (np == 0 || K <= 0) return;
    if (dweight) {
        sg_ce_dweight_kernel_<<<sg_cuda_grid(np), SG_CUDA_THREADS>>>(
            dweight, dout, per_pixel, divisor, ce, target, np, ignore_index);
        SG_CUDA_LAUNCHED("sg_ce_dweight_kernel_");
    }
    if (dlogits) {
        const size_t n = np * (size_t)K;
        sg_ce_dlogits_kernel_<<<sg_cuda_grid(n), SG_CUDA_THREADS>>>(
            dlogits, dout, per_pixel, divisor, logits, lse, target, weight, n, K, (size_t)HW,
            ignore_index);
        SG_CUDA_LAUNCHED("sg_ce_dlogits_kernel_");
    }
}

/* ---- MSE, KL divergence -------------------------------------------------------------------- */

__global__ static void sg_mse_forward_kernel_(float *out, const float *a, const float *b, size_t n)
{
    SG_CUDA_FOR(i, n) out[i] = sg_mse1(a[i], b[i]);
}

__global__ static void sg_mse_backward_kernel_(float *da, float *db, const float *dout,
                                               bool per_element, double divisor, const float *a,
                                               const float *b, size_t n)
{
    const double scale = sg_loss_scale(dout, per_element, divisor);
    const float *dp = per_element ? dout : NULL;
    SG_CUDA_FOR(i, n)
    {
        const double g = sg_mse_grad1(scale, sg_loss_dout1(dp, i), a[i], b[i]);
        if (da) da[i] += (float)g;
        if (db) db[i] -= (float)g;
    }
}

extern "C" void sg_cuda_mse_forward(float *out, const float *a, const float *b, size_t n)
{
    if (n == 0) return;
    sg_mse_forward_kernel_<<<sg_cuda_grid(n), SG_CUDA_THREADS>>>(out, a, b, n);
    SG_CUDA_LAUNCHED("sg_mse_forward_kernel_");
}

extern "C" void sg_cuda_mse_backward(float *da, float *db, const float *dout, bool per_element,
                                     double divisor, const float *a, const float *b, size_t n)
{
    if (n == 0 || (!da && !db)) return;
    sg_mse_backward_kernel_<<<sg_cuda_grid(n), SG_CUDA_THREADS>>>(da, db, dout, per_element,
                                                                   divisor, a, b, n);
    SG_CUDA_LAUNCHED("sg_mse_backward_kernel_");
}

__global__ static void sg_kl_forward_kernel_(float *out, const float *log_input,
                                             const float *target, size_t n)
{
    SG_CUDA_FOR(i, n) out[i] = sg_kl1(log_input[i], target[i]);
}

__global__ static void sg_kl_backward_kernel_(float *dlog_input, float *dtarget,
                                              const float *dout, bool per_element,
                                              double divisor, const float *log_input,
                                              const float *target, size_t n)
{
    const double scale = sg_loss_scale(dout, per_element, divisor);
    const float *dp = per_element ? dout : NULL;
    SG_CUDA_FOR(i, n)
    {
        const double g = scale * sg_loss_dout1(dp, i);
        const double t = target[i];
        if (dlog_input) dlog_input[i] += sg_kl_grad_input1(t, g);
        if (dtarget) dtarget[i] += sg_kl_grad_target1(t, log_input[i], g);
    }
}

extern "C" void sg_cuda_kl_div_forward(float *out, const float *log_input, const float *target,
                                       size_t n)
{
    if (n == 0) return;
    sg_kl_forward_kernel_<<<sg_cuda_grid(n), SG_CUDA_THREADS>>>(out, log_input, target, n);
    SG_CUDA_LAUNCHED("sg_kl_forward_kernel_");
}

extern "C" void sg_cuda_kl_div_backward(float *dlog_input, float *dtarget, const float *dout,
                                        bool per_element, double divisor, const float *log_input,
                                        const float *target, size_t n)
{
    if (n == 0 || (!dlog_input && !dtarget)) return;
    sg_kl_backward_kernel_<<<sg_cuda_grid(n), SG_CUDA_THREADS>>>(
        dlog_input, dtarget, dout, per_element, divisor, log_input, target, n);
    SG_CUDA_LAUNCHED("sg_kl_backward_kernel_");
}

/* ---- entropy ------------------------------------------------------------------------------- */

__global__ static void sg_entropy_forward_kernel_(float *out, const float *p, float eps, size_t np,
                                                  int C, size_t HW)
{
    SG_CUDA_FOR(q, np)
    {
        const float *pp = p + (q / HW) * (size_t)C * HW + q % HW;
        double s = 0.0;
        for (int c = 0; c < C; c++) s += sg_entropy_term1(pp[c * HW], eps);
        out[q] = sg_entropy_finish(s);
    }
}

__global__ static void sg_entropy_backward_kernel_(float *dp, const float *dout, const float *p,
                                                   float eps, size_t np, int C, size_t HW)
{
    SG_CUDA_FOR(q, np)
    {
        const size_t base = (q / HW) * (size_t)C * HW + q % HW;
        const double g = dout[q];
        for (int c = 0; c < C; c++)
            dp[base + c * HW] += sg_entropy_grad1(p[base + c * HW], eps, g);
    }
}

extern "C" void sg_cuda_entropy_forward(float *out, const float *p, float eps, int N, int C,
                                        int HW)
{
    const size_t np = (size_t)N * (size_t)HW;
    if (np == 0) return;
    sg_entropy_forward_kernel_<<<sg_cuda_grid(np), SG_CUDA_THREADS>>>(out, p, eps, np, C,
                                                                       (size_t)HW);
    SG_CUDA_LAUNCHED("sg_entropy_forward_kernel_");
}

extern "C" void sg_cuda_entropy_backward(float *dp, const float *dout, const float *p, float eps,
                                         int N, int C, int HW)
{
    const size_t np = (size_t)N * (size_t)HW;
    if (np == 0 || C <= 0) return;
    sg_entropy_backward_kernel_<<<sg_cuda_grid(np), SG_CUDA_THREADS>>>(dp, dout, p, eps, np, C,
                                                                        (size_t)HW);
    SG_CUDA_LAUNCHED("sg_entropy_backward_kernel_");
}

/* ---- pseudo-labels, class ids ------------------------------------------------------------- */

/* label = first argmax of the logits; conf = prob at the first argmax of prob
 * (the max of the softmax, as UniMatch's pred.softmax(1).max(1)). */
__global__ static void sg_pseudo_label_kernel_(int32_t *label, float *conf, const float *logits,
                                               const float *prob, size_t np, int K, size_t HW)
{
    SG_CUDA_FOR(p, np)
    {
        const size_t off = (p / HW) * (size_t)K * HW + p % HW;
        label[p] = sg_argmax_first(logits + off, K, HW);
        conf[p] = prob[off + (size_t)sg_argmax_first(prob + off, K, HW) * HW];
    }
}

extern "C" void sg_cuda_pseudo_label(int32_t *label, float *conf, const float *logits,
                                     const float *prob, int N, int K, size_t HW)
{
    const size_t np = (size_t)N * HW;
    if (np == 0 || K <= 0) return;
    sg_pseudo_label_kernel_<<<sg_cuda_grid(np), SG_CUDA_THREADS>>>(label, conf, logits, prob, np,
                                                                    K, HW);
    SG_CUDA_LAUNCHED("sg_pseudo_label_kernel_");
}

__global__ static void sg_argmax_u8_kernel_(uint8_t *ids, const float *x, size_t np, int K,
                                            size_t HW)
{
    SG_CUDA_FOR(p, np)
    {
        ids[p] = (uint8_t)sg_argmax_nan_first(x + (p / HW) * (size_t)K * HW + p % HW, K, HW);
    }
}

extern "C" void sg_cuda_argmax_u8(uint8_t *ids, const float *x, int N, int K, size_t HW)
{
    const size_t np = (size_t)N * HW;
    if (np == 0 || K <= 0) return;
    sg_argmax_u8_kernel_<<<sg_cuda_grid(np), SG_CUDA_THREADS>>>(ids, x, np, K, HW);
    SG_CUDA_LAUNCHED("sg_argmax_u8_kernel_");
}

/* ---- OHEM's two element-wise halves ------------------------------------------------ */

__global__ static void sg_ohem_target_prob_kernel_(float *pgt, const float *prob,
                                                   const int32_t *target, int ignore_index,
                                                   size_t np, int K, size_t HW)
{
    SG_CUDA_FOR(p, np)
    {
        pgt[p] = sg_ohem_target_prob1(target[p], ignore_index, K,
                                      prob + (p / HW) * (size_t)K * HW + p % HW, HW);
    }
}

extern "C" void sg_cuda_ohem_target_prob(float *pgt, const float *prob, const int32_t *target,
                                         int ignore_index, int N, int K, size_t HW)
{
    const size_t np = (size_t)N * HW;
    if (np == 0) return;
    sg_ohem_target_prob_kernel_<<<sg_cuda_grid(np), SG_CUDA_THREADS>>>(pgt, prob, target,
                                                                      ignore_index, np, K, HW);
    SG_CUDA_LAUNCHED("sg_ohem_target_prob_kernel_");
}

__global__ static void sg_ohem_select_kernel_(int32_t *out, const int32_t *target, const float *pgt,
                                              float tau, int ignore_index, size_t n)
{
    SG_CUDA_FOR(i, n) { out[i] = sg_ohem_select1(target[i], pgt[i], tau, ignore_index); }
}

extern "C" void sg_cuda_ohem_select(int32_t *out, const int32_t *target, const float *pgt,
                                    float tau, int ignore_index, size_t n)
{
    if (n == 0) return;
    sg_ohem_select_kernel_<<<sg_cuda_grid(n), SG_CUDA_THREADS>>>(out, target, pgt, tau,
                                                                 ignore_index, n);
    SG_CUDA_LAUNCHED("sg_ohem_select_kernel_");
}
