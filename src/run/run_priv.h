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
#include <time.h>

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
    sg_list test_list;        /* data.test: the held-out test set, or none */
    bool test_list_ok;
    sg_dataset lab, unl, val, test;
    bool lab_ok, unl_ok, val_ok, test_ok;
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
    double test_final_miou, test_best_miou; /* on data.test at the end: final, best-on-val weights */
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
    const char *file_keys[SG_RUN_MAX_FILE_KEYS]; /* sg_run_hash_file_key */
    int n_file_keys;
    int n_extra;              /* the method's extra state (sg_run_add_state) */
    sg_ckpt_part extra[SG_CKPT_MAX_EXTRA];
};

#define TRY(x)                  \
    do {                        \
        if ((x)) return -1;     \
    } while (0)

/* The configuration sections into run and run->priv (run_config.c), each
 * validating its keys with the file and line of a bad value. In this
 * order: seed, data, augment, model (sg_run_read_deeplab, run.h, or the
 * method's net_build); then train and eval/output, which need the
 * datasets and the model. */
/* Before them: every key given is one the driver or the method's section
 * may read (an unknown name is reported before its consequences). */
int sg_run_check_names(sg_run *run, sg_err *err);
int sg_run_read_seed(sg_run *run, sg_err *err);
int sg_run_read_device(sg_run *run, sg_err *err);
int sg_run_read_data(sg_run *run, sg_err *err);
int sg_run_read_augment(sg_run *run, sg_err *err);
int sg_run_read_train(sg_run *run, sg_err *err);
int sg_run_read_eval_output(sg_run *run, sg_err *err);

/* ---- the driver's own functions (not public: run.h is what a method sees) ---- */

/* ---- logs and results (run_log.c, results.c), used by the driver --------------------- */
/* The numbers of a finished run. */
typedef struct sg_run_result {
    const char *method, *dataset, *protocol;
    int n_labeled;
    uint64_t seed;
    long iterations;
    double final_miou, best_miou;  /* fractions in [0, 1] */
    long best_iter;
    bool has_test;                 /* data.test given: */
    double test_final_miou;        /*   final weights on the test set */
    double test_best_miou;         /*   the best-on-val weights on the test set */
    int n_classes;
    const double *class_iou;       /* (n_classes) at the final evaluation */
    double wall_s;                 /* training + evaluation, summed over resumed segments */
    double cpu_s;                  /* CPU seconds of all threads, the same segments */
    double images_per_s;           /* training images (sg_losses.images) per training second */
    double gflop_per_iter;         /* sg_ctx.flops of the training steps / iterations / 1e9 */
    int threads;                   /* --threads (sg_get_num_threads) */
    const char *backend;           /* e.g. "cpu-dnnl", "cpu-reference", "cuda" */
    const char *device;            /* "cpu", or "cuda:0 (NVIDIA H200 (sm_90))" */
    bool deterministic;            /* the backend ran its deterministic kernels only */
    bool tf32;                     /* run.tf32: FP32 products in TF32 (CUDA) */
    const char *git_commit;
    char config_hash[17];          /* the experiment's identity, hex (run.c run_hash_) */
} sg_run_result;

/* result.json in dir (atomic). One key per line. Adds "machine"
 * (sg_result_machine). */
int sg_result_write_json(const sg_run_result *r, const char *dir, sg_err *err);
/* The machine in one line: CPU model (/proc/cpuinfo), online cores, OS
 * and architecture (uname), e.g. "AMD EPYC 9654 96-Core Processor, 2 cores,
 * Linux 6.1.0 x86_64". Never holds a double quote or a backslash. */
void sg_result_machine(char *buf, size_t len);
/* Appends one row to <reports>/<dataset>/results.csv (created with its
 * header), under an exclusive flock on results.csv.lock, rewriting the file
 * atomically, so parallel runs never interleave or lose rows. */
int sg_result_append_csv(const sg_run_result *r, const char *reports, sg_err *err);
/* At a run's start: <reports>/<dataset>/ exists (created) and is writable,
 * and a results.csv there has this version's header; otherwise the error
 * names the path, and the run has not trained for a row it cannot record. */
int sg_result_csv_check(const char *reports, const char *dataset, sg_err *err);
/* Whether <reports>/<r->dataset>/results.csv has a row of r's method,
 * dataset, protocol, seed and config_hash finished at or after `since`. */
bool sg_result_csv_has_row(const sg_run_result *r, const char *reports, time_t since);
/* The header line of results.csv (no newline). */
const char *sg_result_csv_header(void);

/* log.tsv / eval.tsv: opened for appending; a new (or empty) file gets the
 * header line first. Returns NULL with err set. */
FILE *sg_tsv_open(const char *path, const char *header, sg_err *err);
/* Keeps the header and the complete rows whose first column (the
 * iteration) is <= max_iter; atomic. A missing file is not an error. Used
 * on --resume so the logs continue from the checkpoint. */
int sg_tsv_truncate(const char *path, long max_iter, sg_err *err);

/* The progress display: on a terminal one line redrawn in place (bar,
 * iteration, the first loss term, images/s, ETA); otherwise a plain line
 * every `every` iterations. */
typedef struct sg_progress {
    bool tty;
    bool pending;              /* tty: a redrawn line is on screen */
    long every;
    long total, start;         /* iterations in the schedule, first of this segment */
    double t0;                 /* monotonic seconds at start */
} sg_progress;
void sg_progress_init(sg_progress *p, FILE *fp, long start, long total, long every);
/* done = completed iterations; note = e.g. "loss 0.532 mask 0.41". */
void sg_progress_update(sg_progress *p, FILE *fp, long done, double images_per_s, const char *note);
/* Ends the redrawn line (tty) before other output. */
void sg_progress_break(sg_progress *p, FILE *fp);
/* Monotonic seconds. */
double sg_run_now(void);
/* CPU seconds of the process, every thread (loader workers and OpenMP
 * included): what result.json's cpu_s sums. */
double sg_run_cpu_now(void);

#endif
