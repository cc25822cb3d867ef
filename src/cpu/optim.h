/*
 * optim.h: the CPU kernels of the optimizer and the EMA teacher (backend.h
 * entries sgd_update, ema_blend), called by src/core/sgd.c and
 * src/core/ema.c through the tensor's backend. Each element is updated by
 * one thread from its own values, so results do not depend on the thread
 * count. Covered by tests/test_optim.c and tests/test_backend_ops.c.
 */
#ifndef SEMISEG_CPU_OPTIM_H
#define SEMISEG_CPU_OPTIM_H

#include "semiseg/base.h"

void sg_sgd_update_cpu(float *p, float *buf, const float *g, size_t n, float lr, float wd,
                       float momentum, bool first);
void sg_ema_blend_cpu(float *e, const float *p, size_t n, float decay, float keep);

#endif
