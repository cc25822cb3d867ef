/*
 * meanteacher_loss.c: one Mean Teacher training step (Tarvainen & Valpola,
 * NeurIPS 2017) in its segmentation form, after
 * CuriousAI/mean-teacher@546348f:pytorch/main.py train(): the teacher
 * (ema_model) predicts without gradient, the student (model) predicts the
 * labeled batch and a differently augmented view of the unlabeled one, and
 *     loss = class_loss + consistency_weight * consistency_criterion(cons_logit, ema_logit)
 * with consistency_criterion = softmax_mse_loss
 * (pytorch/mean_teacher/losses.py), here a mean over pixels and classes,
 * and consistency_weight = consistency * sigmoid_rampup(...)
 * (pytorch/mean_teacher/ramps.py) counted in iterations. The segmentation
 * choices (teacher on the weak view in eval mode, student on the strong
 * view s1, CE or OHEM on the labeled pixels) are
 * experiments/meanteacher/README.md's.
 *
 * The trainer (meanteacher.c) adds backward, the SGD step and the
 * teacher's EMA update (update_ema_variables: sg_ema_update with
 * sg_semi_ema_decay); the pieces are the library's
 * (include/semiseg/semi.h). Covered by tests/test_semi.c (one iteration and
 * the EMA update against tests/ref/gen_semi.py) and tests/trainers_semi.sh.
 */
#include "meanteacher_loss.h"

#include <math.h>

sg_tensor *meanteacher_loss(sg_ctx *ctx, sg_deeplab *student, sg_deeplab *teacher, const sg_batch *lab,
                            const sg_batch *unl, const meanteacher_params *hp, long it,
                            const sg_semi_sup *sup, sg_semi_terms *terms)
{
    sg_semi_check_batches(lab, unl, NULL, SG_VIEW_S1, "meanteacher_loss");
    const int nl = lab->img->shape[0], nu = unl->img->shape[0];
    /* ema_model_out = ema_model(ema_input_var), no gradient (ema_logit is
     * detached): the teacher's softmax on the weak view u_w. */
    sg_tensor *zt = sg_semi_predict(ctx, teacher, unl->img, hp->teacher_train_bn);
    bool was = sg_ctx_set_grad(ctx, false);
    sg_tensor *pt = sg_softmax(ctx, zt, 1);
    sg_ctx_set_grad(ctx, was);

    /* model_out = model(input_var): one train-mode pass of cat(x, u_s1). */
    student->training = true;
    sg_deeplab_out o;
    sg_deeplab_forward(ctx, student, sg_concat(ctx, (sg_tensor *const[]){lab->img, unl->img_s1}, 2, 0),
                       NULL, &o);
    sg_tensor *pred_x = sg_narrow(ctx, o.logits, 0, 0, nl);
    sg_tensor *pred_s = sg_narrow(ctx, o.logits, 0, nl, nu);
    /* class_loss = class_criterion(class_logit, target_var)
     * consistency_loss = consistency_weight * consistency_criterion(cons_logit, ema_logit)
     * consistency_weight = get_current_consistency_weight(epoch)
     *                    = args.consistency * ramps.sigmoid_rampup(epoch, args.consistency_rampup)
     * loss = class_loss + consistency_loss */
    sg_tensor *lx = sg_semi_sup_apply(ctx, sup, pred_x, lab->mask);
    sg_tensor *lc = sg_semi_softmax_mse(ctx, pred_s, pt);
    const float w = (float)(hp->cons_weight * sg_semi_rampup(it, hp->rampup_iters));
    sg_tensor *loss = sg_add(ctx, lx, sg_scale(ctx, lc, w));
    *terms = (sg_semi_terms){0};
    sg_semi_term(terms, "loss", sg_tensor_item(loss));
    sg_semi_term(terms, "loss_x", sg_tensor_item(lx));
    sg_semi_term(terms, "loss_cons", sg_tensor_item(lc));
    sg_semi_term(terms, "cons_weight", w);
    terms->mask_ratio = NAN;
    return loss;
}
