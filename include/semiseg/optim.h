/*
 * optim.h: named parameter sets, SGD with momentum and weight decay,
 * parameter groups with learning-rate multipliers, the poly schedule and the
 * exponential moving average (EMA / mean teacher) of parameters and buffers.
 *
 * Semantics are torch.optim.SGD (dampening 0, no Nesterov):
 *   d = g + wd * p;  buf = d on the first step, else buf = momentum * buf + d;
 *   p -= lr_group * buf.
 * Poly: lr = base * (1 - iter / total)^power (UniMatch/U2PL use power 0.9).
 * EMA: e = decay * e + (1 - decay) * p.
 *
 * Covered by tests/test_optim.c (parity with torch.optim.SGD and a 20-step
 * training curve against PyTorch).
 */
#ifndef SEMISEG_OPTIM_H
#define SEMISEG_OPTIM_H

#include "semiseg/tensor.h"

#define SG_PARAM_NAME_LEN 128
#define SG_MAX_PARAM_GROUPS 8

typedef struct sg_param {
    char name[SG_PARAM_NAME_LEN]; /* torchvision-style dotted name, e.g. "layer1.0.conv1.weight" */
    sg_tensor *t;                 /* long-lived; owned by the set */
    int group;                    /* optimizer parameter group index */
} sg_param;

/* A model's parameters (trainable, with gradients) and buffers (e.g. BN
 * running statistics: saved and EMA'd, never trained). */
typedef struct sg_param_set {
    sg_param *params;
    int n_params, cap_params;
    sg_param *buffers;
    int n_buffers, cap_buffers;
} sg_param_set;

void sg_param_set_init(sg_param_set *s);
void sg_param_set_free(sg_param_set *s);
/* Create a zeroed trainable parameter (with grad) or buffer; the name must be unique. */
sg_tensor *sg_param_add(sg_param_set *s, const char *name, int group, int ndim, const int *shape);
sg_tensor *sg_buffer_add(sg_param_set *s, const char *name, int ndim, const int *shape);
/* Look up by name; NULL when absent. */
sg_param *sg_param_find(sg_param_set *s, const char *name);
sg_param *sg_buffer_find(sg_param_set *s, const char *name);
void sg_param_zero_grad(sg_param_set *s);
size_t sg_param_count(const sg_param_set *s);   /* total trainable elements */
/* Copy every parameter and buffer value from src into dst (same names and shapes). */
void sg_param_set_copy(sg_param_set *dst, const sg_param_set *src);
/* Every parameter (with its gradient) and buffer to be's device. */
void sg_param_set_move(sg_param_set *s, const sg_backend *be);

typedef struct sg_param_group {
    float lr_mult;         /* e.g. 1 for the backbone, 10 for the head */
    float weight_decay;
} sg_param_group;

typedef struct sg_sgd {
    float momentum;
    int n_groups;
    sg_param_group groups[SG_MAX_PARAM_GROUPS];
    float **bufs;          /* momentum buffer per parameter, NULL before its first step */
    sg_device *buf_device; /* where each buffer is: its parameter's device */
    int n_bufs;
    long steps;            /* completed steps */
} sg_sgd;

/* All groups start with lr_mult 1 and the given weight decay. */
void sg_sgd_init(sg_sgd *opt, const sg_param_set *s, int n_groups, float momentum, float weight_decay);
void sg_sgd_free(sg_sgd *opt);
/* One step with base learning rate lr (each group uses lr * lr_mult).
 * Parameters without a gradient buffer are an error; zero grads stay valid. */
void sg_sgd_step(sg_sgd *opt, sg_param_set *s, float lr);

/* base * (1 - iter/total)^power, iter in [0, total). */
float sg_poly_lr(float base, long iter, long total, float power);

/* e = decay * e + (1 - decay) * p for every parameter; buffers likewise when
 * ema_buffers (DSSN's teacher averages its whole state), else copied (the
 * Mean Teacher and CutMix-Seg teachers here). A teacher that keeps BN
 * statistics of its own (U2PL's, from its train-mode passes) averages a view
 * of the two sets with n_buffers = 0 (experiments/u2pl/u2pl.c). */
void sg_ema_update(sg_param_set *ema, const sg_param_set *model, float decay, bool ema_buffers);

#endif
