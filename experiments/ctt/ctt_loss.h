/*
 * ctt_loss.h: one step of cross teacher training (experiments/ctt/
 * ctt_loss.c) and its memory-bank update, for the trainer ctt.c and
 * tests/test_ctt.c. Built into experiments/libsgmethods.a.
 */
#ifndef SEMISEG_EXPERIMENTS_CTT_LOSS_H
#define SEMISEG_EXPERIMENTS_CTT_LOSS_H

#include "semiseg/class_queue.h"
#include "semiseg/method.h"

typedef struct ctt_params {
    float conf_uniform;       /* lambda = fraction of pixels with conf >= this: 0.968 */
    float weight_u;           /* consistency_weight: 1 */
    bool blur;                /* Gaussian blur after mixing (config 'blur': true) */
    float blur_thresh;        /* blur when U(0, 1) > this: 0.5 */
    float sigma_min, sigma_max; /* blur sigma ~ U(0.15, 1.15) */
    bool teacher_train_bn;    /* teachers predict with batch statistics (released: ema_model.train()) */
    bool contr_high, contr_low; /* the two contrastive modules */
    float weight_high, weight_low; /* 0.1, 0.1 (SSL_CTT@2e26335; 0 since SSL_CTT@0cde6e8) */
    float tau_high, tau_low;  /* 0.1, 0.5 */
    float gamma;              /* confidence splitting anchors: 0.75 */
    int contr_chunk;          /* anchors per chunk of the contrastive terms (memory, not the result): 4096 */
} ctt_params;

/* The four networks (index 0 = L, 1 = R) and the two banks of labeled
 * features (bank[s] filled by teacher s; NULL when no contrastive module is
 * on). scratch: a context on the step's backend that the contrastive terms
 * differentiate their chunks on, kept by the caller from step to step so
 * that its memory is reused (NULL: one made and freed per term, which
 * costs the page faults of fresh memory at every step). */
typedef struct ctt_nets {
    sg_deeplab *student[2];
    sg_deeplab *teacher[2];
    sg_class_queue *bank[2];
    sg_ctx *scratch;
} ctt_nets;

typedef struct ctt_terms {
    double loss;              /* loss_L + loss_R, the back-propagated total */
    double loss_s[2];         /* per student: x + u + w_high high + w_low low */
    double x[2], u[2];        /* supervised CE, weighted cross-teacher CE */
    double high[2], low[2];   /* contrastive terms; 0 until both banks are full */
    double lambda[2];         /* the uniform confidence weight of each student's mix */
    bool contr;               /* the contrastive terms were computed (banks full) */
} ctt_terms;

/* Both students' losses on a labeled batch (img, mask) and an unlabeled one
 * (img): student s is supervised by the peer teacher 1 - s on its own ClassMix
 * of the unlabeled images (masks and blur drawn from rng[s]):
 *   loss_s = CE(s(x), y) + w_u lambda_s mean CE(s(mix_s), yhat_s)
 *            [+ w_high L_high(s) + w_low L_low(s) once both banks are full],
 * returned as loss_L + loss_R (one backward: no gradient crosses the
 * students). sup: the supervised criterion (NULL: CE, ignore 255). */
sg_tensor *ctt_loss(sg_ctx *ctx, const ctt_nets *nets, const sg_batch *lab, const sg_batch *unl,
                    const ctt_params *hp, sg_rng rng[2], const sg_semi_sup *sup, ctt_terms *terms);

/* The teacher's start and update (create_ema_model, update_ema_variables):
 * with train_bn (the released teachers, which predict with batch
 * statistics) on the parameters only: the teacher's BN statistics are its
 * own, from its train-mode passes (a fresh Res_Deeplab's at the start, as
 * create_ema_model builds one and copies model.parameters() into it). Without
 * train_bn (the teachers predict with running statistics) the statistics
 * are copied at the start and averaged like the parameters.
 *   ctt_teacher_start:  teacher = student
 *   ctt_teacher_update: teacher = decay teacher + (1 - decay) student */
void ctt_teacher_start(sg_deeplab *teacher, const sg_deeplab *student, bool train_bn);
void ctt_teacher_update(sg_deeplab *teacher, const sg_deeplab *student, float decay, bool train_bn);

/* True when every class of both banks holds its capacity (the released
 * with_embed switch). */
bool ctt_banks_full(const ctt_nets *nets);

/* Entries a class gains per update: max(int(2 capacity / n_labeled),
 * batch_size) (every_memory_count / labeled_samples * 2 against
 * min_add_count * batch_size). */
int ctt_bank_admit_count(int capacity, int n_labeled, int batch_size);

/* add_to_memory_bank: teacher (train-mode BN when train_bn) predicts the
 * labeled batch without gradient; at decoder-feature resolution, the pixels
 * whose argmax equals the nearest-downsampled label and whose maximum RAW
 * logit is >= logit_thresh are candidates; per class present, the n_add with
 * the largest logit (all, in pixel order, when fewer) have their
 * L2-normalised features pushed to the class's queue. Host-side selection
 * (sg_tensor_read of logits, features and labels). */
void ctt_bank_update(sg_ctx *ctx, sg_deeplab *teacher, sg_class_queue *bank, const sg_batch *lab,
                     int n_add, float logit_thresh, bool train_bn);

#endif
