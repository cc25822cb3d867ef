/*
 * fixmatch_loss.c: one FixMatch training step for segmentation (Sohn et
 * al., NeurIPS 2020) as UniMatch's code base runs it, the body of the loop
 * in LiheYoung/UniMatch@0324f3d:fixmatch.py: partner pseudo-labels, CutMix
 * pasting of the strong view, the two train-mode forwards, the weak
 * pseudo-labels and the loss. The comments quote fixmatch.py.
 *
 * The trainer (fixmatch.c) adds backward, the SGD step and the logging;
 * the pieces are the library's (include/semiseg/semi.h). Covered by
 * tests/test_semi.c (one iteration against tests/ref/gen_semi.py's PyTorch
 * re-implementation of fixmatch.py) and tests/trainers_semi.sh.
 */
#include "fixmatch_loss.h"

sg_tensor *fixmatch_loss(sg_ctx *ctx, sg_deeplab *m, const sg_batch *lab, const sg_batch *unl,
                         const sg_batch *mix, const fixmatch_params *hp, const sg_semi_sup *sup,
                         sg_semi_terms *terms)
{
    sg_semi_check_batches(lab, unl, mix, SG_VIEW_S1 | SG_VIEW_BOX1, "fixmatch_loss");
    const int nl = lab->img->shape[0], nu = unl->img->shape[0];
    /* with torch.no_grad(): model.eval(); pred_u_w_mix = model(img_u_w_mix).detach()
     *     conf_u_w_mix = pred_u_w_mix.softmax(dim=1).max(dim=1)[0]
     *     mask_u_w_mix = pred_u_w_mix.argmax(dim=1)
     * (mix_source = roll: the partner's pseudo-label comes from the roll of
     * the weak one, below). */
    sg_pseudo pm = {0};
    if (mix) sg_semi_mix_pseudo(ctx, m, mix, &pm);
    /* img_u_s[cutmix_box.unsqueeze(1).expand(img_u_s.shape) == 1] =
     *     img_u_s_mix[cutmix_box.unsqueeze(1).expand(img_u_s.shape) == 1] */
    sg_tensor *s1 = sg_semi_paste(ctx, unl->img_s1, mix ? mix->img_s1 : sg_semi_roll(ctx, unl->img_s1, 1),
                                  unl->box1);
    /* model.train()
     * pred_x, pred_u_w = model(torch.cat((img_x, img_u_w))).split([num_lb, num_ulb])
     * pred_u_s = model(img_u_s) */
    m->training = true;
    sg_deeplab_out o;
    sg_deeplab_forward(ctx, m, sg_concat(ctx, (sg_tensor *const[]){lab->img, unl->img}, 2, 0), NULL, &o);
    sg_tensor *pred_x = sg_narrow(ctx, o.logits, 0, 0, nl);
    sg_tensor *pred_w = sg_narrow(ctx, o.logits, 0, nl, nu);
    sg_deeplab_out os;
    sg_deeplab_forward(ctx, m, s1, NULL, &os);

    /* pred_u_w = pred_u_w.detach(); conf_u_w = pred_u_w.softmax(dim=1).max(dim=1)[0];
     * mask_u_w = pred_u_w.argmax(dim=1)
     * mask_u_w_cutmixed[cutmix_box == 1] = mask_u_w_mix[cutmix_box == 1], and
     * conf_u_w_cutmixed, ignore_mask_cutmixed alike */
    sg_pseudo pw, t1;
    sg_semi_pseudo_label(ctx, pred_w, unl->ignore, &pw);
    if (!mix) sg_semi_roll_pseudo(ctx, &pw, 1, &pm);
    sg_semi_paste_pseudo(ctx, &pw, &pm, unl->box1, &t1);

    /* loss_x = criterion_l(pred_x, mask_x)
     * loss_u_s = criterion_u(pred_u_s, mask_u_w_cutmixed)
     * loss_u_s = loss_u_s * ((conf_u_w_cutmixed >= cfg['conf_thresh']) & (ignore_mask_cutmixed != 255))
     * loss_u_s = torch.sum(loss_u_s) / torch.sum(ignore_mask_cutmixed != 255).item() */
    sg_tensor *lx = sg_semi_sup_apply(ctx, sup, pred_x, lab->mask);
    sg_tensor *ls = sg_semi_masked_ce(ctx, os.logits, &t1, hp->conf_thresh);
    /* loss = (loss_x + loss_u_s) / 2.0 */
    sg_tensor *loss = sg_scale(ctx, sg_add(ctx, lx, ls), 0.5f);
    *terms = (sg_semi_terms){0};
    sg_semi_term(terms, "loss", sg_tensor_item(loss));
    sg_semi_term(terms, "loss_x", sg_tensor_item(lx));
    sg_semi_term(terms, "loss_s", sg_tensor_item(ls));
    /* mask_ratio = ((conf_u_w >= cfg['conf_thresh']) & (ignore_mask != 255)).sum().item()
     *     / (ignore_mask != 255).sum() */
    terms->mask_ratio = sg_semi_mask_ratio(&pw, hp->conf_thresh);
    return loss;
}
