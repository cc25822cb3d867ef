/*
 * ctt.c: cross teacher training (Xiao et al., Neurocomputing 508, 2022;
 * 1181110317/SSL_CTT@33d7e3c:cross_teacher_contr.py): two students L and R
 * with different initialisations, each with an EMA teacher; student L is
 * taught by teacher R and R by teacher L on their own ClassMix of the
 * unlabeled batch,
 *     loss_s = L_x(s) + w_u lambda_s CE_u(s) [+ w_high L_high(s) + w_low L_low(s)],
 * with CE_u(s) the mean CE of student s on its mix against the peer
 * teacher's mixed pseudo-labels; computed by ctt_loss() (ctt_loss.c). The
 * contrastive terms read two memory banks of labeled features that the
 * teachers fill after every step.
 * This file is the configuration section, the second student with its SGD,
 * the teachers, the banks and the run driver's callbacks: the driver
 * trains run->model (student L); after_step steps student R, updates both
 * teachers, then the banks (the released order).
 *
 * experiments/ctt/README.md is the literate account. Covered by
 * tests/test_ctt.c (one iteration against PyTorch) and tests/trainer_ctt.sh
 * (a few iterations end to end, kill and resume).
 */
#include <stdlib.h>

#include "ctt_loss.h"
#include "semiseg/run.h"

/* Student R's init seed: the run seed with these bits flipped, so that no
 * run's R starts from another run's L. */
#define CTT_SEED_R 0x4354545f52ULL

/* Hyper-parameters, section [ctt] (sources in the README). */
typedef struct {
    ctt_params loss;
    float alpha;                /* EMA decay cap: 0.99 */
    int bank_size;              /* entries per class: 256 */
    float bank_logit;           /* admission: max raw logit >= 0.95 */
    int eval_student;           /* 0 = L, 1 = R */
} ctt_hp_;

typedef struct {
    ctt_hp_ hp;
    sg_deeplab student_r, teacher_l, teacher_r;
    sg_sgd opt_r;
    bool opt_ok;
    sg_param_set bank_set;
    sg_class_queue bank[2];
    sg_ctx scratch;             /* the contrastive chunks' context, kept across steps (ctt_nets.scratch), */
                                /* made at the first step, on the backend the run trains on */
    ctt_nets nets;
    int n_add;                  /* bank entries a class gains per update */
    const sg_batch *lab;        /* this step's labeled batch, for after_step */
} ctt_state_;

static int ctt_read_(sg_run *run, ctt_hp_ *hp, const char **pretrained_r, sg_err *err)
{
    sg_config *c = run->cfg;
    ctt_params *p = &hp->loss;
    static const char *const students[] = {"l", "r", NULL};
    float blur_p;
    bool jitter;
    long bank, chunk;
    const char *pretrained;
    if (sg_config_float(c, "ctt.conf_uniform", 0.968f, 0, 1, &p->conf_uniform, err) ||
        sg_config_float(c, "ctt.weight_u", 1, 0, 100, &p->weight_u, err) ||
        sg_config_bool(c, "ctt.blur", true, &p->blur, err) ||
        sg_config_float(c, "ctt.blur_p", 0.5f, 0, 1, &blur_p, err) ||
        sg_config_float(c, "ctt.blur_sigma_min", 0.15f, 1e-3f, 100, &p->sigma_min, err) ||
        sg_config_float(c, "ctt.blur_sigma_max", 1.15f, 1e-3f, 100, &p->sigma_max, err) ||
        sg_config_bool(c, "ctt.color_jitter", false, &jitter, err) ||
        sg_config_bool(c, "ctt.teacher_train_bn", true, &p->teacher_train_bn, err) ||
        sg_config_float(c, "ctt.alpha", 0.99f, 0, 1, &hp->alpha, err) ||
        sg_config_bool(c, "ctt.contr_high", true, &p->contr_high, err) ||
        sg_config_bool(c, "ctt.contr_low", true, &p->contr_low, err) ||
        sg_config_float(c, "ctt.weight_high", 0.1f, 0, 100, &p->weight_high, err) ||
        sg_config_float(c, "ctt.weight_low", 0.1f, 0, 100, &p->weight_low, err) ||
        sg_config_float(c, "ctt.tau_high", 0.1f, 1e-3f, 100, &p->tau_high, err) ||
        sg_config_float(c, "ctt.tau_low", 0.5f, 1e-3f, 100, &p->tau_low, err) ||
        sg_config_float(c, "ctt.gamma", 0.75f, 0, 1, &p->gamma, err) ||
        sg_config_int(c, "ctt.bank_size", 256, 1, 1 << 16, &bank, err) ||
        sg_config_int(c, "ctt.contr_chunk", 4096, 1, 1 << 24, &chunk, err) ||
        sg_config_float(c, "ctt.bank_logit", 0.95f, -1e6f, 1e6f, &hp->bank_logit, err) ||
        sg_config_choice(c, "ctt.eval_student", "l", students, &hp->eval_student, err) ||
        sg_config_string(c, "model.pretrained", "", &pretrained, err) ||
        sg_config_string(c, "ctt.pretrained_r", pretrained, pretrained_r, err))
        return -1;
    if (p->sigma_min > p->sigma_max)
        return sg_err_set(err, "ctt.blur_sigma_min %g > ctt.blur_sigma_max %g", (double)p->sigma_min,
                          (double)p->sigma_max);
    if (jitter)
        return sg_err_set(err, "ctt.color_jitter = true is not implemented: the released kornia ColorJitter "
                               "on float tensors has no bit-matching op here (README \"Deviations\")");
    p->blur_thresh = 1.0f - blur_p;
    hp->bank_size = (int)bank;
    p->contr_chunk = (int)chunk;
    return 0;
}

static int ctt_init_(sg_run *run, void **state, sg_err *err)
{
    ctt_hp_ hp;
    const char *pretrained_r;
    if (ctt_read_(run, &hp, &pretrained_r, err)) return -1;
    /* Its weights are part of the experiment by content, as model.pretrained's. */
    sg_run_hash_file_key(run, "ctt.pretrained_r");
    ctt_state_ *s = sg_xcalloc(1, sizeof *s);
    *state = s;
    s->hp = hp;
    /* model_l = Res_Deeplab(); model_r = Res_Deeplab(), each loaded from its
     * own checkpoint (restore_from_l / restore_from_r): here R draws its
     * initialisation from another seed and loads ctt.pretrained_r. */
    sg_deeplab_init(&s->student_r, &run->model_cfg, run->seed ^ CTT_SEED_R);
    if (pretrained_r[0] && sg_pretrained_load_resnet(&s->student_r.params, "backbone.", pretrained_r, err))
        return -1;
    sg_run_sgd_init(run, &s->student_r.params, &s->opt_r);
    s->opt_ok = true;
    /* ema_model_l = create_ema_model(model_l), ema_model_r alike: teacher L
     * is run->ema, teacher R an extra state set. */
    sg_semi_teacher_init(&s->teacher_l, run);
    sg_deeplab_init(&s->teacher_r, &run->model_cfg, run->seed ^ CTT_SEED_R);
    sg_run_add_state(run, "student_r/", &s->student_r.params, &s->opt_r);
    sg_run_add_state(run, "teacher_r/", &s->teacher_r.params, NULL);
    s->nets = (ctt_nets){.student = {&run->model, &s->student_r}, .teacher = {&s->teacher_l, &s->teacher_r}};
    if (hp.loss.contr_high || hp.loss.contr_low) {
        /* memory_bank_l / _r: (num_classes, 256, 256), one per teacher */
        int *cap = sg_xmalloc((size_t)run->n_classes * sizeof *cap);
        for (int c = 0; c < run->n_classes; c++) cap[c] = hp.bank_size;
        sg_param_set_init(&s->bank_set);
        const int dim = run->model_cfg.decoder_channels;
        sg_class_queue_init(&s->bank[0], &s->bank_set, "l.", run->n_classes, cap, dim);
        sg_class_queue_init(&s->bank[1], &s->bank_set, "r.", run->n_classes, cap, dim);
        free(cap);
        sg_run_add_state(run, "bank/", &s->bank_set, NULL);
        s->nets.bank[0] = &s->bank[0];
        s->nets.bank[1] = &s->bank[1];
        s->n_add = ctt_bank_admit_count(hp.bank_size, run->n_labeled, run->batch_size);
    }
    return 0;
}

static int ctt_step_(sg_run *run, void *state, const sg_batch *lab, const sg_batch *unl, sg_losses *out,
                     sg_err *err)
{
    (void)err;
    ctt_state_ *s = state;
    /* At iteration 0 each teacher becomes a copy of its student (L's
     * pretrained weights are loaded by the driver after init). */
    if (run->iter == 0)
        for (int i = 0; i < 2; i++)
            ctt_teacher_start(s->nets.teacher[i], s->nets.student[i], s->hp.loss.teacher_train_bn);
    sg_param_zero_grad(&s->student_r.params);
    /* the ClassMix masks and blur of student s: draw s of this iteration */
    sg_rng rng[2];
    sg_run_rng(run, 0, &rng[0]);
    sg_run_rng(run, 1, &rng[1]);
    const sg_semi_sup sup = sg_semi_sup_of_run(run);
    if (s->nets.bank[0] && !s->nets.scratch) {
        sg_ctx_init_on(&s->scratch, run->ctx.be);
        s->nets.scratch = &s->scratch;
    }
    ctt_terms t;
    sg_tensor *loss = ctt_loss(&run->ctx, &s->nets, lab, unl, &s->hp.loss, rng, &sup, &t);
    sg_backward(&run->ctx, loss);
    s->lab = lab;
    static const char *const names[2][5] = {{"loss_l", "loss_x_l", "loss_u_l", "loss_high_l", "loss_low_l"},
                                            {"loss_r", "loss_x_r", "loss_u_r", "loss_high_r", "loss_low_r"}};
    sg_losses_add(out, "loss", t.loss);
    for (int i = 0; i < 2; i++) {
        sg_losses_add(out, names[i][0], t.loss_s[i]);
        sg_losses_add(out, names[i][1], t.x[i]);
        sg_losses_add(out, names[i][2], t.u[i]);
        sg_losses_add(out, names[i][3], t.high[i]);
        sg_losses_add(out, names[i][4], t.low[i]);
    }
    sg_losses_add(out, "lambda_l", t.lambda[0]);
    sg_losses_add(out, "lambda_r", t.lambda[1]);
    sg_losses_add(out, "contr", t.contr);
    /* the log's mask ratio: both students' uniform weights, averaged */
    out->mask_ratio = (t.lambda[0] + t.lambda[1]) / 2;
    out->images = 2 * (lab->n + unl->n);   /* x and the mix, through both students */
    return 0;
}

/* optimizer_r.step(); update_ema_variables(ema_model_l, model_l, 0.99, i_iter)
 * and (ema_model_r, model_r); then both teachers fill their banks from the
 * labeled batch (add_to_memory_bank). The teachers average parameters only
 * and keep their own BN statistics, from their train-mode passes
 * (ctt_teacher_update; with teacher_train_bn = false the statistics are
 * averaged too). */
static void ctt_after_step_(sg_run *run, void *state)
{
    ctt_state_ *s = state;
    sg_sgd_step(&s->opt_r, &s->student_r.params, run->lr);
    const float d = sg_semi_ema_decay(run->iter, s->hp.alpha);
    for (int i = 0; i < 2; i++)
        ctt_teacher_update(s->nets.teacher[i], s->nets.student[i], d, s->hp.loss.teacher_train_bn);
    if (s->nets.bank[0])
        for (int i = 0; i < 2; i++)
            ctt_bank_update(&run->ctx, s->nets.teacher[i], s->nets.bank[i], s->lab, s->n_add, s->hp.bank_logit,
                            s->hp.loss.teacher_train_bn);
    s->lab = NULL;
}

/* The released script evaluates the students (model_l.eval()), not the
 * teachers. */
static sg_deeplab *ctt_eval_model_(sg_run *run, void *state)
{
    ctt_state_ *s = state;
    return s->hp.eval_student ? &s->student_r : &run->model;
}

static void ctt_free_(void *state)
{
    ctt_state_ *s = state;
    if (!s) return;
    if (s->opt_ok) sg_sgd_free(&s->opt_r);
    if (s->student_r.params.n_params) sg_deeplab_free(&s->student_r);
    if (s->teacher_l.params.n_params) sg_deeplab_free(&s->teacher_l);
    if (s->teacher_r.params.n_params) sg_deeplab_free(&s->teacher_r);
    if (s->nets.bank[0]) sg_param_set_free(&s->bank_set);
    if (s->nets.scratch) sg_ctx_free(s->nets.scratch);
    free(s);
}

static const sg_method method = {
    .name = "ctt",
    .unlabeled_loaders = 1,
    .unlabeled_views = SG_VIEWS_WEAK,   /* ClassMix builds its strong input from u_w */
    .init = ctt_init_,
    .step = ctt_step_,
    .after_step = ctt_after_step_,
    .eval_model = ctt_eval_model_,
    .free = ctt_free_,
};

int main(int argc, char **argv)
{
    return sg_run_main(argc, argv, &method);
}
