/*
 * uccl_loss.c: one UCCL training step (Yin, Chen, Zheng, Zhou, Gu,
 * "Uncertainty-Participation Context Consistency Learning for
 * Semi-supervised Semantic Segmentation", ICASSP 2025, arXiv 2412.17331),
 * the body of the loop in YUKEKEJAN/UCCL@804ce93:UCCL.py: UniMatch's step
 * (experiments/unimatch/unimatch_loss.c, reused in its two stages) plus
 *   SBU  cal_loss_divergence: per image and class, the uncertain pixels'
 *        negated weak/strong feature cosine re-weights the strong
 *        stride-4 CE against the weak stride-4 pseudo-label;
 *   CKR  calculate_region: per image and class, prototypes weighted by the
 *        softmax of the weak class logit over the class region
 *        (include/semiseg/region.h), the maps of weak and strong
 *        prototypes brought together by cosine similarity.
 * Stride 4 = the decoder's resolution (sg_deeplab_out.feature and
 * .logits_lo, deeplabv3plus.py's feature and pre_logit). The comments quote
 * UCCL.py; B = the unlabeled batch size, h x w the stride-4 size.
 *
 * The trainer (uccl.c) adds backward, the SGD step and the logging.
 * Covered by tests/test_uccl.c (one iteration against
 * tests/ref/gen_uccl.py's PyTorch re-implementation of UCCL.py) and
 * tests/trainer_uccl.sh.
 */
#include <math.h>
#include <string.h>

#include "semiseg/region.h"
#include "uccl_loss.h"

/* A float tensor of ctx with the given host values. */
static sg_tensor *const_f32_(sg_ctx *ctx, int ndim, const int *shape, const float *v)
{
    sg_tensor *t = sg_tensor_new(ctx, SG_F32, ndim, shape);
    sg_tensor_write(t, v);
    return t;
}

/* A header over t's values that carries no gradient (x.detach()). */
static sg_tensor *detach_(sg_ctx *ctx, sg_tensor *t)
{
    return sg_tensor_view(ctx, t, t->ndim, t->shape);
}

/* The pasted ignore map of one view brought to (h, w), as int32 on ctx and
 * as host validity flags (1 = not ignored):
 *   ignore_mask_for_u_v = F.interpolate(ignore_mask_for_u_v.float().unsqueeze(1), size=(hh, ww),
 *                                       mode="bilinear", align_corners=True).squeeze(1)
 * and the tests `!= 255`: a bilinear blend of 0 and 255 is not 255, so only
 * pixels whose every neighbour is padding stay ignored. ignore_bilinear =
 * false takes the nearest pixel instead. Host logic (no gradient). */
static sg_tensor *ignore_lo_(sg_ctx *ctx, const sg_tensor *ign, int h, int w, bool bilinear, float *valid)
{
    const int n = ign->shape[0], S = ign->shape[1] * ign->shape[2];
    const size_t m = (size_t)n * h * w;
    int32_t *out = sg_arena_alloc(sg_ctx_host_arena(ctx), m * sizeof *out);
    if (bilinear) {
        int32_t *iv = sg_arena_alloc(sg_ctx_host_arena(ctx), (size_t)n * S * sizeof *iv);
        float *fv = sg_arena_alloc(sg_ctx_host_arena(ctx), (size_t)n * S * sizeof *fv);
        sg_tensor_read(ign, iv);
        for (size_t i = 0; i < (size_t)n * S; i++) fv[i] = (float)iv[i];
        sg_tensor *f = const_f32_(ctx, 4, (const int[]){n, 1, ign->shape[1], ign->shape[2]}, fv);
        sg_tensor *r = sg_resize_bilinear(ctx, f, h, w, true);
        float *rv = sg_arena_alloc(sg_ctx_host_arena(ctx), m * sizeof *rv);
        sg_tensor_read(r, rv);
        for (size_t i = 0; i < m; i++) out[i] = rv[i] == 255.0f ? 255 : 0;
    } else {
        sg_tensor_read(sg_resize_nearest_labels(ctx, ign, h, w), out);
    }
    for (size_t i = 0; i < m; i++) valid[i] = out[i] != 255;
    sg_tensor *t = sg_tensor_new(ctx, SG_I32, 3, (const int[]){n, h, w});
    sg_tensor_write(t, out);
    return t;
}

/* cal_loss_divergence(Similarity, label_u_w, pred, ignore_mask_for_u, ...)
 * for one view: sim (B, h, w) = cos(feat_w.detach(), feat_s); pw the
 * pseudo-label of the weak stride-4 logits (label = softmax.max(dim=1)[1],
 * conf = its max); pred (B, K, h, w) the strong stride-4 logits; valid the
 * host flags of ignore_lo_. For image b and class k:
 *   U = (label == k) & (ignore != 255) & (conf <= conf_thresh); skipped if empty
 *   omega = softmax over all h w pixels of (-sim) * U     (sbu_softmax_all)
 *         | softmax over U of -sim, 0 elsewhere         (otherwise)
 *   l_k = sum_px omega * CE(pred, label) * (ignore != 255)
 * image loss = mean of l_k over its classes (0 without one); L = sum / B.
 * All (b, k) pairs go through one (P, h w) matrix. */
static sg_tensor *sbu_(sg_ctx *ctx, sg_tensor *sim, const sg_pseudo *pw, sg_tensor *pred, const float *valid,
                       int n_classes, const uccl_params *hp)
{
    const int B = sim->shape[0], hw = sim->shape[1] * sim->shape[2];
    const size_t m = (size_t)B * hw;
    sg_arena *ha = sg_ctx_host_arena(ctx);
    int32_t *lab = sg_arena_alloc(ha, m * sizeof *lab);
    float *conf = sg_arena_alloc(ha, m * sizeof *conf);
    sg_tensor_read(pw->label, lab);
    sg_tensor_read(pw->conf, conf);
    /* index = (max_logit <= cfg['conf_thresh']); the uncertain pixels of each (b, k). */
    int *img = sg_arena_alloc(ha, (size_t)B * n_classes * sizeof *img);
    int *cls = sg_arena_alloc(ha, (size_t)B * n_classes * sizeof *cls);
    int *per_image = sg_arena_alloc(ha, (size_t)B * sizeof *per_image);
    int P = 0;
    for (int b = 0; b < B; b++) {
        per_image[b] = 0;
        for (int k = 0; k < n_classes; k++) {
            bool any = false;
            for (int p = 0; p < hw && !any; p++) {
                const size_t i = (size_t)b * hw + p;
                any = lab[i] == k && valid[i] != 0.0f && conf[i] <= hp->um.conf_thresh;
            }
            if (!any) continue;
            img[P] = b;
            cls[P++] = k;
            per_image[b]++;
        }
    }
    /* loss_all = torch.tensor(0): no uncertain pixel anywhere (e.g.
     * Cityscapes' conf_thresh = 0) leaves a constant 0. */
    if (P == 0) return const_f32_(ctx, 1, (const int[]){1}, (const float[]){0.0f});
    const size_t e = (size_t)P * hw;
    float *neg = sg_arena_alloc(ha, e * sizeof *neg);
    float *outside = sg_arena_alloc(ha, e * sizeof *outside);
    float *scale = sg_arena_alloc(ha, e * sizeof *scale);
    for (int r = 0; r < P; r++) {
        const int b = img[r];
        const float s = 1.0f / ((float)per_image[b] * (float)B);
        for (int p = 0; p < hw; p++) {
            const size_t i = (size_t)b * hw + p, j = (size_t)r * hw + p;
            const bool u = lab[i] == cls[r] && valid[i] != 0.0f && conf[i] <= hp->um.conf_thresh;
            /* Similarity_per_bacth_size * (-1) * mask; the restricted
             * variant also adds -inf outside U. */
            neg[j] = u ? -1.0f : 0.0f;
            outside[j] = u ? 0.0f : -INFINITY;
            scale[j] = s;
        }
    }
    const int shape[2] = {P, hw};
    sg_tensor *rows = sg_index_select(ctx, sg_reshape(ctx, sim, 2, (const int[]){B, hw}), img, P);
    sg_tensor *score = sg_mul(ctx, rows, const_f32_(ctx, 2, shape, neg));
    if (!hp->sbu_softmax_all) score = sg_add(ctx, score, const_f32_(ctx, 2, shape, outside));
    sg_tensor *omega = sg_softmax(ctx, score, 1);
    /* criterion_u(pred, label) * (batch_ig != 255), summed per (b, k) */
    sg_tensor *ce = sg_cross_entropy(ctx, pred, pw->label, NULL, -100, SG_REDUCE_NONE);
    ce = sg_mul(ctx, ce, const_f32_(ctx, 3, (const int[]){B, sim->shape[1], sim->shape[2]}, valid));
    sg_tensor *cer = sg_index_select(ctx, sg_reshape(ctx, ce, 2, (const int[]){B, hw}), img, P);
    sg_tensor *l = sg_mul(ctx, sg_mul(ctx, omega, cer), const_f32_(ctx, 2, shape, scale));
    return sg_sum(ctx, l);
}

/* The prototype map of one view: calculate_region(feature, label, cfg, ignore_mask, ...)
 * with label = the weak stride-4 logits z (B, K, h, w): regions R(b, k) =
 * (z.argmax(1) == k) & (ignore != 255) (its `max_logit > 0` filter is
 * always true), weights softmax over R of z[:, k], prototypes sum w f,
 * and the map: the prototype on R, and at ignored pixels
 *   feats_sl[batch_idx][batch_ig == 255] = feature_temp_index[batch_ig == 255]
 * with feature_temp = feature.clone().reshape(batch_size, h*w, c_channel):
 * a reshape of (B, C, h, w) without the permute, so the row of pixel p is
 * C consecutive values of the channel-major memory, not p's feature
 * (ckr_fill_reshaped; otherwise p's own feature). */
static sg_tensor *region_map_(sg_ctx *ctx, sg_tensor *feat, sg_tensor *z, const sg_regions *r, bool reshaped)
{
    sg_tensor *w = sg_region_softmax(ctx, z, r);
    const int n = feat->shape[0], c = feat->shape[1], hw = feat->shape[2] * feat->shape[3];
    sg_tensor *fill = reshaped ? sg_reshape(ctx, feat, 2, (const int[]){n * hw, c}) : sg_region_pixel_rows(ctx, feat);
    return sg_region_prototype_map(ctx, sg_region_prototypes(ctx, feat, w, r), fill, r);
}

/* loss_region_v = 1 - cos_dis(feature_region_u_v.clone().detach(), feature_region_u_sv).mean():
 * the weak map without gradient; the strong map's weights come from the
 * weak logits, which UCCL.py does not detach (ckr_weight_grad): the
 * gradient reaches the weak view's forward through them. */
static sg_tensor *ckr_(sg_ctx *ctx, sg_tensor *feat_w, sg_tensor *feat_s, sg_tensor *z_w, const sg_pseudo *pw,
                       sg_tensor *valid, const uccl_params *hp)
{
    sg_regions r;
    sg_regions_build(ctx, &r, pw->label, valid, z_w->shape[1]);
    const bool was = sg_ctx_set_grad(ctx, false);
    sg_tensor *map_w = region_map_(ctx, feat_w, z_w, &r, hp->ckr_fill_reshaped);
    sg_ctx_set_grad(ctx, was);
    sg_tensor *map_s = region_map_(ctx, feat_s, hp->ckr_weight_grad ? z_w : detach_(ctx, z_w), &r, hp->ckr_fill_reshaped);
    sg_tensor *cos = sg_mean(ctx, sg_cosine_similarity(ctx, map_w, map_s, 1e-6f));
    return sg_add(ctx, const_f32_(ctx, 1, (const int[]){1}, (const float[]){1.0f}), sg_scale(ctx, cos, -1.0f));
}

sg_tensor *uccl_loss(sg_ctx *ctx, sg_deeplab *m, const sg_batch *lab, const sg_batch *unl, const sg_batch *mix,
                     const uccl_params *hp, const sg_deeplab_fp *fp, const sg_semi_sup *sup, sg_semi_terms *terms,
                     uccl_detail *detail)
{
    const int nu = unl->img->shape[0], K = m->cfg.num_classes;
    /* UniMatch's eval-mode pass on the mix source (pred_u_w_mix, before
     * any train-mode pass moves the running statistics), and
     * img_u_s1[cutmix_box1 ... == 1] = img_u_s1_mix[...], s2 alike. */
    unimatch_mixed mx;
    unimatch_mix(ctx, m, lab, unl, mix, &mx);
    /* img_1[cutmix_box1 ... == 1] = img_u_w_mix[...]; img_2 with cutmix_box2:
     * the weak views pasted with the strong views' boxes and source. */
    sg_tensor *wmix = mix ? mix->img : sg_semi_roll(ctx, unl->img, 1);
    sg_tensor *ign_mix = mix ? mix->ignore : sg_semi_roll(ctx, unl->ignore, 1);
    sg_tensor *w[2] = {sg_semi_paste(ctx, unl->img, wmix, unl->box1), sg_semi_paste(ctx, unl->img, wmix, unl->box2)};
    const sg_tensor *box[2] = {unl->box1, unl->box2};
    /* model.train(); feature_v, _, label_u_w_v = model(img_v, need_pre_logit=True).
     * Without ckr_weight_grad nothing flows back into these passes. */
    m->training = true;
    sg_deeplab_out ow[2];
    const bool was = sg_ctx_set_grad(ctx, hp->ckr_weight_grad && ctx->grad_enabled);
    for (int v = 0; v < 2; v++) sg_deeplab_forward(ctx, m, w[v], NULL, &ow[v]);
    sg_ctx_set_grad(ctx, was);
    /* feature_weak, _, pred_weak = model(img_u_w, need_pre_logit=True);
     * feature_strong, _, pred_strong = model(img_s_s1, need_pre_logit=True):
     * unused, train mode, so they only move the BN running statistics. */
    if (hp->bn_passes) {
        sg_semi_predict(ctx, m, unl->img, true);
        sg_semi_predict(ctx, m, unl->img_s1, true);
    }
    /* UniMatch: model(cat(img_x, img_u_w), need_fp=True), model(cat(img_u_s1, img_u_s2)),
     * the pseudo-labels and L_unimatch = (L_x + 0.25 L_s1 + 0.25 L_s2 + 0.5 L_fp) / 2. */
    sg_deeplab_out os;
    sg_semi_terms um;
    sg_tensor *loss = unimatch_train(ctx, m, lab, unl, mix, &mx, &hp->um, fp, sup, &os, &um);

    const int h = os.feature->shape[2], wd = os.feature->shape[3];
    float *valid = sg_arena_alloc(sg_ctx_host_arena(ctx), (size_t)nu * h * wd * sizeof *valid);
    double sbu[2], ckr[2];
    sg_tensor *lsbu = NULL, *lckr = NULL;
    for (int v = 0; v < 2; v++) {
        sg_tensor *feat_s = sg_narrow(ctx, os.feature, 0, v * nu, nu);
        sg_tensor *z_s = sg_narrow(ctx, os.logits_lo, 0, v * nu, nu);
        /* ignore_mask_for_u_v[cutmix_box_v == 1] = ignore_mask_mix[cutmix_box_v == 1], at stride 4 */
        sg_tensor *ign = sg_semi_paste(ctx, unl->ignore, ign_mix, box[v]);
        sg_tensor *ign_lo = ignore_lo_(ctx, ign, h, wd, hp->ignore_bilinear, valid);
        sg_tensor *member = sg_tensor_new(ctx, SG_I32, 3, (const int[]){nu, h, wd});
        int32_t *mv = sg_arena_alloc(sg_ctx_host_arena(ctx), (size_t)nu * h * wd * sizeof *mv);
        for (size_t i = 0; i < (size_t)nu * h * wd; i++) mv[i] = valid[i] != 0.0f;
        sg_tensor_write(member, mv);
        sg_pseudo pw;
        sg_semi_pseudo_label(ctx, ow[v].logits_lo, ign_lo, &pw);
        sg_tensor *c = ckr_(ctx, ow[v].feature, feat_s, ow[v].logits_lo, &pw, member, hp);
        /* Similarity_v = cos_dis(feature_v.clone().detach(), feature_u_sv) */
        sg_tensor *sim = sg_cosine_similarity(ctx, detach_(ctx, ow[v].feature), feat_s, 1e-6f);
        sg_tensor *s = sbu_(ctx, sim, &pw, z_s, valid, K, hp);
        ckr[v] = sg_tensor_item(c);
        sbu[v] = sg_tensor_item(s);
        lckr = lckr ? sg_add(ctx, lckr, c) : c;
        lsbu = lsbu ? sg_add(ctx, lsbu, s) : s;
    }
    /* loss_region = (loss_region_1 * 0.02 + loss_region_2 * 0.02) / 2;
     * loss_sim = (loss_similarity_1 * 0.015 + loss_similarity_2 * 0.015) / 2;
     * loss = L_unimatch + loss_sim + loss_region */
    lsbu = sg_scale(ctx, lsbu, hp->weight_sbu * 0.5f);
    lckr = sg_scale(ctx, lckr, hp->weight_ckr * 0.5f);
    loss = sg_add(ctx, sg_add(ctx, loss, lsbu), lckr);
    *terms = (sg_semi_terms){0};
    sg_semi_term(terms, "loss", sg_tensor_item(loss));
    for (int i = 1; i < um.n; i++) sg_semi_term(terms, um.name[i], um.value[i]);
    sg_semi_term(terms, "loss_sbu", sg_tensor_item(lsbu));
    sg_semi_term(terms, "loss_ckr", sg_tensor_item(lckr));
    terms->mask_ratio = um.mask_ratio;
    if (detail) *detail = (uccl_detail){.sbu = {sbu[0], sbu[1]}, .ckr = {ckr[0], ckr[1]}};
    return loss;
}
