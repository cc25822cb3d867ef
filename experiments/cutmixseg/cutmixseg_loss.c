/*
 * cutmixseg_loss.c: one CutMix-Seg training step (French et al., BMVC 2020),
 * mix mode, after the training loop of
 * Britefury/cutmix-semisup-seg@c073d7b:train_seg_semisup_mask_mt.py
 * (mask_mode 'mix', cons_loss_fn 'var'; the strong-coloured student copy
 * is af6183a's aug_strong_colour): the mean teacher predicts the two
 * unlabeled images, its logits are mixed by the box masks, the student
 * predicts the mixed image, and the confidence-weighted squared difference
 * of the softmaxes is the consistency loss. The comments quote the script.
 *
 * The trainer (cutmixseg.c) draws the masks and adds backward, the SGD step
 * and the teacher's EMA update; the pieces are the library's
 * (include/semiseg/semi.h). Covered by tests/test_semi.c (one iteration
 * and the EMA update against tests/ref/gen_semi.py) and
 * tests/trainers_semi.sh.
 */
#include "cutmixseg_loss.h"

sg_tensor *cutmixseg_loss(sg_ctx *ctx, sg_deeplab *student, sg_deeplab *teacher, const sg_batch *lab,
                          const sg_batch *unl, const sg_batch *mix, const sg_tensor *masks,
                          const cutmixseg_params *hp, const sg_semi_sup *sup, sg_semi_terms *terms)
{
    sg_semi_check_batches(lab, unl, mix, hp->strong_colour ? SG_VIEW_S1 : SG_VIEWS_WEAK, "cutmixseg_loss");
    /* with torch.no_grad():
     *     logits_u0_tea = teacher_net(batch_ux0_tea).detach()
     *     logits_u1_tea = teacher_net(batch_ux1_tea).detach()
     * logits_cons_tea = logits_u0_tea * (1 - batch_mix_masks) + logits_u1_tea * batch_mix_masks
     * prob_cons_tea = F.softmax(logits_cons_tea, dim=1)
     * Each source image predicted whole, then pasted. */
    sg_tensor *z0 = sg_semi_predict(ctx, teacher, unl->img, false);
    sg_tensor *z1 = mix ? sg_semi_predict(ctx, teacher, mix->img, false) : sg_semi_roll(ctx, z0, 1);
    bool was = sg_ctx_set_grad(ctx, false);
    sg_tensor *pt = sg_softmax(ctx, sg_semi_paste(ctx, z0, z1, masks), 1);
    sg_ctx_set_grad(ctx, was);

    /* batch_ux_stu_mixed = batch_ux0_stu * (1 - batch_mix_masks) + batch_ux1_stu * batch_mix_masks
     * batch_um_mixed = batch_um0 * (1 - batch_mix_masks) + batch_um1 * batch_mix_masks */
    sg_tensor *u0 = hp->strong_colour ? unl->img_s1 : unl->img;
    sg_tensor *u1 = mix ? (hp->strong_colour ? mix->img_s1 : mix->img) : sg_semi_roll(ctx, u0, 1);
    sg_tensor *v0 = sg_semi_valid(ctx, unl->ignore);
    sg_tensor *v1 = mix ? sg_semi_valid(ctx, mix->ignore) : sg_semi_roll(ctx, v0, 1);

    /* logits_sup = student_net(batch_x)
     * sup_loss = clf_crossent_loss(logits_sup, batch_y[:,0,:,:])
     * logits_cons_stu = student_net(batch_ux_stu_mixed)
     * The script runs the student on the labeled and the mixed batch
     * separately (two BN batches) and back-propagates each; one backward of
     * the sum equals its two backwards. */
    student->training = true;
    sg_deeplab_out ox, om;
    sg_deeplab_forward(ctx, student, lab->img, NULL, &ox);
    sg_tensor *lx = sg_semi_sup_apply(ctx, sup, ox.logits, lab->mask);
    sg_deeplab_forward(ctx, student, sg_semi_paste(ctx, u0, u1, masks), NULL, &om);
    /* prob_cons_stu = F.softmax(logits_cons_stu, dim=1); loss_mask = batch_um_mixed
     * conf_tea = prob_cons_tea.max(dim=1)[0]
     * conf_mask = (conf_tea >= conf_thresh).float()[:, None, :, :]
     * if not conf_per_pixel: conf_mask = conf_mask.mean()
     * loss_mask = loss_mask * conf_mask
     * delta_prob = prob_cons_stu - prob_cons_tea
     * consistency_loss = (delta_prob * delta_prob).sum(dim=1, keepdim=True)
     * consistency_loss = (consistency_loss * loss_mask).mean()
     * unsup_loss = consistency_loss * cons_weight (its backward added to sup_loss's) */
    double conf;
    sg_tensor *lc = sg_semi_cutmixseg_cons(ctx, om.logits, pt, sg_semi_paste(ctx, v0, v1, masks),
                                           hp->conf_thresh, hp->conf_per_pixel, &conf);
    sg_tensor *loss = sg_add(ctx, lx, sg_scale(ctx, lc, hp->cons_weight));
    *terms = (sg_semi_terms){0};
    sg_semi_term(terms, "loss", sg_tensor_item(loss));
    sg_semi_term(terms, "loss_x", sg_tensor_item(lx));
    sg_semi_term(terms, "loss_cons", sg_tensor_item(lc));
    /* conf_rate_acc += float(conf_mask.mean()) */
    terms->mask_ratio = conf;
    return loss;
}
