/*
 * u2pl.c: U2PL (Wang et al., "Semi-Supervised Semantic Segmentation Using
 * Unreliable Pseudo-Labels", CVPR 2022; Haochen-Wang409/U2PL@ab3d2be:
 * train_semi.py): a mean teacher whose reliable (low-entropy) pseudo-labels
 * train the student on CutMix-ed unlabeled images, and whose unreliable
 * (high-entropy) pixels become class-wise negative keys of a contrastive
 * loss on a representation head:
 *     L = L_sup + w_u L_u + w_c L_c
 * computed by u2pl_loss() (u2pl_loss.c, u2pl_contra.c). This file is the
 * configuration section, the state that lives across steps and the run
 * driver's callbacks:
 *   - the teacher (run->ema): an EMA of the student's parameters only (its
 *     BN statistics are its own, from its train-mode passes); supervised
 *     only for the first sup_only_epoch epochs, equal to the student during
 *     epoch sup_only_epoch, then d = min(1 - 1/(k + 1), ema_decay) with k the
 *     step count since that epoch began (u2pl_teacher_start / _update in
 *     u2pl_loss.c);
 *   - the representation heads of student and teacher (proj_head.h), in sets
 *     of their own: the driver's SGD was built for run->model before this
 *     init, so the student's head (group 1, the head group) has its own SGD
 *     built like the driver's (sg_run_sgd_init), stepped in after_step at the
 *     run's lr: the same update the driver applies to its head group;
 *   - the per-class queues of negative keys (class_queue.h).
 * All three are registered with sg_run_add_state, so checkpoints carry them
 * and --resume continues bitwise. The teacher is evaluated (the student
 * before sup_only_epoch), as train_semi.py validates.
 *
 * experiments/u2pl/README.md is the literate account. Covered by
 * tests/test_u2pl.c (one iteration against PyTorch) and tests/trainer_u2pl.sh.
 */
#include <stdlib.h>

#include "semiseg/method.h"
#include "semiseg/run.h"
#include "u2pl_loss.h"

typedef struct {
    u2pl_params loss;
    long sup_only_epoch;
    float ema_decay;
    sg_deeplab teacher;
    sg_param_set rep_s_set, rep_t_set, queue_set;
    sg_proj_head rep_s, rep_t;
    sg_sgd rep_opt;
    sg_class_queue queue;
    bool built;
} u2pl_state_;

/* The representation heads draw their initial weights from this seed
 * mixed with the run's, not the run seed itself, whose init streams the
 * model's first parameters already use. */
#define U2PL_REP_SEED 0x5245505245505245ULL

static int u2pl_read_(sg_config *c, u2pl_state_ *s, int *rep_dim, long *queue_size, long *queue_size_bg,
                      sg_err *err)
{
    static const char *const codes[] = {"code", "paper", NULL};
    static const char *const norms[] = {"code", "mean", "paper", NULL};
    static const char *const augs[] = {"cutmix", "none", NULL};
    u2pl_params *p = &s->loss;
    int aug, norm, q_onehot, q_neg, q_idx;
    long low_rank, high_rank, nq, nn, dim, world;
    float aux;
    if (sg_config_int(c, "u2pl.sup_only_epoch", 1, 0, 65535, &s->sup_only_epoch, err) ||
        sg_config_float(c, "u2pl.ema_decay", 0.99f, 0, 1, &s->ema_decay, err) ||
        sg_config_float(c, "u2pl.drop_percent", 80, 0, 100, &p->drop_percent, err) ||
        sg_config_float(c, "u2pl.unsup_weight", 1, 0, 1e6f, &p->weight_u, err) ||
        sg_config_choice(c, "u2pl.apply_aug", "cutmix", augs, &aug, err) ||
        sg_config_bool(c, "u2pl.contrastive", true, &p->contrastive, err) ||
        sg_config_float(c, "u2pl.contra_weight", 1, 0, 1e6f, &p->weight_c, err) ||
        sg_config_int(c, "u2pl.contra_world_size", 4, 1, 1024, &world, err) ||
        sg_config_bool(c, "u2pl.negative_high_entropy", true, &p->negative_high_entropy, err) ||
        sg_config_int(c, "u2pl.low_rank", 3, 1, 256, &low_rank, err) ||
        sg_config_int(c, "u2pl.high_rank", 20, 1, 256, &high_rank, err) ||
        sg_config_float(c, "u2pl.current_class_threshold", 0.3f, 0, 1, &p->delta_p, err) ||
        sg_config_float(c, "u2pl.current_class_negative_threshold", 1, 0, 1, &p->delta_n, err) ||
        sg_config_float(c, "u2pl.low_entropy_threshold", 20, 0, 50, &p->low_entropy_threshold, err) ||
        sg_config_int(c, "u2pl.num_queries", 256, 1, 1 << 16, &nq, err) ||
        sg_config_int(c, "u2pl.num_negatives", 50, 1, 1 << 12, &nn, err) ||
        sg_config_float(c, "u2pl.temperature", 0.5f, 1e-4f, 100, &p->temperature, err) ||
        sg_config_int(c, "u2pl.rep_channels", 256, 1, 4096, &dim, err) ||
        sg_config_float(c, "u2pl.rep_dropout", 0.1f, 0, 0.99f, &p->rep_dropout, err) ||
        sg_config_int(c, "u2pl.queue_size", 30000, 1, 1L << 24, queue_size, err) ||
        sg_config_int(c, "u2pl.queue_size_bg", 50000, 1, 1L << 24, queue_size_bg, err) ||
        sg_config_choice(c, "u2pl.unsup_norm", "code", norms, &norm, err) ||
        sg_config_choice(c, "u2pl.quirk_onehot", "code", codes, &q_onehot, err) ||
        sg_config_choice(c, "u2pl.quirk_negative_mask", "code", codes, &q_neg, err) ||
        sg_config_choice(c, "u2pl.quirk_class_index", "code", codes, &q_idx, err) ||
        sg_config_float(c, "u2pl.aux_loss_weight", 0, 0, 100, &aux, err))
        return -1;
    if (aux != 0.0f)
        return sg_err_set(err, "u2pl.aux_loss_weight = %g: U2PL's auxiliary head on layer3 (Cityscapes, 0.4) "
                               "is not implemented; set it to 0 (experiments/u2pl/README.md)",
                          (double)aux);
    if (low_rank >= high_rank)
        return sg_err_set(err, "u2pl.low_rank = %ld must be below u2pl.high_rank = %ld", low_rank, high_rank);
    p->cutmix = aug == 0;
    p->low_rank = (int)low_rank;
    p->high_rank = (int)high_rank;
    p->num_queries = (int)nq;
    p->num_negatives = (int)nn;
    p->contra_world_size = (int)world;
    p->unsup_norm = (u2pl_unsup_norm)norm;
    p->quirk_onehot = q_onehot == 0;
    p->quirk_negative_mask = q_neg == 0;
    p->quirk_class_index = q_idx == 0;
    *rep_dim = (int)dim;
    return 0;
}

static int u2pl_init_(sg_run *run, void **state, sg_err *err)
{
    u2pl_state_ *s = sg_xcalloc(1, sizeof *s);
    *state = s;
    int dim = 0;
    long qs = 0, qbg = 0;
    if (u2pl_read_(run->cfg, s, &dim, &qs, &qbg, err)) return -1;
    if (run->n_classes > SG_CLASS_QUEUE_MAX)
        return sg_err_set(err, "u2pl: %d classes, the queues hold at most %d", run->n_classes,
                          SG_CLASS_QUEUE_MAX);
    sg_semi_teacher_init(&s->teacher, run);
    /* dec_deeplabv3_plus: self.representation reads the concatenation the
     * classifier reads: here cat(reduce(c1), ASPP), R + A channels. */
    const int cin = run->model_cfg.reduce_channels + run->model_cfg.aspp_channels;
    sg_param_set_init(&s->rep_s_set);
    sg_param_set_init(&s->rep_t_set);
    sg_param_set_init(&s->queue_set);
    /* The head is in U2PL's decoder, its lr x 10 group: the driver's head group 1. */
    sg_builder b = {.set = &s->rep_s_set, .seed = run->seed ^ U2PL_REP_SEED, .group = 1,
                    .conv_init = SG_INIT_TORCH_DEFAULT};
    sg_proj_head_build(&s->rep_s, &b, "representation.", cin, dim, dim);
    b.set = &s->rep_t_set;
    sg_proj_head_build(&s->rep_t, &b, "representation.", cin, dim, dim);
    sg_run_sgd_init(run, &s->rep_s_set, &s->rep_opt);
    /* memobank: queue_size 30000 per class, queue_size[0] = 50000 */
    int cap[SG_CLASS_QUEUE_MAX];
    for (int c = 0; c < run->n_classes; c++) cap[c] = (int)(c == 0 ? qbg : qs);
    sg_class_queue_init(&s->queue, &s->queue_set, "queue.", run->n_classes, cap, dim);
    s->built = true;
    sg_run_add_state(run, "rep/", &s->rep_s_set, &s->rep_opt);
    sg_run_add_state(run, "rep_ema/", &s->rep_t_set, NULL);
    sg_run_add_state(run, "queue/", &s->queue_set, NULL);
    return 0;
}

static int u2pl_step_(sg_run *run, void *state, const sg_batch *lab, const sg_batch *unl, sg_losses *out,
                      sg_err *err)
{
    (void)err;
    u2pl_state_ *s = state;
    /* Iteration 0: the teacher starts as a copy of the student, buffers too
     * (U2PL builds it with the same pretrained backbone); its parameters
     * are overwritten in epoch sup_only_epoch before they are used. */
    if (run->iter == 0) sg_param_set_copy(&s->rep_t_set, &s->rep_s_set);
    sg_semi_teacher_start(&s->teacher, run);
    u2pl_teacher_start(&s->teacher.params, &run->model.params, run->epoch, s->sup_only_epoch);
    u2pl_teacher_start(&s->rep_t_set, &s->rep_s_set, run->epoch, s->sup_only_epoch);
    sg_param_zero_grad(&s->rep_s_set);
    sg_rng mix, sample;
    sg_run_rng(run, 0, &mix);
    sg_run_rng(run, 1, &sample);
    const u2pl_draws d = {.mix = &mix, .sample = &sample, .seed = run->seed,
                          .drop_s = {sg_run_stream(run, 2), sg_run_stream(run, 3)},
                          .drop_t = {sg_run_stream(run, 4), sg_run_stream(run, 5)}};
    const u2pl_nets nets = {&run->model, &s->teacher, &s->rep_s, &s->rep_t};
    const double epochs = (double)run->total_iters / (double)run->iters_per_epoch;
    const bool sup_only = run->epoch < s->sup_only_epoch;
    const sg_semi_sup sup = sg_semi_sup_of_run(run);
    sg_semi_terms terms;
    sg_tensor *loss = u2pl_loss(&run->ctx, &nets, &s->queue, lab, unl, &s->loss, (double)run->epoch / epochs,
                                sup_only, &d, &sup, &terms);
    sg_backward(&run->ctx, loss);
    sg_semi_report(&terms, out);
    out->images = sup_only ? lab->n : lab->n + unl->n;
    return 0;
}

/* After the driver's SGD step of run->model: the head's step, then the
 * teacher's schedule (u2pl_teacher_update: the student's parameters in
 * epoch sup_only_epoch, the parameter-only EMA afterwards). */
static void u2pl_after_step_(sg_run *run, void *state)
{
    u2pl_state_ *s = state;
    sg_sgd_step(&s->rep_opt, &s->rep_s_set, run->lr);
    u2pl_teacher_update(&s->teacher.params, &run->model.params, run->iter, run->iters_per_epoch, run->epoch,
                        s->sup_only_epoch, s->ema_decay);
    u2pl_teacher_update(&s->rep_t_set, &s->rep_s_set, run->iter, run->iters_per_epoch, run->epoch,
                        s->sup_only_epoch, s->ema_decay);
}

static sg_deeplab *u2pl_eval_model_(sg_run *run, void *state)
{
    u2pl_state_ *s = state;
    return run->epoch < s->sup_only_epoch ? &run->model : &s->teacher;
}

static void u2pl_free_(void *state)
{
    u2pl_state_ *s = state;
    if (!s) return;
    if (s->built) {
        sg_sgd_free(&s->rep_opt);
        sg_param_set_free(&s->rep_s_set);
        sg_param_set_free(&s->rep_t_set);
        sg_param_set_free(&s->queue_set);
    }
    if (s->teacher.params.n_params) sg_deeplab_free(&s->teacher);
    free(s);
}

static const sg_method method = {
    .name = "u2pl",
    .unlabeled_loaders = 1,
    .unlabeled_views = SG_VIEWS_WEAK,   /* u_w, pasted with U2PL's own boxes */
    .init = u2pl_init_,
    .step = u2pl_step_,
    .after_step = u2pl_after_step_,
    .eval_model = u2pl_eval_model_,
    .free = u2pl_free_,
};

int main(int argc, char **argv)
{
    return sg_run_main(argc, argv, &method);
}
