/*
 * run.c: the run driver (run.h; README.md "Layout", experiments/README.md).
 *
 * sg_run_main reads the configuration, opens the split's datasets, builds
 * the DeepLabV3+ of [model], the SGD optimizer with UniMatch's two groups
 * and the poly schedule (LiheYoung/UniMatch@0324f3d:unimatch.py:
 * lr * (1 - iters / total_iters) ** 0.9), starts the loaders at the position
 * of the checkpoint (or 0), runs the method's steps, evaluates
 * (LiheYoung/UniMatch@0324f3d:supervised.py, evaluate), checkpoints, and
 * writes result.json and the results.csv row.
 *
 * Bitwise resume: every random draw of a run is a pure function of (seed,
 * stream, counter) with streams keyed by loader/epoch/sample and
 * iteration/call, so the state that must survive is exactly what the
 * checkpoint holds: the model (parameters and BN statistics), the SGD
 * momentum buffers and step count, the method's EMA set, the iteration, and
 * the best evaluation so far. On resume the loaders restart at the epoch and
 * batch of the next iteration (draws are keyed by position, so the batches
 * before it need not be loaded). The checkpoint also carries the run's cost
 * so far (metadata cost_wall_s, cost_train_s, cost_cpu_s, cost_flops), so
 * that result.json sums every segment; two runs that trained identically
 * write the same tensors and differ only there.
 *
 * A run directory is used by one process at a time (lock_dir_). The final
 * checkpoint is written before the final evaluation, so a failure there
 * (or later) resumes without training again. A finished run's results.csv
 * row is appended before result.json is written: result.json marks a run
 * whose row is recorded, and a --resume of a run killed between the two
 * writes (its row is in results.csv, finished after its final checkpoint)
 * writes result.json without a second row.
 *
 * The supervised criterion (sg_run_sup_loss) is train.loss: cross-entropy,
 * or OHEM (sg_ohem_cross_entropy, ops.h).
 *
 * The configuration sections are read by run_config.c.
 *
 * Covered by tests/run_resume.sh, tests/run_nan.sh, tests/run_config_errors.sh,
 * tests/trainer_supervised.sh, tests/run_lock.sh, tests/run_results.sh,
 * tests/run_write_errors.sh, tests/run_costs.sh, tests/run_commit.sh and
 * tests/run_final_eval.sh.
 */
#include "run_priv.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "semiseg/io.h"
#include "sg_commit.h"

static volatile sig_atomic_t sg_run_signal_;

static void on_signal_(int sig)
{
    sg_run_signal_ = sig;
}

void sg_losses_add(sg_losses *l, const char *name, double value)
{
    SG_CHECK(l->n < SG_LOSSES_MAX, "sg_losses_add: more than %d terms", SG_LOSSES_MAX);
    SG_CHECK(strlen(name) < SG_LOSS_NAME_LEN && name[0], "sg_losses_add: bad name '%s'", name);
    strcpy(l->names[l->n], name);
    l->values[l->n++] = value;
}

uint64_t sg_run_stream(const sg_run *run, unsigned call)
{
    return sg_rng_stream(SG_RNG_DROPOUT, (uint64_t)run->iter, call);
}

void sg_run_rng(const sg_run *run, unsigned call, sg_rng *rng)
{
    sg_rng_init(rng, run->seed, sg_run_stream(run, call));
}

void sg_run_add_state(sg_run *run, const char *prefix, sg_param_set *set, sg_sgd *opt)
{
    sg_run_priv_ *p = run->priv;
    SG_CHECK(!p->state_ok, "sg_run_add_state: call it from the method's init");
    SG_CHECK(p->n_extra < SG_CKPT_MAX_EXTRA, "sg_run_add_state: more than %d sets", SG_CKPT_MAX_EXTRA);
    SG_CHECK(prefix && set && (!opt || opt->n_bufs == set->n_params),
             "sg_run_add_state: \"%s\" needs a set (and an optimizer made for it)", prefix ? prefix : "(null)");
    p->extra[p->n_extra++] = (sg_ckpt_part){.prefix = prefix, .set = set, .opt = opt};
}

void sg_run_hash_file_key(sg_run *run, const char *key)
{
    sg_run_priv_ *p = run->priv;
    SG_CHECK(!p->state_ok, "sg_run_hash_file_key: call it from the method's init");
    SG_CHECK(key && strchr(key, '.') && p->n_file_keys < SG_RUN_MAX_FILE_KEYS,
             "sg_run_hash_file_key: \"%s\" is not section.key, or more than %d keys", key ? key : "(null)",
             SG_RUN_MAX_FILE_KEYS);
    p->file_keys[p->n_file_keys++] = key;
}

void sg_run_sgd_init(const sg_run *run, const sg_param_set *set, sg_sgd *opt)
{
    sg_sgd_init(opt, set, run->opt.n_groups, run->opt.momentum, run->opt.groups[0].weight_decay);
    for (int g = 0; g < run->opt.n_groups; g++) opt->groups[g] = run->opt.groups[g];
}

sg_tensor *sg_run_sup_loss(sg_run *run, sg_tensor *logits, const sg_tensor *mask)
{
    sg_run_priv_ *p = run->priv;
    if (p->loss_kind == LOSS_CE)
        return sg_cross_entropy(&run->ctx, logits, mask, NULL, run->ignore_index, SG_REDUCE_MEAN);
    return sg_ohem_cross_entropy(&run->ctx, logits, mask, run->ignore_index, p->ohem_thresh,
                                 p->ohem_min_kept);
}

/* ---- helpers ------------------------------------------------------------------ */

static bool exists_(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

static int ds_load_(void *ctx, int index, sg_image *img, sg_image *mask, sg_err *err)
{
    return sg_dataset_load(ctx, index, img, mask, err);
}

static void path_(char *out, size_t len, const sg_run *run, const char *name)
{
    snprintf(out, len, "%s/%s", run->dir, name);
}

/* A row of log.tsv or eval.tsv reached the file. Checked after every row: a
 * write that fails (a full disk) stops the run at the row it lost, rather
 * than going on with a gap or a torn row followed by complete ones. */
static int tsv_flush_(const sg_run *run, FILE *fp, const char *name, long done, sg_err *err)
{
    errno = 0;
    if (fflush(fp) == 0 && !ferror(fp)) return 0;
    return sg_err_set(err, "%s/%s: write error at iteration %ld: %s", run->dir, name, done,
                      errno ? strerror(errno) : "I/O error");
}

/* ---- evaluation ------------------------------------------------------------------ */
static void model_meta_(const sg_run *run, sg_checkpoint *ck);

/* A DeepLabV3+ as the driver sees a network. */
static sg_run_net deeplab_net_(const sg_run *run, sg_deeplab *m)
{
    sg_run_net net = {.params = &m->params,
                      .training = &m->training,
                      .self = m,
                      .logits = sg_deeplab_logits,
                      .load_pretrained = sg_pretrained_load_resnet};
    sg_deeplab_config_format(&run->model_cfg, net.line, sizeof net.line);
    return net;
}

/* The network evaluated: the method's eval_model (a teacher), else the model. */
static sg_run_net eval_model_(sg_run *run)
{
    sg_run_priv_ *p = run->priv;
    return p->m->eval_model ? deeplab_net_(run, p->m->eval_model(run, p->state)) : run->net;
}

/* The confusion matrix of m (in eval mode for this pass) over ds, as
 * UniMatch's evaluate(): whole images or sliding windows (p->eval). */
static int eval_set_(sg_run *run, const sg_run_net *m, sg_dataset *ds, sg_confusion *cm, sg_err *err)
{
    sg_run_priv_ *p = run->priv;
    bool was = *m->training;
    *m->training = false;
    sg_confusion_init(cm, run->n_classes, run->ignore_index);
    int rc = 0;
    for (int i = 0; i < ds->n && !rc; i++) {
        sg_image img = {0}, mask = {0};
        if (sg_dataset_load(ds, i, &img, &mask, err)) {
            rc = -1;
            break;
        }
        sg_tensor *x = sg_tensor_alloc(SG_F32, 4, (int[]){1, 3, img.h, img.w}, false);
        sg_aug_normalize(x->data, &img, p->aug.mean, p->aug.std);
        rc = sg_eval_image(&run->ctx, &p->eval, m->logits, m->self, x, &mask, cm, NULL, err);
        sg_tensor_free(x);
        sg_image_free(&img);
        sg_image_free(&mask);
    }
    *m->training = was;
    if (rc) sg_confusion_free(cm);
    return rc;
}

/* With a test set, the weights of the best validation mIoU so far are kept
 * for the final test evaluation in ckpt/best.safetensors (atomic; metadata
 * best_iter ties it to the run's record, which finish_ checks). A kill
 * between this file and the next last.safetensors is harmless: the resumed
 * run repeats the evaluation that found this best and rewrites the same
 * bytes. */
static int save_best_(sg_run *run, const sg_run_net *m, long done, sg_err *err)
{
    sg_checkpoint ck = {.model = m->params, .iteration = done};
    model_meta_(run, &ck);
    char buf[32];
    snprintf(buf, sizeof buf, "%ld", done);
    sg_checkpoint_set_meta(&ck, "best_iter", buf);
    char path[4200];
    path_(path, sizeof path, run, "ckpt/best.safetensors");
    return sg_checkpoint_save(&ck, path, err);
}

static int evaluate_(sg_run *run, long done, sg_err *err)
{
    sg_run_priv_ *p = run->priv;
    const sg_run_net m = eval_model_(run);
    sg_confusion cm;
    TRY(eval_set_(run, &m, &p->val, &cm, err));
    double miou = sg_confusion_miou(&cm, SG_MIOU_ALL);
    for (int k = 0; k < run->n_classes; k++) p->class_iou[k] = sg_confusion_iou(&cm, k);
    p->final_miou = miou;
    int rc = 0;
    if (p->best_iter < 0 || miou > p->best_miou) {
        p->best_miou = miou;
        p->best_iter = done;
        if (p->test_ok) rc = save_best_(run, &m, done, err);
    }
    fprintf(p->evlog, "%ld\t%ld\t%.6f\t%.6f", done, (done - 1) / run->iters_per_epoch, 100 * miou,
            100 * sg_confusion_accuracy(&cm));
    for (int k = 0; k < run->n_classes; k++) fprintf(p->evlog, "\t%.4f", 100 * p->class_iou[k]);
    fprintf(p->evlog, "\n");
    sg_confusion_free(&cm);
    return rc ? rc : tsv_flush_(run, p->evlog, "eval.tsv", done, err);
}

/* mIoU on data.test of the final weights and of the best-on-val weights
 * (ckpt/best.safetensors, loaded into a second network; the same weights
 * when the last evaluation was the best). */
static int evaluate_test_(sg_run *run, long done, sg_err *err)
{
    sg_run_priv_ *p = run->priv;
    sg_confusion cm;
    const sg_run_net final = eval_model_(run);
    TRY(eval_set_(run, &final, &p->test, &cm, err));
    p->test_final_miou = sg_confusion_miou(&cm, SG_MIOU_ALL);
    sg_confusion_free(&cm);
    if (p->best_iter == done) {
        p->test_best_miou = p->test_final_miou;
        return 0;
    }
    sg_deeplab best_deeplab;
    sg_run_net best;
    if (p->m->net_build) {
        TRY(p->m->net_build(run, &best, err));
    } else {
        sg_deeplab_init(&best_deeplab, &run->model_cfg, run->seed);
        best = deeplab_net_(run, &best_deeplab);
    }
    if (run->ctx.be->device.type != SG_DEVICE_CPU) sg_param_set_move(best.params, run->ctx.be);
    sg_checkpoint ck = {.model = best.params};
    char path[4200];
    path_(path, sizeof path, run, "ckpt/best.safetensors");
    int rc = sg_checkpoint_load(&ck, path, err);
    const char *bi = rc ? NULL : sg_checkpoint_get_meta(&ck, "best_iter");
    if (!rc && (!bi || strtol(bi, NULL, 10) != p->best_iter))
        rc = sg_err_set(err, "%s: holds the weights of iteration %s, but the best validation mIoU was at %ld "
                        "(remove the run directory and train again)", path, bi ? bi : "(none)", p->best_iter);
    if (!rc) rc = eval_set_(run, &best, &p->test, &cm, err);
    if (!rc) {
        p->test_best_miou = sg_confusion_miou(&cm, SG_MIOU_ALL);
        sg_confusion_free(&cm);
    }
    if (p->m->net_build)
        p->m->net_free(&best);
    else
        sg_deeplab_free(&best_deeplab);
    return rc;
}

/* ---- checkpoints ------------------------------------------------------------------ */
static void ckpt_common_(sg_run *run, sg_checkpoint *ck)
{
    memset(ck, 0, sizeof *ck);
    ck->model = run->net.params;
    ck->opt = &run->opt;
    ck->ema = run->ema;
    ck->n_extra = run->priv->n_extra;
    memcpy(ck->extra, run->priv->extra, sizeof ck->extra);
}

/* The checkpoint metadata of the run's cost: wall, training and CPU
 * seconds, and the FLOPs of the training steps, all segments. */
static const char *const cost_keys_[4] = {"cost_wall_s", "cost_train_s", "cost_cpu_s",
                                          "cost_flops"};

/* What a tool needs to use the weights alone (sg-eval): the architecture,
 * the input normalisation (the model line does not carry it), and the
 * run's identity. */
static void model_meta_(const sg_run *run, sg_checkpoint *ck)
{
    const sg_run_priv_ *p = run->priv;
    char buf[1024];
    sg_checkpoint_set_meta(ck, "model", run->net.line);
    sg_checkpoint_set_meta(ck, "method", run->method);
    const float *mu = p->aug.mean, *sd = p->aug.std;
    snprintf(buf, sizeof buf, "mean=%.9g,%.9g,%.9g std=%.9g,%.9g,%.9g", (double)mu[0],
             (double)mu[1], (double)mu[2], (double)sd[0], (double)sd[1], (double)sd[2]);
    sg_checkpoint_set_meta(ck, "normalize", buf);
    sg_checkpoint_set_meta(ck, "config_hash", p->hash_hex);
    snprintf(buf, sizeof buf, "%llu", (unsigned long long)run->seed);
    sg_checkpoint_set_meta(ck, "seed", buf);
}

static int save_(sg_run *run, long done, double wall, sg_err *err)
{
    sg_run_priv_ *p = run->priv;
    sg_checkpoint ck;
    ckpt_common_(run, &ck);
    ck.iteration = done;
    model_meta_(run, &ck);
    char buf[1024];
    snprintf(buf, sizeof buf, "%.17g", p->best_miou);
    sg_checkpoint_set_meta(&ck, "best_miou", buf);
    snprintf(buf, sizeof buf, "%ld", p->best_iter);
    sg_checkpoint_set_meta(&ck, "best_iter", buf);
    snprintf(buf, sizeof buf, "%ld", p->images);
    sg_checkpoint_set_meta(&ck, "images", buf);
    /* The cost so far, in the file it belongs to: kept apart (a file
     * written after the checkpoint) it could be lost or stale and a resumed
     * run would silently count only its last segment. */
    const double costs[4] = {wall, p->train_prev + p->train_s,
                             p->cpu_prev + (sg_run_cpu_now() - p->cpu_start), p->flops};
    for (int i = 0; i < 4; i++) {
        snprintf(buf, sizeof buf, "%.17g", costs[i]);
        sg_checkpoint_set_meta(&ck, cost_keys_[i], buf);
    }
    char path[4200];
    path_(path, sizeof path, run, "ckpt/last.safetensors");
    return sg_checkpoint_save(&ck, path, err);
}

static uint64_t list_hash_(uint64_t h, const sg_list *l)
{
    for (int i = 0; i < l->n; i++) {
        h = sg_fnv1a(h, l->e[i].image);
        h = sg_fnv1a(h, " ");
        h = sg_fnv1a(h, l->e[i].mask ? l->e[i].mask : "");
        h = sg_fnv1a(h, "\n");
    }
    return sg_fnv1a(h, "--\n");
}

static int file_hash_(uint64_t *h, const char *path, sg_err *err)
{
    FILE *fp = fopen(path, "rb");
    if (!fp) return sg_err_set(err, "%s: %s", path, strerror(errno));
    unsigned char buf[1 << 14];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, fp)) > 0) *h = sg_fnv1a_bytes(*h, buf, n);
    int bad = ferror(fp);
    fclose(fp);
    if (bad) return sg_err_set(err, "%s: read error", path);
    return 0;
}

/* The identity of the experiment, which --resume checks and results.csv
 * records: the configuration minus the run's name and outputs and the keys
 * that change no number (class names; loader threads and queue depth, whose
 * batches test_loader proves identical), with the split and validation lists
 * and the pretrained weights hashed by content instead of by path. Where the
 * data lives is not part of the experiment: the same
 * split spelled "./splits/x", "splits/x" or through another checkout, or a
 * dataset or weights file on another disk or cluster, is the same run; a list
 * with one line changed, or other weights, is not. */
static int run_hash_(const sg_run *run, const char *pretrained, uint64_t *out, sg_err *err)
{
    enum { N_SKIP = 12 };
    const char *skip[N_SKIP + SG_RUN_MAX_FILE_KEYS + 1] = {
        "run",      "output",        "debug",         "data.root",        "run.device",   "data.split",
        "data.val", "data.test",     "model.pretrained", "data.class_names", "data.workers", "data.prefetch"};
    const sg_run_priv_ *p = run->priv;
    for (int i = 0; i < p->n_file_keys; i++) skip[N_SKIP + i] = p->file_keys[i];
    uint64_t h = sg_config_hash(run->cfg, skip);
    h = list_hash_(h, &p->split.labeled);
    h = list_hash_(h, &p->split.unlabeled);
    h = list_hash_(h, &p->val_list);
    if (p->test_list_ok) h = list_hash_(h, &p->test_list);
    if (pretrained[0] && file_hash_(&h, pretrained, err)) return -1;
    for (int i = 0; i < p->n_file_keys; i++) {
        const char *path;
        if (sg_config_string(run->cfg, p->file_keys[i], "", &path, err)) return -1;
        h = sg_fnv1a(h, p->file_keys[i]);
        if (path[0] && file_hash_(&h, path, err)) return -1;
    }
    *out = h;
    return 0;
}

static int load_(sg_run *run, long *done, sg_err *err)
{
    sg_run_priv_ *p = run->priv;
    sg_checkpoint ck;
    ckpt_common_(run, &ck);
    char path[4200];
    path_(path, sizeof path, run, "ckpt/last.safetensors");
    if (sg_checkpoint_load(&ck, path, err)) return -1;
    const char *hash = sg_checkpoint_get_meta(&ck, "config_hash");
    const char *method = sg_checkpoint_get_meta(&ck, "method");
    if (!method || strcmp(method, run->method))
        return sg_err_set(err, "%s: written by method '%s', this is '%s'", path,
                          method ? method : "?", run->method);
    if (!hash || strcmp(hash, p->hash_hex))
        return sg_err_set(
            err,
            "%s: written with another configuration (hash %s, now %s): resume with the "
            "config of config.resolved",
            path, hash ? hash : "?", p->hash_hex);
    const char *bm = sg_checkpoint_get_meta(&ck, "best_miou"),
               *bi = sg_checkpoint_get_meta(&ck, "best_iter"),
               *im = sg_checkpoint_get_meta(&ck, "images");
    if (!bm || !bi || !im)
        return sg_err_set(err, "%s: metadata best_miou/best_iter/images missing", path);
    p->best_miou = strtod(bm, NULL);
    p->best_iter = strtol(bi, NULL, 10);
    p->images = strtol(im, NULL, 10);
    *done = ck.iteration;
    if (*done < 0 || *done > run->total_iters)
        return sg_err_set(err, "%s: iteration %ld outside the schedule of %ld", path, *done,
                          run->total_iters);
    double *costs[4] = {&p->wall_prev, &p->train_prev, &p->cpu_prev, &p->flops};
    bool all_costs = true;
    for (int i = 0; i < 4; i++) {
        const char *v = sg_checkpoint_get_meta(&ck, cost_keys_[i]);
        all_costs = all_costs && v;
        *costs[i] = v ? strtod(v, NULL) : 0.0;
    }
    /* A checkpoint of an earlier version has no cost counters: resume, and
     * say that the recorded costs will cover the new segments only. */
    if (!all_costs) {
        for (int i = 0; i < 4; i++) *costs[i] = 0.0;
        fprintf(
            stderr,
            "%s: %s has no cost counters (an earlier semiseg wrote it): result.json's wall, CPU "
            "and GFLOP figures will cover the iterations from %ld on only\n",
            run->method, path, ck.iteration);
    }
    return 0;
}

/* ---- the loop ------------------------------------------------------------------- */
static sg_loader *open_loader_(sg_run *run, const sg_dataset *ds, sg_loader_kind kind, unsigned id,
                               int order_id, unsigned views, int batch, int epoch_len, long done, sg_err *err)
{
    sg_run_priv_ *p = run->priv;
    sg_source src = {.ctx = (void *)ds, .n = ds->n, .load = ds_load_};
    sg_loader_config lc;
    sg_loader_config_default(&lc, kind, batch, run->crop, run->seed);
    lc.aug = p->aug;
    lc.id = id;
    lc.order_id = order_id;
    lc.epoch_len = epoch_len;
    lc.unlabeled_mask = p->unlabeled_mask;
    lc.labeled_strong = kind == SG_LOADER_LABELED && p->m->labeled_strong_view;
    lc.views = views;
    lc.n_workers = p->workers;
    lc.prefetch = p->prefetch;
    int bpe = (epoch_len ? epoch_len : ds->n) / batch;
    if (bpe < 1) {
        sg_err_set(err, "%s: %d images per epoch, fewer than one batch of %d", ds->list,
                   epoch_len ? epoch_len : ds->n, batch);
        return NULL;
    }
    lc.start_epoch = (int)(done / bpe);
    lc.start_batch = (int)(done % bpe);
    return sg_loader_open(&src, &lc, err);
}

static float lr_at_(const sg_run *run, long it)
{
    const sg_run_priv_ *p = run->priv;
    return it == 0 ? p->lr_base : sg_poly_lr(p->lr_base, it - 1, run->total_iters, p->poly_power);
}

static void log_header_(sg_run *run, const sg_losses *l, char *buf, size_t len)
{
    (void)run;
    snprintf(buf, len, "iter\tepoch\tlr");
    for (int i = 0; i < l->n; i++) {
        size_t n = strlen(buf);
        snprintf(buf + n, len - n, "\t%s", l->names[i]);
    }
    size_t n = strlen(buf);
    snprintf(buf + n, len - n, "\tmask_ratio\timages_per_s");
}

/* The batch's tensors copied into the step's arena on the context's device
 * (the host's batch itself on the CPU). */
static const sg_batch *batch_on_device_(sg_run *run, const sg_batch *b, sg_batch *dev)
{
    if (!b || !run->ctx.arena.be) return b;
    *dev = *b;
    sg_tensor **ts[] = {&dev->img, &dev->mask, &dev->img_s1, &dev->img_s2,
                        &dev->ignore, &dev->box1, &dev->box2};
    for (size_t i = 0; i < sizeof ts / sizeof ts[0]; i++) {
        if (!*ts[i]) continue;
        sg_tensor *d = sg_tensor_like(&run->ctx, *ts[i]);
        sg_tensor_write(d, (*ts[i])->data);
        *ts[i] = d;
    }
    return dev;
}

static int train_(sg_run *run, long done, double t_start, sg_err *err)
{
    sg_run_priv_ *p = run->priv;
    char path[4200];
    sg_progress prog;
    sg_progress_init(&prog, stderr, done, run->total_iters, p->print_every);
    double t_prev = sg_run_now();
    while (done < run->total_iters) {
        const long it = done;
        const sg_batch *lab = NULL, *unl = NULL, *mix = NULL;
        if (sg_loader_next(p->ll, &lab, err)) return -1;
        if (p->lu && sg_loader_next(p->lu, &unl, err)) return -1;
        if (p->lm && sg_loader_next(p->lm, &mix, err)) return -1;
        /* The loaders keep step by construction (shared order stream, same
         * resume position); a slip would silently change the experiment. */
        SG_CHECK(!p->m->mix_same_images ||
                     (mix->n == unl->n &&
                      !memcmp(mix->ids, unl->ids, (size_t)unl->n * sizeof *unl->ids)),
                 "iteration %ld: the mix batch does not hold the unlabeled batch's images", it);
        sg_batch dev_lab, dev_unl, dev_mix;
        lab = batch_on_device_(run, lab, &dev_lab);
        unl = batch_on_device_(run, unl, &dev_unl);
        mix = batch_on_device_(run, mix, &dev_mix);
        run->iter = it;
        run->epoch = (int)(it / run->iters_per_epoch);
        run->lr = lr_at_(run, it);
        run->mix = mix;
        *run->net.training = true;
        sg_param_zero_grad(run->net.params);
        sg_losses l;
        memset(&l, 0, sizeof l);
        l.mask_ratio = NAN;
        const double flops0 = run->ctx.flops;
        if (p->m->step(run, p->state, lab, unl, &l, err)) {
            char m[sizeof err->msg];
            snprintf(m, sizeof m, "%s", err->msg);
            return sg_err_set(err, "iteration %ld: %s", it + 1, m);
        }
        SG_CHECK(l.n >= 1, "%s: step reported no loss terms", run->method);
        if (!p->have_first) {
            p->first = l;
            p->have_first = true;
        } else {
            SG_CHECK(l.n == p->first.n, "%s: step reported %d loss terms, the first step %d",
                     run->method, l.n, p->first.n);
            for (int i = 0; i < l.n; i++)
                SG_CHECK(!strcmp(l.names[i], p->first.names[i]),
                         "%s: loss term %d is '%s', was '%s'", run->method, i, l.names[i],
                         p->first.names[i]);
        }
        if (p->nan_at_iter == it + 1) l.values[0] = NAN;
        bool finite = true;
        for (int i = 0; i < l.n; i++) finite = finite && isfinite(l.values[i]);
        if (!finite) {
            sg_progress_break(&prog, stderr);
            char terms[512] = "";
            for (int i = 0; i < l.n; i++) {
                size_t n = strlen(terms);
                snprintf(terms + n, sizeof terms - n, "%s%s = %g", i ? ", " : "", l.names[i],
                         l.values[i]);
            }
            path_(path, sizeof path, run, "ckpt/last.safetensors");
            if (exists_(path))
                return sg_err_set(
                    err,
                    "iteration %ld: non-finite loss (%s); stopped without updating the "
                    "weights; the last good checkpoint is %s",
                    it + 1, terms, path);
            return sg_err_set(
                err,
                "iteration %ld: non-finite loss (%s); stopped without updating the weights; "
                "no checkpoint was written before it",
                it + 1, terms);
        }
        p->flops += run->ctx.flops - flops0;
        sg_sgd_step(&run->opt, run->net.params, run->lr);
        if (p->m->after_step) p->m->after_step(run, p->state);
        sg_ctx_reset(&run->ctx);
        done = it + 1;
        int images = l.images > 0 ? l.images : lab->n;
        p->images += images;
        double t = sg_run_now(), dt = t - t_prev;
        t_prev = t;
        p->train_s += dt;
        double ips = dt > 0 ? images / dt : 0;
        if (!p->log) {
            char header[2048];
            log_header_(run, &l, header, sizeof header);
            path_(path, sizeof path, run, "log.tsv");
            p->log = sg_tsv_open(path, header, err);
            if (!p->log) return -1;
        }
        fprintf(p->log, "%ld\t%d\t%.9g", done, run->epoch, (double)run->lr);
        for (int i = 0; i < l.n; i++) fprintf(p->log, "\t%.9g", l.values[i]);
        fprintf(p->log, "\t%.6f\t%.2f\n", l.mask_ratio, ips);
        TRY(tsv_flush_(run, p->log, "log.tsv", done, err));
        char note[256];
        snprintf(note, sizeof note, "%s %.4f", l.names[0], l.values[0]);
        if (!isnan(l.mask_ratio)) {
            size_t n = strlen(note);
            snprintf(note + n, sizeof note - n, " mask %.3f", l.mask_ratio);
        }
        sg_progress_update(&prog, stderr, done, ips, note);
        bool last = done == run->total_iters;
        if (p->eval_every > 0 && done % p->eval_every == 0 && !last) {
            double te = sg_run_now();
            if (evaluate_(run, done, err)) return -1;
            sg_progress_break(&prog, stderr);
            fprintf(stderr, "%s: iteration %ld: mIoU %.2f (best %.2f at %ld)\n", run->method, done,
                    100 * p->final_miou, 100 * p->best_miou, p->best_iter);
            t_prev += sg_run_now() - te;
        }
        if (p->term_at_iter == done) raise(SIGTERM);
        /* A signal checkpoints even the last iteration: the message below
         * promises one, and --resume then only evaluates and records. */
        int sig = sg_run_signal_;
        if (sig || (!last && p->ckpt_every > 0 && done % p->ckpt_every == 0)) {
            double tc = sg_run_now();
            if (save_(run, done, p->wall_prev + (tc - t_start), err)) return -1;
            t_prev += sg_run_now() - tc;
        }
        if (sig) {
            sg_progress_break(&prog, stderr);
            fprintf(stderr,
                    "%s: signal %d: checkpoint of iteration %ld written to %s/ckpt; resume with "
                    "--resume\n",
                    run->method, sig, done, run->dir);
            return 128 + sig;
        }
        if (p->kill_at_iter == done) raise(SIGKILL);
    }
    sg_progress_break(&prog, stderr);
    return 0;
}

/* ---- results -------------------------------------------------------------------- */
static int finish_(sg_run *run, long done, double t_start, sg_err *err)
{
    sg_run_priv_ *p = run->priv;
    /* The state of the last step, as the loop left it, also when a resume
     * found every step done and ran none: a method's eval_model may depend
     * on it (U2PL evaluates the student during its supervised epochs). */
    if (done > 0) {
        run->iter = done - 1;
        run->epoch = (int)((done - 1) / run->iters_per_epoch);
    }
    if (save_(run, done, p->wall_prev + (sg_run_now() - t_start), err)) return -1;
    if (evaluate_(run, done, err)) return -1;
    if (p->test_ok && evaluate_test_(run, done, err)) return -1;
    double wall = p->wall_prev + (sg_run_now() - t_start);
    double train = p->train_prev + p->train_s;
    char device[160], where[SG_DEVICE_STR_LEN], gpu[128] = "";
    sg_device_str(run->ctx.be->device, where, sizeof where);
    if (run->ctx.be->device_name)
        run->ctx.be->device_name(run->ctx.be->device.index, gpu, sizeof gpu);
    if (gpu[0])
        snprintf(device, sizeof device, "%s (%s)", where, gpu);
    else
        snprintf(device, sizeof device, "%s", where);
    sg_run_result r = {
        .method = run->name, .dataset = run->dataset, .protocol = run->protocol,
        .n_labeled = run->n_labeled, .seed = run->seed, .iterations = done,
        .final_miou = p->final_miou, .best_miou = p->best_miou, .best_iter = p->best_iter,
        .has_test = p->test_ok, .test_final_miou = p->test_final_miou, .test_best_miou = p->test_best_miou,
        .n_classes = run->n_classes, .class_iou = p->class_iou, .wall_s = wall,
        .cpu_s = p->cpu_prev + (sg_run_cpu_now() - p->cpu_start),
        .images_per_s = train > 0 ? (double)p->images / train : 0,
        .gflop_per_iter = done > 0 ? p->flops / (double)done / 1e9 : 0,
        .threads = sg_get_num_threads(),
        .backend = run->ctx.be->name,
        .device = device,
        .deterministic = run->ctx.be->deterministic,
        .tf32 = p->tf32,
        .git_commit = SG_BUILD_COMMIT,
    };
    snprintf(r.config_hash, sizeof r.config_hash, "%s", p->hash_hex);
    /* The row first: result.json means "recorded" (header comment). */
    if (!p->row_recorded && sg_result_append_csv(&r, p->reports_root, err)) return -1;
    if (sg_result_write_json(&r, run->dir, err)) return -1;
    fprintf(stderr, "%s: done: %ld iterations, final mIoU %.2f, best %.2f (iteration %ld)", run->method, done,
            100 * p->final_miou, 100 * p->best_miou, p->best_iter);
    if (p->test_ok)
        fprintf(stderr, "; test: final %.2f, best-on-val %.2f", 100 * p->test_final_miou, 100 * p->test_best_miou);
    fprintf(stderr, "; %s\n", run->dir);
    return 0;
}

/* ---- command line ------------------------------------------------------------------ */
static void usage_(FILE *fp, const char *name)
{
    fprintf(
        fp,
        "usage: %s --config FILE [--set section.key=value]... [--seed K | --seed-index I]\n"
        "       [--runs DIR] [--reports DIR] [--threads N] [--device D] [--resume]\n"
        "  --config FILE     run configuration ([section] key = value; keys: "
        "experiments/README.md)\n"
        "  --set S.K=V       override or add one key (repeatable; applied after the file)\n"
        "  --seed K          the run seed (model init, data order, augmentation); = --set "
        "run.seed=K\n"
        "  --seed-index I    the I-th seed of splits/seeds (default 0); = --set run.seed_index=I\n"
        "  --runs DIR        root of the run directories (default runs); = --set output.runs=DIR\n"
        "  --reports DIR     root of results.csv (default reports); = --set output.reports=DIR\n"
        "  --threads N       CPU threads (default SG_NUM_THREADS, else all)\n"
        "  --device D        cpu, cuda or cuda:N (a CUDA build); = --set run.device=D\n"
        "  --resume          continue from <run dir>/ckpt/last.safetensors\n"
        "The run directory is <runs>/<dataset>/<protocol>/<method>/seed<K>/.\n"
        "Exit status: 0 done, 1 error, 2 usage, 128+N interrupted by signal N.\n",
        name);
}

static void free_run_(sg_run *run)
{
    sg_run_priv_ *p = run->priv;
    if (p->ll) sg_loader_close(p->ll);
    if (p->lu) sg_loader_close(p->lu);
    if (p->lm) sg_loader_close(p->lm);
    if (p->state_ok && p->m->free) p->m->free(p->state);
    if (p->log) fclose(p->log);
    if (p->evlog) fclose(p->evlog);
    if (p->lock_fd >= 0) close(p->lock_fd);
    if (p->lab_ok) sg_dataset_free(&p->lab);
    if (p->unl_ok) sg_dataset_free(&p->unl);
    if (p->val_ok) sg_dataset_free(&p->val);
    if (p->test_ok) sg_dataset_free(&p->test);
    if (p->split_ok) sg_split_free(&p->split);
    if (p->val_list_ok) sg_list_free(&p->val_list);
    if (p->test_list_ok) sg_list_free(&p->test_list);
    free(p->class_iou);
    if (p->opt_ok) sg_sgd_free(&run->opt);
    if (p->model_ok && p->m->net_build)
        p->m->net_free(&run->net);
    else if (p->model_ok)
        sg_deeplab_free(&run->model);
    sg_ctx_free(&run->ctx);
    sg_config_free(run->cfg);
    free(p);
}

/* One process per run directory: a second start of the same run (or a
 * --resume while it runs) would train alongside it, doubling the logs and
 * the results row. The lock is an flock on <dir>/lock, held until exit; the
 * kernel drops it when the process dies, so a killed run leaves no stale
 * lock. The file holds the holder's pid, for the message. */
static int lock_dir_(sg_run *run, sg_err *err)
{
    char path[4200];
    path_(path, sizeof path, run, "lock");
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0666);
    if (fd < 0) return sg_err_set(err, "%s: %s", path, strerror(errno));
    if (flock(fd, LOCK_EX | LOCK_NB)) {
        int e = errno;
        char pid[32];
        ssize_t n = pread(fd, pid, sizeof pid - 1, 0);
        pid[n > 0 ? n : 0] = 0;
        pid[strcspn(pid, "\n")] = 0;
        close(fd);
        if (e != EWOULDBLOCK) return sg_err_set(err, "%s: flock: %s", path, strerror(e));
        return sg_err_set(
            err, "%s is in use by another process (pid %s, holding %s); nothing was changed",
            run->dir, pid[0] ? pid : "unknown", path);
    }
    char pid[32];
    int len = snprintf(pid, sizeof pid, "%ld\n", (long)getpid());
    if (ftruncate(fd, 0) || pwrite(fd, pid, (size_t)len, 0) != len) {
        sg_err_set(err, "%s: %s", path, strerror(errno));
        close(fd);
        return -1;
    }
    run->priv->lock_fd = fd;
    return 0;
}

/* A run at the end of its schedule without result.json: was it killed
 * between appending its results.csv row and writing result.json? Then the
 * row is there, finished no earlier than the final checkpoint was written
 * (before the final evaluation; a row of an earlier run of the same
 * experiment, in a since removed directory, is older). */
static int row_recorded_(sg_run *run, bool *recorded, sg_err *err)
{
    sg_run_priv_ *p = run->priv;
    char path[4200];
    path_(path, sizeof path, run, "ckpt/last.safetensors");
    struct stat st;
    if (stat(path, &st)) return sg_err_set(err, "%s: %s", path, strerror(errno));
    sg_run_result r = {.method = run->name,
                       .dataset = run->dataset,
                       .protocol = run->protocol,
                       .seed = run->seed};
    snprintf(r.config_hash, sizeof r.config_hash, "%s", p->hash_hex);
    *recorded = sg_result_csv_has_row(&r, p->reports_root, st.st_mtime);
    return 0;
}

/* Everything up to the first iteration; returns 0, -1 (error) or 2 (usage). */
static int setup_(sg_run *run, int argc, char **argv, bool *resume, long *done, bool *finished,
                  sg_err *err)
{
    sg_run_priv_ *p = run->priv;
    /* The file first, then the overrides in their order, wherever --config
     * stands among them. */
    const char *config = NULL;
    if (sg_num_threads_env_check(err)) return -1;
    char **sets = sg_xcalloc((size_t)argc, sizeof *sets);
    int n_sets = 0, rc = 0;
    for (int i = 1; i < argc && !rc; i++) {
        const char *a = argv[i];
        bool has_arg = i + 1 < argc;
        char set[4200];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage_(stdout, argv[0]);
            rc = 3;
            continue;
        } else if (!strcmp(a, "--resume")) {
            *resume = true;
            continue;
        } else if (!has_arg) {
            sg_err_set(err, "%s: unknown option or missing value", a);
            rc = 2;
            continue;
        }
        const char *v = argv[++i];
        if (!strcmp(a, "--config")) {
            if (config) {
                sg_err_set(err, "--config given twice");
                rc = 2;
            }
            config = v;
            continue;
        } else if (!strcmp(a, "--set")) {
            snprintf(set, sizeof set, "%s", v);
        } else if (!strcmp(a, "--seed")) {
            snprintf(set, sizeof set, "run.seed=%s", v);
        } else if (!strcmp(a, "--seed-index")) {
            snprintf(set, sizeof set, "run.seed_index=%s", v);
        } else if (!strcmp(a, "--runs")) {
            snprintf(set, sizeof set, "output.runs=%s", v);
        } else if (!strcmp(a, "--reports")) {
            snprintf(set, sizeof set, "output.reports=%s", v);
        } else if (!strcmp(a, "--device")) {
            snprintf(set, sizeof set, "run.device=%s", v);
        } else if (!strcmp(a, "--threads")) {
            char *end;
            long n = strtol(v, &end, 10);
            if (*end || end == v || n < 1 || n > 1024) {
                sg_err_set(err, "--threads %s: expected 1..1024", v);
                rc = 2;
            } else {
                sg_set_num_threads((int)n);
            }
            continue;
        } else {
            sg_err_set(err, "%s: unknown option", a);
            rc = 2;
            continue;
        }
        size_t len = strlen(set) + 1;
        sets[n_sets] = sg_xmalloc(len);
        memcpy(sets[n_sets++], set, len);
    }
    if (!rc && !config) {
        sg_err_set(err, "--config FILE is required");
        rc = 2;
    }
    if (!rc && sg_config_load(run->cfg, config, err)) rc = -1;
    for (int k = 0; k < n_sets; k++) {
        if (!rc && sg_config_set(run->cfg, sets[k], err)) rc = -1;
        free(sets[k]);
    }
    free(sets);
    if (rc) return rc;
    TRY(sg_run_check_names(run, err));
    TRY(sg_run_read_seed(run, err));
    TRY(sg_run_read_device(run, err));
    TRY(sg_run_read_data(run, err));
    TRY(sg_run_read_augment(run, err));
    SG_CHECK(!p->m->net_build || (p->m->net_free && !p->m->eval_model),
             "%s: a method with net_build needs net_free and no eval_model", run->method);
    if (p->m->net_build) {
        TRY(p->m->net_build(run, &run->net, err));
    } else {
        TRY(sg_run_read_deeplab(run, &run->model_cfg, err));
        sg_deeplab_init(&run->model, &run->model_cfg, run->seed);
        run->net = deeplab_net_(run, &run->model);
    }
    p->model_ok = true;
    const char *pretrained;
    TRY(sg_config_string(run->cfg, "model.pretrained", "", &pretrained, err));
    TRY(sg_run_read_train(run, err));
    TRY(sg_run_read_eval_output(run, err));
    TRY(p->m->init(run, &p->state, err));
    p->state_ok = true;
    TRY(sg_config_check_unused(run->cfg, err));
    if (pretrained[0] &&
        run->net.load_pretrained(run->net.params, "backbone.", pretrained, err))
        return -1;
    if (p->device != run->ctx.be) {
        /* Built and loaded on the host; trained where run.device says. */
        sg_ctx_free(&run->ctx);
        sg_ctx_init_on(&run->ctx, p->device);
        sg_param_set_move(run->net.params, p->device);
        if (run->ema) sg_param_set_move(run->ema, p->device);
        for (int i = 0; i < p->n_extra; i++) sg_param_set_move(p->extra[i].set, p->device);
    }
    TRY(run_hash_(run, pretrained, &p->config_hash, err));
    snprintf(p->hash_hex, sizeof p->hash_hex, "%016llx", (unsigned long long)p->config_hash);
    p->class_iou = sg_xcalloc((size_t)run->n_classes, sizeof(double));
    p->best_iter = -1;
    p->best_miou = 0;

    int n = snprintf(run->dir, sizeof run->dir, "%s/%s/%s/%s/seed%llu", p->runs_root, run->dataset,
                     run->protocol, run->name, (unsigned long long)run->seed);
    if (n < 0 || (size_t)n >= sizeof run->dir)
        return sg_err_set(err, "%s: run directory path too long", run->dir);
    /* Where the results go is checked now, not after the training. */
    TRY(sg_result_csv_check(p->reports_root, run->dataset, err));
    TRY(sg_mkdirs(run->dir, err));
    TRY(lock_dir_(run, err));
    char path[4200];
    path_(path, sizeof path, run, "ckpt");
    TRY(sg_mkdirs(path, err));
    /* Temporaries of writes a kill -9 interrupted: as large as a checkpoint. */
    int stale = sg_atomic_clean_stale(path, err), stale_dir;
    if (stale < 0 || (stale_dir = sg_atomic_clean_stale(run->dir, err)) < 0) return -1;
    if (stale + stale_dir)
        fprintf(stderr,
                "%s: removed %d unfinished temporary file(s) of an interrupted process in %s\n",
                run->method, stale + stale_dir, run->dir);
    path_(path, sizeof path, run, "ckpt/last.safetensors");
    bool have_ckpt = exists_(path);
    if (have_ckpt && !*resume)
        return sg_err_set(err, "%s exists: continue with --resume, or remove %s to start again",
                          path, run->dir);
    *done = 0;
    if (*resume && have_ckpt) {
        TRY(load_(run, done, err));
        fprintf(stderr, "%s: resuming %s at iteration %ld of %ld\n", run->method, run->dir, *done,
                run->total_iters);
    } else if (*resume) {
        fprintf(stderr, "%s: --resume: no checkpoint in %s/ckpt: starting from iteration 0\n",
                run->method, run->dir);
    }
    path_(path, sizeof path, run, "result.json");
    *finished = *done == run->total_iters && exists_(path);
    if (*done == run->total_iters && !*finished) TRY(row_recorded_(run, &p->row_recorded, err));
    path_(path, sizeof path, run, "config.resolved");
    TRY(sg_config_write_resolved(run->cfg, path, err));
    /* Logs continue from the checkpoint: rows of iterations after it (a
     * killed segment) are dropped; a fresh run starts empty logs. */
    const char *logs[2] = {"log.tsv", "eval.tsv"};
    for (int i = 0; i < 2; i++) {
        path_(path, sizeof path, run, logs[i]);
        if (*done == 0) {
            if (unlink(path) && errno != ENOENT)
                return sg_err_set(err, "%s: %s", path, strerror(errno));
        } else {
            TRY(sg_tsv_truncate(path, *done, err));
        }
    }
    char header[4096] = "iter\tepoch\tmiou\tpixel_acc";
    for (int k = 0; k < run->n_classes; k++) {
        size_t len = strlen(header);
        snprintf(header + len, sizeof header - len, "\tiou_%s", p->lab.class_names[k]);
    }
    path_(path, sizeof path, run, "eval.tsv");
    p->evlog = sg_tsv_open(path, header, err);
    if (!p->evlog) return -1;
    if (*finished) return 0;

    int semi = p->m->unlabeled_loaders > 0;
    p->ll = open_loader_(run, &p->lab, SG_LOADER_LABELED, 0, -1, SG_VIEWS_WEAK, run->batch_size,
                         semi ? run->n_unlabeled : 0, *done, err);
    if (!p->ll) return -1;
    if (semi) {
        p->lu = open_loader_(run, &p->unl, SG_LOADER_UNLABELED, 1, -1, p->m->unlabeled_views,
                             run->batch_size_u, 0, *done, err);
        if (!p->lu) return -1;
    }
    if (p->m->unlabeled_loaders > 1) {
        /* run.h: the mix batch's boxes are never read */
        p->lm = open_loader_(run, &p->unl, SG_LOADER_UNLABELED, 2, p->m->mix_same_images ? 1 : -1,
                             p->m->unlabeled_views & SG_VIEWS_STRONG, run->batch_size_u, 0, *done, err);
        if (!p->lm) return -1;
    }
    return 0;
}

int sg_run_main(int argc, char **argv, const sg_method *method)
{
    SG_CHECK(method && method->name && method->init && method->step &&
                 method->unlabeled_loaders >= 0 && method->unlabeled_loaders <= 2 &&
                 !(method->unlabeled_views & ~(unsigned)SG_VIEWS_ALL),
             "sg_run_main: incomplete method, or unlabeled_views outside SG_VIEWS_ALL");
    double t_start = sg_run_now();
    sg_run run;
    memset(&run, 0, sizeof run);
    run.priv = sg_xcalloc(1, sizeof(sg_run_priv_));
    run.priv->cpu_start = sg_run_cpu_now();
    run.priv->lock_fd = -1;
    run.priv->m = method;
    run.method = method->name;
    run.cfg = sg_config_new();
    sg_ctx_init(&run.ctx);
    sg_err err = {{0}};
    bool resume = false, finished = false;
    long done = 0;

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal_;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);

    int rc = setup_(&run, argc, argv, &resume, &done, &finished, &err);
    if (rc == 3) {
        rc = 0;
    } else if (rc == 2) {
        fprintf(stderr, "%s: %s\n", method->name, err.msg);
        usage_(stderr, argv[0]);
    } else if (rc) {
        fprintf(stderr, "%s: %s\n", method->name, err.msg);
        rc = 1;
    } else if (finished) {
        fprintf(stderr, "%s: %s already finished (%ld iterations); nothing to do\n", method->name,
                run.dir, done);
    } else {
        rc = train_(&run, done, t_start, &err);
        if (rc == 0) {
            rc = finish_(&run, run.total_iters, t_start, &err) ? 1 : 0;
            if (rc) fprintf(stderr, "%s: %s\n", method->name, err.msg);
        } else if (rc < 0) {
            fprintf(stderr, "%s: %s\n", method->name, err.msg);
            rc = 1;
        }
    }
    free_run_(&run);
    return rc;
}
