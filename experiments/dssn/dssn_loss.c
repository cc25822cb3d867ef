/*
 * dssn_loss.c: one DSSN training step (Tian, Zhang, Zhang, Zhan, ACM MM
 * 2023), the body of the loop in kunzhan/DSSN@efaee86:voc/DSSN.py (and
 * city/DSSN.py: fixed threshold, Siamese terms outside the 1/2): the EMA
 * teacher's pseudo-labels for the two CutMix-pasted strong views, the
 * student's for its two feature-perturbed copies
 * (voc/model/semseg/deeplabv3plus2fp.py), class-aware relative selection
 * (voc/util/utils.py get_adaptive_binary_mask) and the two Siamese terms,
 * MSEs between class-standardised logits. The comments quote voc/DSSN.py;
 * B = the unlabeled batch size.
 *
 * The trainer (dssn.c) adds backward, the SGD step and the teacher's EMA
 * update. Covered by tests/test_dssn.c (one iteration against
 * tests/ref/gen_dssn.py's PyTorch re-implementation of voc/DSSN.py and
 * city/DSSN.py) and tests/trainer_dssn.sh.
 */
#include "dssn_loss.h"

#include "semiseg/class_select.h"

/* A pseudo-label whose selection is hp's: for the class-relative rule the
 * conf map is replaced by the 0/1 selection of sg_class_relative_mask and
 * *tau by 1/2, so sg_semi_masked_ce and sg_semi_mask_ratio apply it. */
static void dssn_select_(sg_ctx *ctx, sg_tensor *logits, sg_tensor *ignore, const dssn_params *hp,
                         sg_pseudo *out, float *tau)
{
    sg_semi_pseudo_label(ctx, logits, ignore, out);
    if (hp->select == DSSN_SELECT_CLASS_RELATIVE) {
        out->conf = sg_class_relative_mask(ctx, logits, hp->gate, hp->factor);
        *tau = 0.5f;
    } else {
        *tau = hp->conf_thresh;
    }
}

/* mse_loss(x1_norm, x2_norm) with x_norm = (x - torch.mean(x, dim=1, keepdim=True))
 *                                          / torch.std(x, dim=1, keepdim=True) */
static sg_tensor *dssn_siamese_(sg_ctx *ctx, sg_tensor *a, sg_tensor *b)
{
    return sg_mse_loss(ctx, sg_standardize(ctx, a), sg_standardize(ctx, b), SG_REDUCE_MEAN);
}

sg_tensor *dssn_loss(sg_ctx *ctx, sg_deeplab *student, sg_deeplab *teacher, const sg_batch *lab,
                     const sg_batch *unl, const sg_batch *mix, const dssn_params *hp, const sg_deeplab_fp *fp,
                     const sg_semi_sup *sup, sg_semi_terms *terms)
{
    sg_semi_check_batches(lab, unl, mix, SG_VIEWS_ALL, "dssn_loss");
    SG_CHECK(fp && fp->second, "dssn_loss: the feature perturbation needs two copies (sg_semi_fp2)");
    const int nl = lab->img->shape[0], nu = unl->img->shape[0];
    /* pred_u_w_mix_tea = model_tea(img_u_w_mix).detach(): the teacher, in
     * the BN mode it is in (train mode until the first evaluation), before
     * any student pass. With the roll the partner's logits are the roll of
     * the teacher's on u_w (below). */
    sg_tensor *zt_mix = mix ? sg_semi_predict(ctx, teacher, mix->img, hp->teacher_train_bn) : NULL;
    /* img_u_s1[cutmix_box1.unsqueeze(1).expand(img_u_s1.shape) == 1] =
     *     img_u_s1_mix[cutmix_box1.unsqueeze(1).expand(img_u_s1.shape) == 1], and s2 alike */
    sg_tensor *s1 = sg_semi_paste(ctx, unl->img_s1, mix ? mix->img_s1 : sg_semi_roll(ctx, unl->img_s1, 1),
                                  unl->box1);
    sg_tensor *s2 = sg_semi_paste(ctx, unl->img_s2, mix ? mix->img_s2 : sg_semi_roll(ctx, unl->img_s2, 1),
                                  unl->box2);
    /* model.train()
     * preds, preds_fp, preds_Fp = model(torch.cat((img_x, img_u_w)), True)
     * pred_x, pred_u_w = preds.split([num_lb, num_ulb])
     * pred_u_w_fp = preds_fp[num_lb:]; pred_u_w_Fp = preds_Fp[num_lb:]
     * The decoder's BN normalises the clean and both dropped thirds together. */
    student->training = true;
    sg_deeplab_out o;
    sg_deeplab_forward(ctx, student, sg_concat(ctx, (sg_tensor *const[]){lab->img, unl->img}, 2, 0), fp, &o);
    sg_tensor *pred_x = sg_narrow(ctx, o.logits, 0, 0, nl);
    sg_tensor *pred_w = sg_narrow(ctx, o.logits, 0, nl, nu);
    sg_tensor *pred_fp = sg_narrow(ctx, o.logits_fp, 0, nl, nu);
    sg_tensor *pred_Fp = sg_narrow(ctx, o.logits_fp2, 0, nl, nu);
    /* pred_u_s1, pred_u_s2 = model(torch.cat((img_u_s1, img_u_s2))).chunk(2) */
    sg_deeplab_out os;
    sg_deeplab_forward(ctx, student, sg_concat(ctx, (sg_tensor *const[]){s1, s2}, 2, 0), NULL, &os);
    sg_tensor *pred_s1 = sg_narrow(ctx, os.logits, 0, 0, nu);
    sg_tensor *pred_s2 = sg_narrow(ctx, os.logits, 0, nu, nu);

    /* pred_u_w = pred_u_w.detach(); adaptive_binary_mask = get_adaptive_binary_mask(pred_u_w)
     * mask_u_w = pred_u_w.argmax(dim=1)
     * (Cityscapes: conf_u_w = pred_u_w.softmax(dim=1).max(dim=1)[0], kept if >= conf_thresh) */
    sg_pseudo pw;
    float tau_w;
    dssn_select_(ctx, pred_w, unl->ignore, hp, &pw, &tau_w);
    /* preds_tea = model_tea(img_u_w); mask_u_w_tea = preds_tea.argmax(dim=1) */
    sg_tensor *zt_w = sg_semi_predict(ctx, teacher, unl->img, hp->teacher_train_bn);
    if (!mix) zt_mix = sg_semi_roll(ctx, zt_w, 1);
    sg_tensor *ign_mix = mix ? mix->ignore : sg_semi_roll(ctx, unl->ignore, 1);
    /* preds_tea_mix1[cutmix_box1.unsqueeze(1).expand(preds_tea_mix1.shape) == 1] =
     *     pred_u_w_mix_tea[cutmix_box1.unsqueeze(1).expand(pred_u_w_mix_tea.shape) == 1]
     * adaptive_binary_mask_tea_mix1 = get_adaptive_binary_mask(preds_tea_mix1)
     * mask_u_w_cutmixed1[cutmix_box1 == 1] = mask_u_w_mix_tea[cutmix_box1 == 1]
     * ignore_mask_cutmixed1[cutmix_box1 == 1] = ignore_mask_mix[cutmix_box1 == 1]
     * and view 2 with cutmix_box2. The argmax (and softmax maximum) of the
     * pasted logits is the pasted argmax, so the labels come from them too. */
    sg_pseudo t1, t2;
    float tau1, tau2;
    dssn_select_(ctx, sg_semi_paste(ctx, zt_w, zt_mix, unl->box1), sg_semi_paste(ctx, unl->ignore, ign_mix, unl->box1),
                 hp, &t1, &tau1);
    dssn_select_(ctx, sg_semi_paste(ctx, zt_w, zt_mix, unl->box2), sg_semi_paste(ctx, unl->ignore, ign_mix, unl->box2),
                 hp, &t2, &tau2);

    /* loss_x = criterion_l(pred_x, mask_x)
     * loss_u_s1 = criterion_u(pred_u_s1, mask_u_w_cutmixed1)
     * loss_u_s1 = loss_u_s1 * ((adaptive_binary_mask_tea_mix1) & (ignore_mask_cutmixed1 != 255))
     * loss_u_s1 = loss_u_s1.sum() / (ignore_mask_cutmixed1 != 255).sum().item()
     * loss_u_s2 alike; loss_u_w_fp, loss_u_w_Fp with mask_u_w, adaptive_binary_mask, ignore_mask */
    sg_tensor *lx = sg_semi_sup_apply(ctx, sup, pred_x, lab->mask);
    sg_tensor *ls1 = sg_semi_masked_ce(ctx, pred_s1, &t1, tau1);
    sg_tensor *ls2 = sg_semi_masked_ce(ctx, pred_s2, &t2, tau2);
    sg_tensor *lfp = sg_semi_masked_ce(ctx, pred_fp, &pw, tau_w);
    sg_tensor *lFp = sg_semi_masked_ce(ctx, pred_Fp, &pw, tau_w);
    /* loss_u_s_mse = mse_loss(pred_u_s1_norm, pred_u_s2_norm)
     * loss_u_fp_mse = mse_loss(pred_u_f_norm, pred_u_F_norm)
     * over every element, padding and the two views' different boxes included */
    sg_tensor *limg = dssn_siamese_(ctx, pred_s1, pred_s2);
    sg_tensor *lfeat = dssn_siamese_(ctx, pred_fp, pred_Fp);
    /* VOC: loss = scale * (loss_x + loss_u_s1 * 0.25 + loss_u_s2 * 0.25 + loss_u_w_fp * 0.25
     *                      + loss_u_w_Fp * 0.25 + (loss_u_s_mse + loss_u_fp_mse) * 0.01), scale 1/2,
     *       the strong terms left out at the first iteration;
     * Cityscapes: loss = (loss_x + ... + loss_u_w_Fp * 0.25) / 2.0 + (loss_u_s_mse + loss_u_fp_mse) * 0.005,
     *       the strong terms left out during the first 5 epochs */
    sg_tensor *sum = lx;
    if (!hp->drop_strong) {
        sum = sg_add(ctx, sum, sg_scale(ctx, ls1, hp->weight_s));
        sum = sg_add(ctx, sum, sg_scale(ctx, ls2, hp->weight_s));
    }
    sum = sg_add(ctx, sum, sg_scale(ctx, lfp, hp->weight_fp));
    sum = sg_add(ctx, sum, sg_scale(ctx, lFp, hp->weight_fp));
    sg_tensor *siam = sg_scale(ctx, sg_add(ctx, limg, lfeat), hp->weight_siamese);
    sg_tensor *loss = hp->siamese_inside ? sg_scale(ctx, sg_add(ctx, sum, siam), 0.5f)
                                         : sg_add(ctx, sg_scale(ctx, sum, 0.5f), siam);
    *terms = (sg_semi_terms){0};
    sg_semi_term(terms, "loss", sg_tensor_item(loss));
    sg_semi_term(terms, "loss_x", sg_tensor_item(lx));
    sg_semi_term(terms, "loss_s1", sg_tensor_item(ls1));
    sg_semi_term(terms, "loss_s2", sg_tensor_item(ls2));
    sg_semi_term(terms, "loss_fp", sg_tensor_item(lfp));
    sg_semi_term(terms, "loss_Fp", sg_tensor_item(lFp));
    sg_semi_term(terms, "loss_img", sg_tensor_item(limg));
    sg_semi_term(terms, "loss_feat", sg_tensor_item(lfeat));
    /* mask_ratio = ((adaptive_binary_mask) & (ignore_mask != 255)).sum().item() / (ignore_mask != 255).sum() */
    terms->mask_ratio = sg_semi_mask_ratio(&pw, tau_w);
    return loss;
}
