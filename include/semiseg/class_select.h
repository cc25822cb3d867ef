/*
 * class_select.h: class-aware relative pseudo-label selection, DSSN's
 * get_adaptive_binary_mask (Tian, Zhang, Zhang, Zhan, "Dual-level Siamese
 * Structure Network for Semi-supervised Semantic Segmentation", ACM MM
 * 2023; kunzhan/DSSN@efaee86:voc/util/utils.py).
 *
 * For logits z (N, K, H, W), p = softmax(z) over K. Per image n and class k,
 *     m_nk = max over all pixels of p_k          (whatever the argmax),
 *     t_nk = factor * m_nk   if m_nk > gate,   else m_nk,
 * and pixel (n, h, w) is selected iff p_k(n, h, w) > t_nk for some k. A
 * class whose best pixel stays at or below `gate` selects nothing (the
 * strict ">" against its own maximum); otherwise its pixels within
 * (1 - factor) of its best one are kept. The released defaults are gate
 * 0.92, factor 0.96: a pixel is kept when its confidence is within 4 % of
 * the most confident pixel of its class in its image.
 *
 * The released code returns the number of classes that pass and ANDs it
 * bitwise with the non-padding mask; with gate * factor >= 0.5 (required
 * here) every passing threshold exceeds 1/2, so at most one class passes
 * (the argmax) and that number is the 0/1 indicator computed here.
 *
 * Not differentiable (the reference computes it on detached logits).
 * Computed on the host: the softmax runs on the context's backend, the
 * probabilities are read back with sg_tensor_read, and the mask is written
 * with sg_tensor_write (one (N, K, H, W) read per call).
 *
 * Covered by tests/test_dssn.c (tests/ref/gen_dssn.py -> tests/data/dssn.bin:
 * the released function on random logits; and inside DSSN's step).
 */
#ifndef SEMISEG_CLASS_SELECT_H
#define SEMISEG_CLASS_SELECT_H

#include "semiseg/ops.h"

/* (N, H, W) float: 1 where a pixel is selected, else 0. logits (N, K, H, W)
 * float on ctx's device, read without recording; gate in [0, 1], factor in
 * (0, 1], gate * factor >= 0.5 (else aborts). */
sg_tensor *sg_class_relative_mask(sg_ctx *ctx, sg_tensor *logits, float gate, float factor);

#endif
