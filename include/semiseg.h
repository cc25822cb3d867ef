/*
 * semiseg.h: the public API, one umbrella header (prefix sg_).
 *
 * base        errors, threads             rng       counter-based random numbers
 * tensor      tensors, arena, context       tape      reverse-mode autograd
 * ops         differentiable ops            optim     parameters, SGD, poly LR, EMA
 * io          atomic file writes            image     PNG/JPEG images and masks
 * model       ResNet, DeepLabV3+            checkpoint safetensors, checkpoints, weights
 * dataset     VOC, Cityscapes, list sets    split     split files and seeds
 * augment     weak/strong augmentation      loader    prefetching batch loader
 * synth       synthetic VOC-format data     metrics   confusion matrix, mIoU, eval modes
 * config      configuration files           run       the run driver and the method interface
 * semi        semi-supervised building blocks (pseudo-labels, CutMix, masked losses)
 * method      the run layer's method toolkit (partner batches, teacher, glue to run.h)
 * backend     the kernel table, devices
 * The CUDA backend has its own header, semiseg/cuda.h (--with-cuda).
 */
#ifndef SEMISEG_H
#define SEMISEG_H

#include "semiseg/base.h"
#include "semiseg/rng.h"
#include "semiseg/tensor.h"
#include "semiseg/tape.h"
#include "semiseg/ops.h"
#include "semiseg/optim.h"
#include "semiseg/io.h"
#include "semiseg/image.h"
#include "semiseg/model.h"
#include "semiseg/mit.h"
#include "semiseg/allspark.h"
#include "semiseg/checkpoint.h"
#include "semiseg/dataset.h"
#include "semiseg/split.h"
#include "semiseg/augment.h"
#include "semiseg/loader.h"
#include "semiseg/synth.h"
#include "semiseg/metrics.h"
#include "semiseg/config.h"
#include "semiseg/run.h"
#include "semiseg/semi.h"
#include "semiseg/method.h"

#endif
