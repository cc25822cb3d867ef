/*
 * tape.h: define-by-run reverse-mode autograd.
 *
 * Every differentiable op, when recording is on and one of its inputs requires
 * a gradient, appends a node to the context's tape. A node starts with
 * sg_node (op name, backward function, output) followed by whatever the op
 * saved for its backward. sg_backward() seeds d(loss)=1 and calls the nodes in
 * reverse; each backward ADDS (+=) into its inputs' gradients, so a tensor
 * used twice receives the sum, and parameters accumulate across backward calls
 * until sg_param_zero_grad.
 *
 * Covered by tests/test_tape.c and every op's gradient check.
 */
#ifndef SEMISEG_TAPE_H
#define SEMISEG_TAPE_H

#include "semiseg/tensor.h"

typedef void (*sg_backward_fn)(sg_ctx *ctx, sg_node *node);

struct sg_node {
    const char *op;           /* e.g. "sg_conv2d": names the op in errors */
    sg_backward_fn backward;
    sg_tensor *out;           /* the op's output; backward reads out->grad */
};

/* True when recording is on and any of the n inputs requires a gradient. */
bool sg_should_record(const sg_ctx *ctx, int n, const sg_tensor *const *inputs);
/* Allocate a node of `bytes` (>= sizeof(sg_node)) in the arena, append it to
 * the tape and mark `out` as requiring a gradient. */
void *sg_tape_record(sg_ctx *ctx, size_t bytes, const char *op, sg_backward_fn fn, sg_tensor *out);

/* Reverse pass from a scalar loss (numel 1): d(loss)/d(loss) = 1. */
void sg_backward(sg_ctx *ctx, sg_tensor *loss);
/* Reverse pass from any recorded tensor with a given upstream gradient
 * (same shape as t, in host memory whatever the context's device); used by
 * gradient checks and multi-output losses. */
void sg_backward_with(sg_ctx *ctx, sg_tensor *t, const float *dout);

#endif
