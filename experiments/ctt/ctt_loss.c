/*
 * ctt_loss.c: one step of cross teacher training (Xiao et al., "Semi-supervised
 * semantic segmentation with cross teacher training", Neurocomputing 508,
 * 2022), the body of the training loop of
 * 1181110317/SSL_CTT@33d7e3c:cross_teacher_contr.py main() with its
 * ema_loss() (cross-teacher ClassMix consistency), contr_self_loss() and
 * contr_net_loss() (ctt_contrast.c), and add_to_memory_bank() (the bank
 * update the trainer runs after the optimizer steps). The comments quote
 * the released script; s = 0 is student L, s = 1 student R, and student s
 * learns from the PEER teacher 1 - s.
 *
 * The trainer (ctt.c) adds the backward, both SGD steps, both EMA updates
 * and the bank updates. Covered by tests/test_ctt.c (one iteration against
 * tests/ref/gen_ctt.py's PyTorch re-implementation of the script) and
 * tests/trainer_ctt.sh.
 */
#include "ctt_loss.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ctt_contrast.h"
#include "semiseg/classmix.h"

/* Fraction of all pixels with conf >= thresh:
 * torch.sum(max_probs.ge(0.968).long() == 1).item() / np.size(pseudo_label) */
static double uniform_weight_(const sg_tensor *conf, float thresh)
{
    const size_t n = sg_numel(conf);
    float *c = sg_xmalloc(n * sizeof *c);
    sg_tensor_read(conf, c);
    size_t hit = 0;
    for (size_t i = 0; i < n; i++) hit += c[i] >= thresh;
    free(c);
    return (double)hit / (double)n;
}

/* The strong transform after mixing (strongTransform: mix, colorJitter,
 * gaussian_blur, flip): colour jitter and flip are off in this trainer
 * (README "Deviations"); the blur is drawn once per batch:
 * strong_parameters["GaussianBlur"] = random.uniform(0, 1);
 * if blur > 0.5: sigma = np.random.uniform(0.15, 1.15). */
static sg_tensor *strong_(sg_ctx *ctx, sg_tensor *mixed, const ctt_params *hp, sg_rng *rng)
{
    if (!hp->blur) return mixed;
    if (!(sg_rng_uniform(rng) > hp->blur_thresh)) return mixed;
    const float sigma = hp->sigma_min + (hp->sigma_max - hp->sigma_min) * sg_rng_uniform(rng);
    return sg_semi_gaussian_blur(ctx, mixed, sigma);
}

/* The parameters of a set without its buffers: a view, not a copy. */
static sg_param_set params_only_(const sg_param_set *s)
{
    sg_param_set v = *s;
    v.n_buffers = 0;
    return v;
}

void ctt_teacher_start(sg_deeplab *teacher, const sg_deeplab *student, bool train_bn)
{
    /* create_ema_model: mcp[i].data[:] = mp[i].data[:].clone() over
     * model.parameters() of a new Res_Deeplab */
    if (!train_bn) {
        sg_param_set_copy(&teacher->params, &student->params);
        return;
    }
    sg_param_set t = params_only_(&teacher->params), m = params_only_(&student->params);
    sg_param_set_copy(&t, &m);
}

void ctt_teacher_update(sg_deeplab *teacher, const sg_deeplab *student, float decay, bool train_bn)
{
    /* update_ema_variables: for ema_param, param in zip(ema_model.parameters(), model.parameters()):
     *     ema_param.data[:] = alpha_teacher * ema_param[:].data[:] + (1 - alpha_teacher) * param[:].data[:] */
    if (!train_bn) {
        sg_ema_update(&teacher->params, &student->params, decay, true);
        return;
    }
    sg_param_set t = params_only_(&teacher->params), m = params_only_(&student->params);
    sg_ema_update(&t, &m, decay, false);
}

bool ctt_banks_full(const ctt_nets *nets)
{
    for (int s = 0; s < 2; s++) {
        const sg_class_queue *q = nets->bank[s];
        if (!q) return false;
        for (int c = 0; c < q->n_classes; c++)
            if (sg_class_queue_size(q, c) < q->capacity[c]) return false;
    }
    return true;
}

sg_tensor *ctt_loss(sg_ctx *ctx, const ctt_nets *nets, const sg_batch *lab, const sg_batch *unl,
                    const ctt_params *hp, sg_rng rng[2], const sg_semi_sup *sup, ctt_terms *terms)
{
    SG_CHECK(lab && lab->img && lab->mask && unl && unl->img,
             "ctt_loss: needs a labeled batch (img, mask) and an unlabeled one (img)");
    const bool contr = (hp->contr_high || hp->contr_low) && ctt_banks_full(nets);
    /* pred_l = model_l(images); pred_r = model_r(images)
     * L_l_l = loss_calc(interp(pred_l['out']), labels), L_l_r alike */
    sg_deeplab_out ox[2], ou[2];
    sg_tensor *lx[2], *lu[2];
    for (int s = 0; s < 2; s++) {
        nets->student[s]->training = true;
        sg_deeplab_forward(ctx, nets->student[s], lab->img, NULL, &ox[s]);
        lx[s] = sg_semi_sup_apply(ctx, sup, ox[s].logits, lab->mask);
    }
    /* L_u_ema_l, ... = ema_loss(model_l, ema_model_r, ...);
     * L_u_ema_r, ... = ema_loss(model_r, ema_model_l, ...) */
    sg_classmix cm[2];
    *terms = (ctt_terms){0};
    for (int s = 0; s < 2; s++) {
        /* with torch.no_grad(): logits_u_w = interp(ema_model(inputs_u_w)['out'])
         *     softmax_u_w = torch.softmax(logits_u_w, dim=1)
         * (the teachers are in train mode: ema_model.train() once, never eval) */
        sg_tensor *zt = sg_semi_predict(ctx, nets->teacher[1 - s], unl->img, hp->teacher_train_bn);
        const bool was = sg_ctx_set_grad(ctx, false);
        sg_tensor *pt = sg_softmax(ctx, zt, 1);
        /* MixMask from the classes of argmax_u_w; inputs_u_s = strongTransform(
         *     {Mix, ColorJitter, GaussianBlur, flip}, images_remain);
         * softmax_u_w_mixed = strongTransform(..., softmax_u_w) (mix only: the
         * colour and blur steps skip tensors without 3 channels);
         * max_probs, pseudo_label = torch.max(softmax_u_w_mixed, dim=1) */
        sg_semi_classmix(ctx, pt, unl->img, &rng[s], &cm[s]);
        sg_tensor *xs = strong_(ctx, cm[s].img, hp, &rng[s]);
        sg_ctx_set_grad(ctx, was);
        /* logits_u_s = interp(model(inputs_u_s)['out']) */
        nets->student[s]->training = true;
        sg_deeplab_forward(ctx, nets->student[s], xs, NULL, &ou[s]);
        /* unlabeled_weight = fraction of max_probs >= 0.968;
         * L_u = consistency_weight * mean(CE(logits_u_s, pseudo_label) * unlabeled_weight) */
        terms->lambda[s] = uniform_weight_(cm[s].pseudo.conf, hp->conf_uniform);
        sg_tensor *ce = sg_cross_entropy(ctx, ou[s].logits, cm[s].pseudo.label, NULL, -1, SG_REDUCE_MEAN);
        lu[s] = sg_scale(ctx, ce, (float)(hp->weight_u * terms->lambda[s]));
    }

    sg_tensor *loss_s[2];
    for (int s = 0; s < 2; s++) loss_s[s] = sg_add(ctx, lx[s], lu[s]);
    if (contr) {
        /* if with_embed and contr_train: L_l_contr = contr_self_loss(memory_bank_l, ...),
         * L_l_contr_cross = contr_net_loss(cat(memory_bank_l, memory_bank_r), ...), and R's */
        ctt_contrast_in in = {.lab = lab, .ignore_index = 255, .scratch = nets->scratch};
        for (int s = 0; s < 2; s++) {
            in.feat_x[s] = ox[s].feature;
            in.feat_u[s] = ou[s].feature;
            in.student[s] = nets->student[s];
            in.mix[s] = cm[s].pseudo;
            in.bank[s] = nets->bank[s];
        }
        ctt_contrast_out co;
        ctt_contrast(ctx, &in, hp, &co);
        for (int s = 0; s < 2; s++) {
            /* loss_l = L_l_l + L_u_ema_l + 0.1 * L_l_contr_cross + 0.1 * L_l_contr
             * (SSL_CTT@2e26335; SSL_CTT@0cde6e8 drops the last two, as the released
             * HEAD 33d7e3c: weights 0) */
            if (co.low[s]) {
                loss_s[s] = sg_add(ctx, loss_s[s], sg_scale(ctx, co.low[s], hp->weight_low));
                terms->low[s] = sg_tensor_item(co.low[s]);
            }
            if (co.high[s]) {
                loss_s[s] = sg_add(ctx, loss_s[s], sg_scale(ctx, co.high[s], hp->weight_high));
                terms->high[s] = sg_tensor_item(co.high[s]);
            }
        }
    }
    /* loss_l.backward(); optimizer_l.step(); loss_r.backward(); optimizer_r.step():
     * loss_l reaches no parameter of R and loss_r none of L (each student's
     * losses read the other networks only through no-grad teacher passes and
     * the DETACHED peer features of the low-level term), so one backward of
     * the sum leaves in each student's gradients exactly what its own
     * backward would. */
    sg_tensor *loss = sg_add(ctx, loss_s[0], loss_s[1]);
    terms->contr = contr;
    terms->loss = sg_tensor_item(loss);
    for (int s = 0; s < 2; s++) {
        terms->loss_s[s] = sg_tensor_item(loss_s[s]);
        terms->x[s] = sg_tensor_item(lx[s]);
        terms->u[s] = sg_tensor_item(lu[s]);
    }
    return loss;
}

int ctt_bank_admit_count(int capacity, int n_labeled, int batch_size)
{
    /* if int((every_memory_count / labeled_samples) * 2) > min_add_count * batch_size:
     *     add_new_count = int(...) else: min_add_count * batch_size  (min_add_count = 1) */
    const int n = (int)((double)capacity / (double)n_labeled * 2.0);
    return n > batch_size ? n : batch_size;
}

/* Candidate pixel of one class: its index and maximum logit. */
typedef struct {
    float logit;
    size_t pix;
} cand_;

/* prob[mask].sort(descending=True): largest logit first; equal logits keep
 * pixel order. */
static int cand_cmp_(const void *a, const void *b)
{
    const cand_ *x = a, *y = b;
    if (x->logit != y->logit) return x->logit > y->logit ? -1 : 1;
    return (x->pix > y->pix) - (x->pix < y->pix);
}

void ctt_bank_update(sg_ctx *ctx, sg_deeplab *teacher, sg_class_queue *bank, const sg_batch *lab,
                     int n_add, float logit_thresh, bool train_bn)
{
    const bool was_grad = sg_ctx_set_grad(ctx, false), was_training = teacher->training;
    /* with torch.no_grad(): pred_l = ema_model_l(images) */
    teacher->training = train_bn;
    sg_deeplab_out o;
    sg_deeplab_forward(ctx, teacher, lab->img, NULL, &o);
    teacher->training = was_training;
    /* pred['out'] at the feature resolution: the classifier on the feature */
    sg_tensor *z = sg_conv2d(ctx, o.feature, teacher->cls_w, teacher->cls_b, sg_conv2d_params_make(1, 0, 1, 1));
    const int N = z->shape[0], K = z->shape[1], h = z->shape[2], w = z->shape[3], D = o.feature->shape[1];
    SG_CHECK(bank->n_classes == K && bank->dim == D, "ctt_bank_update: bank of %d x %d for %d classes x %d",
             bank->n_classes, bank->dim, K, D);
    /* labels_feat = F.interpolate(labels, size=feat.shape[2:], mode='nearest') */
    sg_tensor *yl = sg_resize_nearest_labels(ctx, lab->mask, h, w);
    sg_ctx_set_grad(ctx, was_grad);
    const size_t hw = (size_t)h * w, P = (size_t)N * hw;
    float *zh = sg_xmalloc(sg_numel(z) * sizeof *zh), *fh = sg_xmalloc(sg_numel(o.feature) * sizeof *fh);
    int32_t *yh = sg_xmalloc(P * sizeof *yh);
    sg_tensor_read(z, zh);
    sg_tensor_read(o.feature, fh);
    sg_tensor_read(yl, yh);
    /* prob, max = torch.max(pred, dim=1)  (raw logits, not probabilities)
     * mask_acc = (labels == max) & (prob >= 0.95) */
    cand_ *cand = sg_xmalloc(P * sizeof *cand);
    int32_t *arg = sg_xmalloc(P * sizeof *arg);
    float *best = sg_xmalloc(P * sizeof *best);
    for (size_t p = 0; p < P; p++) {
        const size_t n = p / hw, i = p % hw;
        const float *zp = zh + n * K * hw + i;
        int a = 0;
        for (int k = 1; k < K; k++)
            if (zp[(size_t)k * hw] > zp[(size_t)a * hw]) a = k;
        arg[p] = a;
        best[p] = zp[(size_t)a * hw];
    }
    float *rows = sg_xmalloc((size_t)n_add * D * sizeof *rows);
    for (int c = 0; c < K; c++) {
        /* mask = (labels == i) & mask_acc; rep_i = rep.permute(0, 2, 3, 1)[mask] */
        size_t m = 0;
        for (size_t p = 0; p < P; p++)
            if (yh[p] == c && arg[p] == c && best[p] >= logit_thresh)
                cand[m++] = (cand_){.logit = best[p], .pix = p};
        if (m == 0) continue;
        /* if len(rep_i) >= add_new_count: the add_new_count largest logits
         * (sorted), else all of them in pixel order */
        if (m >= (size_t)n_add) {
            qsort(cand, m, sizeof *cand, cand_cmp_);
            m = (size_t)n_add;
        }
        for (size_t j = 0; j < m; j++) {
            const size_t n = cand[j].pix / hw, i = cand[j].pix % hw;
            /* the released head's feat is F.normalize(x, dim=1) (p = 2, eps 1e-12) */
            double ss = 0.0;
            for (int d = 0; d < D; d++) {
                const double v = fh[(n * D + (size_t)d) * hw + i];
                ss += v * v;
            }
            const float norm = fmaxf((float)sqrt(ss), 1e-12f);
            for (int d = 0; d < D; d++) rows[j * D + (size_t)d] = fh[(n * D + (size_t)d) * hw + i] / norm;
        }
        /* memory_bank[i]: append; past every_memory_count the oldest go */
        sg_class_queue_push(bank, c, rows, (int)m);
    }
    free(rows);
    free(best);
    free(arg);
    free(cand);
    free(yh);
    free(fh);
    free(zh);
}
