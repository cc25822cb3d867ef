/*
 * checkpoint.h: safetensors files, training checkpoints and pretrained
 * weights loaded through a name map.
 *
 * safetensors (https://github.com/huggingface/safetensors, format as written
 * by safetensors.torch.save_file): 8-byte little-endian header length N, N
 * bytes of JSON {"name": {"dtype": "F32", "shape": [..], "data_offsets":
 * [begin, end]}, ..., "__metadata__": {"key": "value"}}, then the data buffer;
 * offsets are relative to the buffer start, data are little-endian, row-major.
 * Reading checks everything against the file (header length, JSON, dtype,
 * shape, each offset range inside the buffer, size == numel * dtype size, no
 * overlap, unique names) and every error names the file and the tensor.
 * Reading accepts F32, F16, BF16 (converted to float) and I64, I32 (e.g.
 * num_batches_tracked); writing produces F32 and I64, names sorted, the header
 * padded with spaces to a multiple of 8 so the data buffer is 8-byte aligned,
 * atomically (io.h).
 *
 * A checkpoint is one safetensors file holding
 *   model/<name>               every parameter and buffer of the model set
 *   ema/<name>                 the EMA/teacher set (optional)
 *   optim/momentum/<name>      SGD momentum buffers that exist (optional)
 *   optim/steps                I64 scalar
 *   iteration                  I64 scalar
 *   rng/<name>                 I64 [4]: seed, stream, counter, used words
 *   <prefix><name>             each extra set (a method's state: queues, a
 *                              second network), and when it has an
 *                              optimizer <prefix>optim/momentum/<name>,
 *                              <prefix>optim/steps
 * and string metadata ("semiseg.format" plus the caller's entries). Loading
 * into existing sets is strict: every name and shape must match; the error
 * lists the missing, unexpected and mismatched entries.
 *
 * Pretrained weights (torchvision/timm state_dicts converted by
 * tools/pth2safetensors.py) load with sg_weights_load: file names are
 * rewritten by prefix rules, entries under skip prefixes and names ending in
 * "num_batches_tracked" are ignored, and a report lists what was loaded,
 * missing and unexpected.
 *
 * Implemented in src/core/safetensors.c (file format) and
 * src/core/checkpoint.c (checkpoints, weights). Covered by
 * tests/test_checkpoint.c (fixture written by tests/ref/gen_checkpoint.py).
 */
#ifndef SEMISEG_CHECKPOINT_H
#define SEMISEG_CHECKPOINT_H

#include "semiseg/optim.h"
#include "semiseg/rng.h"

/* ---- safetensors ------------------------------------------------------------- */
#define SG_ST_MAX_DIMS 8

typedef enum sg_st_dtype { SG_ST_F32, SG_ST_F16, SG_ST_BF16, SG_ST_I64, SG_ST_I32 } sg_st_dtype;

typedef struct sg_st_tensor {
    char *name;
    sg_st_dtype dtype;
    int ndim;                          /* 0 (scalar) .. SG_ST_MAX_DIMS */
    int64_t shape[SG_ST_MAX_DIMS];
    size_t numel;
    const unsigned char *data;         /* raw little-endian bytes in the file image; may be unaligned */
    size_t nbytes;
} sg_st_tensor;

typedef struct sg_st_file {
    char path[4096];
    unsigned char *bytes;              /* the whole file */
    size_t size;
    sg_st_tensor *tensors;             /* sorted by name */
    int n_tensors;
    char **meta_keys, **meta_values;   /* "__metadata__" entries */
    int n_meta;
} sg_st_file;

/* Read and validate path. Returns 0, or -1 with err naming the file (and the
 * tensor). On failure f needs no sg_st_close. */
int sg_st_open(sg_st_file *f, const char *path, sg_err *err);
void sg_st_close(sg_st_file *f);
/* NULL when absent. */
const sg_st_tensor *sg_st_find(const sg_st_file *f, const char *name);
const char *sg_st_meta(const sg_st_file *f, const char *key);
const char *sg_st_dtype_name(sg_st_dtype dt);
/* Copy a tensor out, converting F16/BF16 to float (I64 via int64 is exact).
 * A float read of an integer tensor, or the reverse, is an error naming the
 * file and the tensor. out holds t->numel elements. */
int sg_st_read_f32(const sg_st_file *f, const sg_st_tensor *t, float *out, sg_err *err);
int sg_st_read_i64(const sg_st_file *f, const sg_st_tensor *t, int64_t *out, sg_err *err);

/* Writer: collects entries (the data are referenced, not copied, until
 * sg_st_write returns), then writes them in one atomic file. */
typedef struct sg_st_entry_ sg_st_entry_;
typedef struct sg_st_writer {
    sg_st_entry_ *entries;
    int n, cap;
    char **meta_keys, **meta_values;
    int n_meta, cap_meta;
} sg_st_writer;

/* FNV-1a 64 over every tensor in name order (name, dtype, shape, raw
 * bytes): the same value for a writer and for the file it writes. */
uint64_t sg_st_writer_digest(const sg_st_writer *w);
uint64_t sg_st_file_digest(const sg_st_file *f);

void sg_st_writer_init(sg_st_writer *w);
void sg_st_writer_free(sg_st_writer *w);
/* Names are unique (programmer error otherwise); ndim 0 is a scalar. */
void sg_st_add_f32(sg_st_writer *w, const char *name, int ndim, const int *shape, const float *data);
void sg_st_add_i64(sg_st_writer *w, const char *name, int ndim, const int *shape, const int64_t *data);
/* The tensor's own shape and data (F32); a device tensor's data are copied
 * to the host now, so the file does not depend on where the tensor was. */
void sg_st_add_tensor(sg_st_writer *w, const char *name, const sg_tensor *t);
void sg_st_add_meta(sg_st_writer *w, const char *key, const char *value);
int sg_st_write(const sg_st_writer *w, const char *path, sg_err *err);

/* ---- checkpoints ----------------------------------------------------------------- */
#define SG_CKPT_MAX_RNGS 16
#define SG_CKPT_MAX_META 32
#define SG_CKPT_META_KEY_LEN 64
#define SG_CKPT_META_VALUE_LEN 1024

typedef struct sg_ckpt_rng {
    const char *name;          /* e.g. "data" (at most 63 bytes); stored as rng/<name> */
    sg_rng *rng;
} sg_ckpt_rng;

typedef struct sg_ckpt_meta {
    char key[SG_CKPT_META_KEY_LEN];
    char value[SG_CKPT_META_VALUE_LEN];
} sg_ckpt_meta;

/* What a checkpoint saves and what loading fills. model is required;
 * opt and ema are optional (NULL: not saved; on load the file must then not
 * hold them either, and a file without them is an error when they are
 * given). rngs are matched by name. meta: on save, the caller's entries; on
 * load, replaced by the file's entries (besides "semiseg.format"). */
/* An extra set saved under prefix ("name/": one slash, at the end; not
 * model/, ema/, optim/, rng/), with its optimizer when opt is not NULL. */
#define SG_CKPT_MAX_EXTRA 8
typedef struct sg_ckpt_part {
    const char *prefix;
    sg_param_set *set;
    sg_sgd *opt;
} sg_ckpt_part;

typedef struct sg_checkpoint {
    sg_param_set *model;
    sg_sgd *opt;               /* optimizer built for `model` */
    sg_param_set *ema;
    int n_extra;               /* strict like the others: each must be in the file */
    sg_ckpt_part extra[SG_CKPT_MAX_EXTRA];
    int64_t iteration;
    int n_rngs;
    sg_ckpt_rng rngs[SG_CKPT_MAX_RNGS];
    int n_meta;
    sg_ckpt_meta meta[SG_CKPT_MAX_META];
} sg_checkpoint;

/* Add or replace a metadata entry (programmer error when too long or full). */
void sg_checkpoint_set_meta(sg_checkpoint *ck, const char *key, const char *value);
/* NULL when absent. */
const char *sg_checkpoint_get_meta(const sg_checkpoint *ck, const char *key);
int sg_checkpoint_save(const sg_checkpoint *ck, const char *path, sg_err *err);
/* Loads into the existing sets/optimizer/generators of ck and sets
 * ck->iteration and ck->meta. Momentum buffers absent from the file are
 * freed (torch's state before a parameter's first step). On error nothing
 * in ck is modified. */
int sg_checkpoint_load(sg_checkpoint *ck, const char *path, sg_err *err);

/* ---- pretrained weights -------------------------------------------------------- */
typedef struct sg_name_rule {
    const char *from;          /* file-name prefix ("" matches every name) */
    const char *to;            /* replacement prefix in the set */
} sg_name_rule;

typedef struct sg_weights_opts {
    const sg_name_rule *rules; /* the first rule whose prefix matches is applied, once */
    int n_rules;
    const char *const *skip;   /* file-name prefixes ignored, e.g. "fc." */
    int n_skip;
    /* Only set entries with this prefix are expected from the file (e.g.
     * "backbone."); NULL or "": every entry. */
    const char *target_prefix;
    /* Missing or unexpected entries are errors (shape mismatches and
     * integer tensors mapped onto float entries always are). */
    bool strict;
} sg_weights_opts;

typedef struct sg_weights_report {
    int n_loaded, n_skipped;
    int n_missing;             /* expected set entries the file did not provide */
    char **missing;
    int n_unexpected;          /* file names (as in the file) whose mapped name the set lacks */
    char **unexpected;
} sg_weights_report;

/* Load path into s (parameters and buffers). rep may be NULL; otherwise it is
 * filled (also on failure) and freed with sg_weights_report_free. On error no
 * entry of s has been modified. */
int sg_weights_load(sg_param_set *s, const char *path, const sg_weights_opts *opts,
                    sg_weights_report *rep, sg_err *err);
void sg_weights_report_free(sg_weights_report *rep);

#endif
