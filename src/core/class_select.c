/*
 * class_select.c: class-aware relative pseudo-label selection
 * (class_select.h), DSSN's get_adaptive_binary_mask
 * (kunzhan/DSSN@efaee86:voc/util/utils.py). Host-side: the selection is a
 * per-(image, class) maximum and a comparison, done on a copy of the
 * probabilities read from the context's device.
 *
 * Covered by tests/test_dssn.c.
 */
#include "semiseg/class_select.h"

#include <stdlib.h>
#include <string.h>

sg_tensor *sg_class_relative_mask(sg_ctx *ctx, sg_tensor *logits, float gate, float factor)
{
    char a[SG_SHAPE_STR_LEN];
    SG_CHECK(logits->dtype == SG_F32 && logits->ndim == 4,
             "sg_class_relative_mask: logits must be float (N, K, H, W), got %s",
             sg_shape_str(logits, a, sizeof a));
    SG_CHECK(gate >= 0.0f && gate <= 1.0f && factor > 0.0f && factor <= 1.0f && gate * factor >= 0.5f,
             "sg_class_relative_mask: gate %g and factor %g need gate in [0, 1], factor in (0, 1] and "
             "gate * factor >= 0.5 (so that at most one class passes)",
             (double)gate, (double)factor);
    sg_check_device(ctx, "sg_class_relative_mask", logits);
    const int N = logits->shape[0], K = logits->shape[1];
    const size_t HW = (size_t)logits->shape[2] * (size_t)logits->shape[3];
    const int shape[3] = {N, logits->shape[2], logits->shape[3]};
    sg_tensor *out = sg_tensor_new(ctx, SG_F32, 3, shape);

    /* conf = torch.softmax(logit, dim=1): the same arithmetic as torch's. */
    const sg_arena_mark mark = sg_arena_get_mark(&ctx->arena);
    bool was = sg_ctx_set_grad(ctx, false);
    sg_tensor *prob = sg_softmax(ctx, logits, 1);
    sg_ctx_set_grad(ctx, was);
    float *p = sg_xmalloc(sg_numel(prob) * sizeof(float));
    sg_tensor_read(prob, p);
    sg_arena_release(&ctx->arena, mark);

    float *sel = sg_xcalloc((size_t)N * HW, sizeof(float));
    for (int n = 0; n < N; n++) {
        for (int k = 0; k < K; k++) {
            const float *pk = p + ((size_t)n * K + k) * HW;
            /* max_value = torch.max(conf.reshape(N, K, -1), dim=2) */
            float m = pk[0];
            for (size_t i = 1; i < HW; i++) m = pk[i] > m ? pk[i] : m;
            /* new_max = torch.where(max_value > 0.92, max_value * 0.96, max_value)
             * (float32 products, as torch multiplies a float tensor by a scalar) */
            const float t = m > gate ? m * factor : m;
            /* binary_mask = (conf > thresh); result = torch.sum(binary_mask, dim=1) */
            for (size_t i = 0; i < HW; i++)
                if (pk[i] > t) sel[(size_t)n * HW + i] = 1.0f;
        }
    }
    sg_tensor_write(out, sel);
    free(sel);
    free(p);
    return out;
}
