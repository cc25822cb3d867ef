/*
 * unimatch_loss.c: one UniMatch training step (Yang et al., CVPR 2023), the
 * body of the loop in LiheYoung/UniMatch@0324f3d:unimatch.py (the
 * perturbed decoder pass is model/semseg/deeplabv3plus.py's
 * forward(x, need_fp=True)): partner pseudo-labels, CutMix pasting of the
 * two strong views, the two train-mode forwards, the weak pseudo-labels
 * and the loss. The comments quote unimatch.py; B = the unlabeled batch
 * size.
 *
 * The trainer (unimatch.c) adds backward, the SGD step and the logging;
 * the pieces are the library's (include/semiseg/semi.h). Covered by
 * tests/test_semi.c (one iteration against tests/ref/gen_semi.py's PyTorch
 * re-implementation of unimatch.py) and tests/trainers_semi.sh.
 */
#include "unimatch_loss.h"

void unimatch_mix(sg_ctx *ctx, sg_deeplab *m, const sg_batch *lab, const sg_batch *unl, const sg_batch *mix,
                  unimatch_mixed *out)
{
    sg_semi_check_batches(lab, unl, mix, SG_VIEWS_ALL, "unimatch_loss");
    /* with torch.no_grad(): model.eval(); pred_u_w_mix = model(img_u_w_mix).detach()
     *     conf_u_w_mix = pred_u_w_mix.softmax(dim=1).max(dim=1)[0]
     *     mask_u_w_mix = pred_u_w_mix.argmax(dim=1)
     * (mix_source = roll: the partner's pseudo-label comes from the roll of
     * the weak one, below). */
    out->pm = (sg_pseudo){0};
    if (mix) sg_semi_mix_pseudo(ctx, m, mix, &out->pm);
    /* img_u_s1[cutmix_box1.unsqueeze(1).expand(img_u_s1.shape) == 1] =
     *     img_u_s1_mix[cutmix_box1.unsqueeze(1).expand(img_u_s1.shape) == 1], and s2 alike */
    out->s1 = sg_semi_paste(ctx, unl->img_s1, mix ? mix->img_s1 : sg_semi_roll(ctx, unl->img_s1, 1),
                            unl->box1);
    out->s2 = sg_semi_paste(ctx, unl->img_s2, mix ? mix->img_s2 : sg_semi_roll(ctx, unl->img_s2, 1),
                            unl->box2);
}

sg_tensor *unimatch_train(sg_ctx *ctx, sg_deeplab *m, const sg_batch *lab, const sg_batch *unl,
                          const sg_batch *mix, const unimatch_mixed *mx, const unimatch_params *hp,
                          const sg_deeplab_fp *fp, const sg_semi_sup *sup, sg_deeplab_out *strong,
                          sg_semi_terms *terms)
{
    SG_CHECK(fp, "unimatch_loss: the feature perturbation needs its masks (sg_semi_fp)");
    const int nl = lab->img->shape[0], nu = unl->img->shape[0];
    sg_pseudo pm = mx->pm;
    /* model.train()
     * preds, preds_fp = model(torch.cat((img_x, img_u_w)), True)
     * pred_x, pred_u_w = preds.split([num_lb, num_ulb]); pred_u_w_fp = preds_fp[num_lb:]
     * One encoder pass for x and u_w; the decoder also sees the dropped
     * features (its BN normalises clean and perturbed halves together). */
    m->training = true;
    sg_deeplab_out o;
    sg_deeplab_forward(ctx, m, sg_concat(ctx, (sg_tensor *const[]){lab->img, unl->img}, 2, 0), fp, &o);
    sg_tensor *pred_x = sg_narrow(ctx, o.logits, 0, 0, nl);
    sg_tensor *pred_w = sg_narrow(ctx, o.logits, 0, nl, nu);
    sg_tensor *pred_fp = sg_narrow(ctx, o.logits_fp, 0, nl, nu);
    /* pred_u_s1, pred_u_s2 = model(torch.cat((img_u_s1, img_u_s2))).chunk(2) */
    sg_deeplab_out os;
    sg_deeplab_forward(ctx, m, sg_concat(ctx, (sg_tensor *const[]){mx->s1, mx->s2}, 2, 0), NULL, &os);
    if (strong) *strong = os;
    sg_tensor *pred_s1 = sg_narrow(ctx, os.logits, 0, 0, nu);
    sg_tensor *pred_s2 = sg_narrow(ctx, os.logits, 0, nu, nu);

    /* pred_u_w = pred_u_w.detach(); conf_u_w = pred_u_w.softmax(dim=1).max(dim=1)[0];
     * mask_u_w = pred_u_w.argmax(dim=1)
     * mask_u_w_cutmixed1[cutmix_box1 == 1] = mask_u_w_mix[cutmix_box1 == 1], and
     * conf_u_w_cutmixed1, ignore_mask_cutmixed1 alike; view 2 with cutmix_box2 */
    sg_pseudo pw, t1, t2;
    sg_semi_pseudo_label(ctx, pred_w, unl->ignore, &pw);
    if (!mix) sg_semi_roll_pseudo(ctx, &pw, 1, &pm);
    sg_semi_paste_pseudo(ctx, &pw, &pm, unl->box1, &t1);
    sg_semi_paste_pseudo(ctx, &pw, &pm, unl->box2, &t2);

    /* loss_x = criterion_l(pred_x, mask_x)
     * loss_u_s1 = criterion_u(pred_u_s1, mask_u_w_cutmixed1)
     * loss_u_s1 = loss_u_s1 * ((conf_u_w_cutmixed1 >= cfg['conf_thresh']) & (ignore_mask_cutmixed1 != 255))
     * loss_u_s1 = torch.sum(loss_u_s1) / torch.sum(ignore_mask_cutmixed1 != 255).item()
     * loss_u_s2 alike; loss_u_w_fp = criterion_u(pred_u_w_fp, mask_u_w) with
     * conf_u_w and ignore_mask */
    sg_tensor *lx = sg_semi_sup_apply(ctx, sup, pred_x, lab->mask);
    sg_tensor *ls1 = sg_semi_masked_ce(ctx, pred_s1, &t1, hp->conf_thresh);
    sg_tensor *ls2 = sg_semi_masked_ce(ctx, pred_s2, &t2, hp->conf_thresh);
    sg_tensor *lfp = sg_semi_masked_ce(ctx, pred_fp, &pw, hp->conf_thresh);
    /* loss = (loss_x + loss_u_s1 * 0.25 + loss_u_s2 * 0.25 + loss_u_w_fp * 0.5) / 2.0,
     * the paper's L = (L_sup + L_unsup) / 2 */
    sg_tensor *sum = sg_add(ctx, lx, sg_scale(ctx, ls1, hp->weight_s));
    sum = sg_add(ctx, sum, sg_scale(ctx, ls2, hp->weight_s));
    sum = sg_add(ctx, sum, sg_scale(ctx, lfp, hp->weight_fp));
    sg_tensor *loss = sg_scale(ctx, sum, 0.5f);
    *terms = (sg_semi_terms){0};
    sg_semi_term(terms, "loss", sg_tensor_item(loss));
    sg_semi_term(terms, "loss_x", sg_tensor_item(lx));
    sg_semi_term(terms, "loss_s1", sg_tensor_item(ls1));
    sg_semi_term(terms, "loss_s2", sg_tensor_item(ls2));
    sg_semi_term(terms, "loss_fp", sg_tensor_item(lfp));
    /* mask_ratio = ((conf_u_w >= cfg['conf_thresh']) & (ignore_mask != 255)).sum().item()
     *     / (ignore_mask != 255).sum() */
    terms->mask_ratio = sg_semi_mask_ratio(&pw, hp->conf_thresh);
    return loss;
}

sg_tensor *unimatch_loss(sg_ctx *ctx, sg_deeplab *m, const sg_batch *lab, const sg_batch *unl,
                         const sg_batch *mix, const unimatch_params *hp, const sg_deeplab_fp *fp,
                         const sg_semi_sup *sup, sg_semi_terms *terms)
{
    unimatch_mixed mx;
    unimatch_mix(ctx, m, lab, unl, mix, &mx);
    return unimatch_train(ctx, m, lab, unl, mix, &mx, hp, fp, sup, NULL, terms);
}
