/*
 * u2pl_loss.c: one U2PL training step (Wang et al., "Semi-Supervised
 * Semantic Segmentation Using Unreliable Pseudo-Labels", CVPR 2022), the
 * body of the loop in Haochen-Wang409/U2PL@ab3d2be:train_semi.py train():
 * pseudo-labels from the eval-mode teacher, CutMix
 * (u2pl/dataset/augmentation.py generate_unsup_data), the student and the
 * train-mode teacher passes, L_sup, the entropy-filtered L_u
 * (u2pl/utils/loss_helper.py compute_unsupervised_loss) and the
 * contrastive L_c (u2pl_contra.c). The comments quote the released code;
 * B = the unlabeled batch size, (H, W) the crop.
 *
 * Each network is a DeepLabV3+ (model.h) plus U2PL's representation head
 * (proj_head.h) on the decoder's input, decoder_in. Also the teacher's
 * schedule (u2pl_teacher_start / _update: train_semi.py's copy epoch and
 * EMA). The trainer (u2pl.c) adds backward, the SGD steps and calls the
 * schedule. Covered by tests/test_u2pl.c (iterations of each teacher phase
 * against tests/ref/gen_u2pl.py) and tests/trainer_u2pl.sh.
 */
#include "u2pl_loss.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* A pass of a network and its head without gradient, in the given BN mode
 * for this pass only (the teacher's torch.no_grad() forwards); rep (may be
 * NULL): the head's output. */
static void no_grad_pass_(sg_ctx *ctx, sg_deeplab *m, const sg_proj_head *head, sg_tensor *x, bool training,
                          const u2pl_params *hp, uint64_t seed, const uint64_t drop[2], sg_deeplab_out *o,
                          sg_tensor **rep)
{
    const bool was = sg_ctx_set_grad(ctx, false), mode = m->training;
    m->training = training;
    sg_deeplab_forward(ctx, m, x, NULL, o);
    if (rep) *rep = sg_proj_head_forward(ctx, head, o->decoder_in, training, hp->rep_dropout, seed, drop);
    m->training = mode;
    sg_ctx_set_grad(ctx, was);
}

/* (N, H, W) pixel entropies of softmax(logits) on the host:
 * -torch.sum(prob * torch.log(prob + 1e-10), dim=1). */
static float *entropy_(sg_ctx *ctx, sg_tensor *logits)
{
    const bool was = sg_ctx_set_grad(ctx, false);
    sg_tensor *e = sg_entropy(ctx, sg_softmax(ctx, logits, 1), 1e-10f);
    sg_ctx_set_grad(ctx, was);
    float *h = sg_xmalloc(sg_numel(e) * sizeof *h);
    sg_tensor_read(e, h);
    return h;
}

/* A scalar constant (no gradient) shaped like `like`. */
static sg_tensor *constant_(sg_ctx *ctx, const sg_tensor *like, float v)
{
    sg_tensor *t = sg_tensor_like(ctx, like);
    float *host = sg_ctx_stage(ctx, t);
    host[0] = v;
    sg_ctx_stage_done(ctx, t, host);
    return t;
}

/* The contrastive term as train_semi.py adds it on each of its W GPUs:
 *     dist.all_reduce(contra_loss)
 *     contra_loss = contra_loss / world_size * loss_weight
 * all_reduce sums the W processes' values in place, unseen by autograd:
 * the value becomes their mean (here: this batch's L_c) times the weight,
 * while the gradient is that of L_c / W times the weight, which DDP then
 * averages over the GPUs like every other term's. Built as
 * v + (g - value(g)), g = (w / W) L_c, with v = w L_c (sg_scale's float
 * product, taken on the host) and value(g) held as constants: the bracket
 * is exactly 0 and carries g's gradient. */
static sg_tensor *all_reduced_(sg_ctx *ctx, sg_tensor *lc, float weight, int world)
{
    if (world == 1) return sg_scale(ctx, lc, weight);
    const float v = weight * sg_tensor_item(lc);
    sg_tensor *g = sg_scale(ctx, lc, weight / (float)world);
    return sg_add(ctx, constant_(ctx, g, v), sg_sub(ctx, g, constant_(ctx, g, sg_tensor_item(g))));
}

/* The parameters of a set without its buffers (a view, not a copy). */
static sg_param_set params_only_(const sg_param_set *s)
{
    sg_param_set v = *s;
    v.n_buffers = 0;
    return v;
}

void u2pl_teacher_start(sg_param_set *teacher, const sg_param_set *student, long epoch, long sup_only_epoch)
{
    /* if epoch == sup_only_epoch: t_params.data = s_params.data */
    if (epoch != sup_only_epoch) return;
    sg_param_set t = params_only_(teacher), s = params_only_(student);
    sg_param_set_copy(&t, &s);
}

void u2pl_teacher_update(sg_param_set *teacher, const sg_param_set *student, long iter, long iters_per_epoch,
                         long epoch, long sup_only_epoch, float ema_decay)
{
    /* if epoch >= sup_only_epoch:
     *     ema_decay = min(1 - 1 / (i_iter - len(loader_l) * sup_only_epoch + 1), ema_decay_origin)
     *     t_params.data = ema_decay * t_params.data + (1 - ema_decay) * s_params.data
     * In epoch sup_only_epoch t_params.data IS s_params.data, already stepped. */
    if (epoch < sup_only_epoch) return;
    sg_param_set t = params_only_(teacher), s = params_only_(student);
    if (epoch == sup_only_epoch) sg_param_set_copy(&t, &s);
    sg_ema_update(&t, &s, sg_semi_ema_decay(iter - iters_per_epoch * sup_only_epoch, ema_decay), false);
}

sg_tensor *u2pl_loss(sg_ctx *ctx, const u2pl_nets *nets, sg_class_queue *q, const sg_batch *lab,
                     const sg_batch *unl, const u2pl_params *hp, double progress, bool sup_only,
                     const u2pl_draws *d, const sg_semi_sup *sup, sg_semi_terms *terms)
{
    SG_CHECK(lab && lab->img && lab->mask, "u2pl_loss: the labeled batch needs img and mask");
    sg_deeplab *S = nets->student, *T = nets->teacher;
    *terms = (sg_semi_terms){0};
    S->training = true;
    sg_deeplab_out o, ot;
    if (sup_only) {
        /* outs = model(image_l); sup_loss = sup_loss_fn(pred, label_l)
         * model_teacher.train(); _ = model_teacher(image_l)
         * unsup_loss = contra_loss = 0 * rep.sum(): the heads run (their BN
         * statistics move) but take no gradient. */
        sg_deeplab_forward(ctx, S, lab->img, NULL, &o);
        const bool was = sg_ctx_set_grad(ctx, false);
        sg_proj_head_forward(ctx, nets->rep_s, o.decoder_in, true, hp->rep_dropout, d->seed, d->drop_s);
        sg_ctx_set_grad(ctx, was);
        sg_tensor *rep_t;
        no_grad_pass_(ctx, T, nets->rep_t, lab->img, true, hp, d->seed, d->drop_t, &ot, &rep_t);
        sg_tensor *lx = sg_semi_sup_apply(ctx, sup, o.logits, lab->mask);
        sg_semi_term(terms, "loss", sg_tensor_item(lx));
        sg_semi_term(terms, "loss_x", sg_tensor_item(lx));
        sg_semi_term(terms, "loss_u", 0.0);
        sg_semi_term(terms, "loss_c", 0.0);
        terms->mask_ratio = NAN;
        return lx;
    }
    SG_CHECK(unl && unl->img, "u2pl_loss: the unlabeled batch needs img");
    const int nl = lab->img->shape[0], nu = unl->img->shape[0];
    const int H = unl->img->shape[2], W = unl->img->shape[3];
    SG_CHECK(lab->img->shape[2] == H && lab->img->shape[3] == W, "u2pl_loss: labeled and unlabeled crops differ");

    /* model_teacher.eval(); pred_u_teacher = softmax(interpolate(model_teacher(image_u)["pred"]))
     * logits_u_aug, label_u_aug = torch.max(pred_u_teacher, dim=1) */
    no_grad_pass_(ctx, T, nets->rep_t, unl->img, false, hp, d->seed, d->drop_t, &ot, NULL);
    sg_pseudo pw;
    sg_semi_pseudo_label(ctx, ot.logits, unl->ignore, &pw);

    /* if np.random.uniform(0, 1) < 0.5 and apply_aug: generate_unsup_data(mode="cutmix"):
     * image i keeps itself outside its box and takes image (i + 1) % B inside it,
     * the pseudo-label (and confidence) alike; else image_u_aug = image_u */
    sg_tensor *u_aug = unl->img, *label_u = pw.label;
    if (hp->cutmix && sg_rng_uniform(d->mix) < 0.5f) {
        sg_tensor *box = sg_semi_u2pl_boxes(ctx, nu, H, W, d->mix);
        u_aug = sg_semi_paste(ctx, unl->img, sg_semi_roll(ctx, unl->img, 1), box);
        label_u = sg_semi_paste(ctx, pw.label, sg_semi_roll(ctx, pw.label, 1), box);
    }

    /* outs = model(cat(image_l, image_u_aug)); pred_l, pred_u upsampled to (h, w) */
    sg_deeplab_forward(ctx, S, sg_concat(ctx, (sg_tensor *const[]){lab->img, u_aug}, 2, 0), NULL, &o);
    sg_tensor *rep = sg_proj_head_forward(ctx, nets->rep_s, o.decoder_in, true, hp->rep_dropout, d->seed,
                                          d->drop_s);
    sg_tensor *pred_l = sg_narrow(ctx, o.logits, 0, 0, nl), *pred_u = sg_narrow(ctx, o.logits, 0, nl, nu);
    /* sup_loss = sup_loss_fn(pred_l_large, label_l) */
    sg_tensor *lx = sg_semi_sup_apply(ctx, sup, pred_l, lab->mask);

    /* model_teacher.train(); with torch.no_grad(): out_t = model_teacher(image_all)
     * prob_all_teacher = softmax(pred_all_teacher) at the decoder resolution;
     * pred_u_large_teacher = interpolate(pred_all_teacher[num_labeled:]) */
    sg_tensor *rep_t;
    no_grad_pass_(ctx, T, nets->rep_t, sg_concat(ctx, (sg_tensor *const[]){lab->img, u_aug}, 2, 0), true, hp,
                  d->seed, d->drop_t, &ot, &rep_t);
    const bool was = sg_ctx_set_grad(ctx, false);
    sg_tensor *prob_t = sg_softmax(
        ctx, sg_conv2d(ctx, ot.feature, T->cls_w, T->cls_b, sg_conv2d_params_make(1, 0, 1, 1)), 1);
    sg_ctx_set_grad(ctx, was);
    float *ent = entropy_(ctx, sg_narrow(ctx, ot.logits, 0, nl, nu));

    /* compute_unsupervised_loss(pred_u_large, label_u_aug, drop_percent, pred_u_large_teacher):
     * percent = 100 - (100 - drop_percent) (1 - epoch / epochs)
     * thresh = np.percentile(entropy[target != 255], percent); target[entropy >= thresh] = 255
     * weight = B h w / sum(target != 255); loss = weight * F.cross_entropy(predict, target, ignore_index=255) */
    const size_t n_px = (size_t)nu * H * W;
    float *sorted = sg_xmalloc(n_px * sizeof *sorted);
    memcpy(sorted, ent, n_px * sizeof *sorted);
    const double percent = 100.0 - (100.0 - (double)hp->drop_percent) * (1.0 - progress);
    const float thresh = (float)sg_semi_percentile(sorted, n_px, percent);
    sg_tensor *target = sg_tensor_new(ctx, SG_I32, 3, (const int[]){nu, H, W});
    int32_t *tg = sg_ctx_stage(ctx, target);
    sg_tensor_read(label_u, tg);
    size_t kept = 0;
    for (size_t i = 0; i < n_px; i++) {
        if (ent[i] >= thresh) tg[i] = 255;
        else kept++;
    }
    sg_ctx_stage_done(ctx, target, tg);
    sg_tensor *ce = sg_cross_entropy(ctx, pred_u, target, NULL, 255, SG_REDUCE_MEAN);
    double scale = 1.0;
    if (hp->unsup_norm == U2PL_NORM_CODE) scale = (double)n_px / (double)kept;
    else if (hp->unsup_norm == U2PL_NORM_PAPER) scale = (double)kept / (double)n_px;
    sg_tensor *lu = sg_scale(ctx, ce, (float)scale);

    /* alpha_t = low_entropy_threshold (1 - epoch / epochs); contra_loss from
     * compute_contra_memobank_loss (u2pl_contra.c) */
    sg_tensor *lc = NULL;
    if (hp->contrastive) {
        const double alpha_t = (double)hp->low_entropy_threshold * (1.0 - progress);
        lc = u2pl_contra_loss(ctx, rep, rep_t, prob_t, lab->mask, label_u, ent, sorted, alpha_t, hp, q,
                              d->sample);
    }
    free(ent);
    free(sorted);
    /* loss = sup_loss + unsup_loss * loss_weight + contra_loss, where
     * dist.all_reduce(contra_loss); contra_loss = contra_loss / world_size * loss_weight */
    sg_tensor *loss = sg_add(ctx, lx, sg_scale(ctx, lu, hp->weight_u));
    if (lc) loss = sg_add(ctx, loss, all_reduced_(ctx, lc, hp->weight_c, hp->contra_world_size));
    sg_semi_term(terms, "loss", sg_tensor_item(loss));
    sg_semi_term(terms, "loss_x", sg_tensor_item(lx));
    sg_semi_term(terms, "loss_u", sg_tensor_item(lu));
    sg_semi_term(terms, "loss_c", lc ? sg_tensor_item(lc) : 0.0);
    terms->mask_ratio = (double)kept / (double)n_px;
    return loss;
}
