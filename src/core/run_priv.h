/*
 * run_priv.h: what the run driver's files share (run.c: the loop, the
 * checkpoints and the command line; run_config.c: the configuration
 * sections). Not installed, not part of the API (run.h is).
 */
#ifndef SG_RUN_PRIV_H
#define SG_RUN_PRIV_H

#include "semiseg/run.h"

#include <stdbool.h>
#include <stdio.h>

enum { LOSS_CE = 0, LOSS_OHEM = 1 };

struct sg_run_priv_ {
    const sg_backend *device; /* run.device's backend */
    bool tf32;                /* run.tf32 */
    const sg_method *m;
    void *state;
    bool state_ok, model_ok, opt_ok;
    sg_split split;
    bool split_ok;
    sg_list val_list;
    bool val_list_ok;
    sg_dataset lab, unl, val;
    bool lab_ok, unl_ok, val_ok;
    sg_loader *ll, *lu, *lm;
    sg_augment_config aug;
    bool unlabeled_mask;
    int workers, prefetch;
    sg_eval_opts eval;
    long eval_every;          /* 0: only at the end */
    long ckpt_every;          /* 0: only at the end and on a signal */
    long print_every;
    int loss_kind;
    float ohem_thresh;
    long ohem_min_kept;
    float lr_base, lr_multi, poly_power;
    long nan_at_iter, kill_at_iter, term_at_iter;
    const char *runs_root, *reports_root;
    uint64_t config_hash;
    char hash_hex[17];
    double best_miou, final_miou;
    long best_iter;
    double *class_iou;
    long images;              /* images trained on (sg_losses.images), all segments */
    double wall_prev, train_prev, cpu_prev; /* seconds of earlier segments */
    double train_s;           /* training seconds of this segment */
    double cpu_start;         /* sg_run_cpu_now() when this segment started */
    double flops;             /* sg_ctx.flops of the training steps, all segments */
    FILE *log, *evlog;
    sg_losses first;          /* names of the first step: the log columns */
    bool have_first;
    int lock_fd;              /* the run directory's lock (lock_dir_); -1: none */
    bool row_recorded;        /* results.csv holds this run's row already (row_recorded_) */
};

#define TRY(x)                  \
    do {                        \
        if ((x)) return -1;     \
    } while (0)

/* The configuration sections into run and run->priv (run_config.c), each
 * validating its keys with the file and line of a bad value. In this
 * order: seed, data, augment, model; then train and eval/output, which
 * need the datasets and the model. */
/* Before them: every key given is one the driver or the method's section
 * may read (an unknown name is reported before its consequences). */
int sg_run_check_names(sg_run *run, sg_err *err);
int sg_run_read_seed(sg_run *run, sg_err *err);
int sg_run_read_device(sg_run *run, sg_err *err);
int sg_run_read_data(sg_run *run, sg_err *err);
int sg_run_read_augment(sg_run *run, sg_err *err);
int sg_run_read_model(sg_run *run, sg_err *err);
int sg_run_read_train(sg_run *run, sg_err *err);
int sg_run_read_eval_output(sg_run *run, sg_err *err);

#endif
