/*
 * allspark_loss.c: one AllSpark training step, the body of the loop in
 * xmed-lab/AllSpark@9da63e2:train_allspark.py (quoted in the comments):
 * pseudo-labels and the grouping map from an eval-mode pass over the
 * unlabeled batch, one train-mode pass over labeled + unlabeled images
 * through the network with the AllSpark module on c4 (SegFormer as
 * released, or the DeepLabV3+: allspark.h; the module fills the Semantic
 * Memory from that pass and, after the warm-up, reads it), and
 * L = (L_x + L_u) / 2: no threshold, no teacher.
 *
 * The trainer (allspark.c) adds backward, the SGD step and the logging.
 * Covered by tests/test_allspark.c (one iteration against PyTorch) and
 * tests/trainer_allspark.sh.
 */
#include "allspark_loss.h"

#include <math.h>
#include <stdlib.h>

#include "semiseg/method.h"

/* The logits of the eval-mode, no-grad pass; only they outlive it. */
static sg_tensor *predict_eval_(sg_ctx *ctx, sg_allspark_net *net, sg_tensor *x)
{
    const bool was_grad = sg_ctx_set_grad(ctx, false);
    const sg_arena_mark mark = sg_arena_get_mark(&ctx->arena);
    const int n_nodes = ctx->n_nodes;
    bool *training = sg_allspark_net_training(net);
    *training = false;
    sg_tensor *logits = sg_allspark_net_forward(ctx, net, x, NULL, false, NULL);
    *training = true;
    sg_ctx_set_grad(ctx, was_grad);
    return sg_ctx_release_keep(ctx, mark, n_nodes, logits);
}

sg_tensor *allspark_loss(sg_ctx *ctx, sg_allspark_net *net, const sg_batch *lab, const sg_batch *unl,
                         const allspark_params *hp, const sg_mit_noise *noise, const sg_semi_sup *sup,
                         sg_semi_terms *terms)
{
    SG_CHECK(lab && lab->img_s1 && lab->mask && unl && unl->img && (!hp->ignore_padding || unl->ignore),
             "allspark_loss: needs the labeled strong view and mask and the unlabeled images%s",
             hp->ignore_padding ? " with their padding mask" : "");
    const int nl = lab->img_s1->shape[0], nu = unl->img->shape[0];
    /* with torch.no_grad(): model.eval(); pred_u_pseudo = model(img_u_s).detach()
     *     model.module.decoder.set_pseudo_prob_map(pred_u_pseudo)
     *     pseudo_label = pred_u_pseudo.argmax(dim=1) */
    sg_tensor *pred_pseudo = predict_eval_(ctx, net, unl->img);
    sg_pseudo pl;
    sg_semi_pseudo_label(ctx, pred_pseudo, NULL, &pl);
    sg_tensor *target = pl.label;
    if (hp->ignore_padding) {
        /* One int map per step, read to the host: padded pixels become 255. */
        const size_t n = sg_numel(pl.label);
        int32_t *lbl = sg_xmalloc(n * sizeof *lbl), *ign = sg_xmalloc(n * sizeof *ign);
        sg_tensor_read(pl.label, lbl);
        sg_tensor_read(unl->ignore, ign);
        for (size_t i = 0; i < n; i++)
            if (ign[i] == 255) lbl[i] = 255;
        target = sg_tensor_like(ctx, pl.label);
        sg_tensor_write(target, lbl);
        free(lbl);
        free(ign);
    }
    /* model.train(); preds = model(torch.cat((img_x, img_u_s)))
     * pred_x, pred_u = preds.split([num_lb, num_ulb]) */
    *sg_allspark_net_training(net) = true;
    sg_tensor *x = sg_concat(ctx, (sg_tensor *const[]){lab->img_s1, unl->img}, 2, 0);
    sg_tensor *preds = sg_allspark_net_forward(ctx, net, x, pred_pseudo, hp->use_memory, noise);
    sg_tensor *pred_x = sg_narrow(ctx, preds, 0, 0, nl), *pred_u = sg_narrow(ctx, preds, 0, nl, nu);
    /* loss_x = criterion_l(pred_x, mask_x); loss_u = criterion_u(pred_u, pseudo_label)
     * (CrossEntropyLoss(ignore_index=255): a mean over every pixel the
     * argmax labels, padding included as released)
     * loss = (loss_x + loss_u) / 2.0 */
    sg_tensor *lx = sg_semi_sup_apply(ctx, sup, pred_x, lab->mask);
    sg_tensor *lu = sg_cross_entropy(ctx, pred_u, target, NULL, 255, SG_REDUCE_MEAN);
    sg_tensor *loss = sg_scale(ctx, sg_add(ctx, lx, lu), 0.5f);
    *terms = (sg_semi_terms){0};
    sg_semi_term(terms, "loss", sg_tensor_item(loss));
    sg_semi_term(terms, "loss_x", sg_tensor_item(lx));
    sg_semi_term(terms, "loss_u", sg_tensor_item(lu));
    terms->mask_ratio = NAN;
    return loss;
}
