/*
 * optim.c: SGD with momentum and weight decay for one tensor, and the EMA
 * blend (optim.h). Matches torch.optim.SGD's single-tensor path (dampening
 * 0, no Nesterov) and `ema = ema * decay + p * (1 - decay)` in float32.
 * The per-element arithmetic is in optim_math.h, shared with the CUDA kernels.
 * Covered by tests/test_optim.c and tests/test_backend_ops.c.
 */
#include "optim.h"

#include "optim_math.h"

/* Below these sizes a parallel region costs more than the update. */
#define SG_SGD_PAR_MIN 32768
#define SG_EMA_PAR_MIN 32768

void sg_sgd_update_cpu(float *p, float *buf, const float *g, size_t n, float lr, float wd,
                       float momentum, bool first)
{
    long len = (long)n;
    if (!buf) {
#pragma omp parallel for schedule(static) if (len >= SG_SGD_PAR_MIN)
        for (long i = 0; i < len; i++) p[i] = sg_sgd_step1(p[i], sg_sgd_dir1(g[i], p[i], wd), lr);
        return;
    }
#pragma omp parallel for schedule(static) if (len >= SG_SGD_PAR_MIN)
    for (long i = 0; i < len; i++) {
        float d = sg_sgd_dir1(g[i], p[i], wd);
        buf[i] = first ? d : sg_sgd_momentum1(buf[i], d, momentum);
        p[i] = sg_sgd_step1(p[i], buf[i], lr);
    }
}

void sg_ema_blend_cpu(float *e, const float *p, size_t n, float decay, float keep)
{
    long len = (long)n;
#pragma omp parallel for schedule(static) if (len >= SG_EMA_PAR_MIN)
    for (long i = 0; i < len; i++) e[i] = sg_ema1(e[i], p[i], decay, keep);
}
