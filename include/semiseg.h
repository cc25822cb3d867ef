/*
 * semiseg.h: the public API, one umbrella header (prefix sg_).
 *
 * base    errors, threads          rng     counter-based random numbers
 * tensor  tensors, arena, context  tape    reverse-mode autograd
 * ops     differentiable ops       optim   parameters, SGD, poly LR, EMA
 */
#ifndef SEMISEG_H
#define SEMISEG_H

#include "semiseg/base.h"
#include "semiseg/rng.h"
#include "semiseg/tensor.h"
#include "semiseg/tape.h"
#include "semiseg/ops.h"
#include "semiseg/optim.h"

#endif
