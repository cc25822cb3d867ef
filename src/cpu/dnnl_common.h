/*
 * dnnl_common.h: the shared machinery of the oneDNN fast path (built only
 * with SG_HAVE_DNNL): one CPU engine and stream, a process-lifetime cache of
 * primitives keyed by (kind, shapes, parameters, thread count), and the
 * execution of a cached primitive over our own float buffers.
 *
 * Callers always pass buffers in semiseg's plain layouts (activations nchw,
 * weights oihw or goihw). A primitive built with format_tag_any may work in
 * blocked layouts (nChw16c, OIhw16i16o, ...): sg_dnnl_exec then reorders
 * each such argument in and out around the run (see dnnl_common.c). The
 * blocked copies, oneDNN's scratchpad and the temporaries that turn oneDNN's
 * overwriting outputs into our accumulating gradients live in one
 * process-lifetime scratch buffer that grows to the largest call and is
 * reused, so a training step allocates nothing after the first one.
 *
 * A lock serialises cache lookups and runs, so ops may be issued from any
 * thread (the kernels themselves run on the OpenMP threads).
 * Covered by tests/test_dnnl.c.
 */
#ifndef SEMISEG_CPU_DNNL_COMMON_H
#define SEMISEG_CPU_DNNL_COMMON_H

#include <dnnl.h>
#include <dnnl_debug.h>

#include <stdbool.h>

#include "semiseg/tensor.h"

/* Aborts naming the failing oneDNN call and its status: with plain f32
 * layouts every primitive we ask for has at least oneDNN's reference
 * implementation, so a failure is a programming error. */
#define SG_DNNL_CHECK(call)                                                       \
    do {                                                                          \
        dnnl_status_t sg_dnnl_st_ = (call);                                       \
        SG_CHECK(sg_dnnl_st_ == dnnl_success, "oneDNN: %s failed: %s", #call,     \
                 dnnl_status2str(sg_dnnl_st_));                                   \
    } while (0)

/* What a primitive computes; part of the cache key. */
typedef enum sg_dnnl_kind {
    SG_DNNL_CONV_FWD = 1,
    SG_DNNL_CONV_BWD_DATA,
    SG_DNNL_CONV_BWD_WEIGHTS,
    SG_DNNL_POOL_FWD,
    SG_DNNL_POOL_BWD,
} sg_dnnl_kind;

#define SG_DNNL_KEY_INTS 20
/* A cache key: the kind and up to SG_DNNL_KEY_INTS integers describing
 * shapes and parameters. Build it zeroed (designated initialiser) so unused
 * slots compare equal; sg_dnnl_prim_get fills in the thread count. */
typedef struct sg_dnnl_key {
    sg_dnnl_kind kind;
    int threads;
    int v[SG_DNNL_KEY_INTS];
} sg_dnnl_key;

/* Builds the primitive descriptor a key stands for (on sg_dnnl_engine(),
 * with a user-managed scratchpad); may itself call sg_dnnl_prim_get for a
 * forward hint. */
typedef dnnl_primitive_desc_t (*sg_dnnl_build_fn)(const sg_dnnl_key *key);

typedef struct sg_dnnl_prim sg_dnnl_prim;

/* One (execute argument, plain-layout buffer) pair. Inputs are passed as
 * non-const pointers because oneDNN memory objects take void *; they are not
 * written. For an output (DST, DIFF_SRC, DIFF_WEIGHTS, DIFF_BIAS,
 * DIFF_SCALE, DIFF_SHIFT), `accumulate` adds the result into ptr instead of
 * overwriting it, and ptr NULL discards the result (oneDNN computes some
 * outputs whether or not they are wanted). For an input, `keep` keeps its
 * blocked copy after the run: a later run that passes the same buffer with
 * `keep` and wants the same layout uses that copy instead of reordering
 * again, until sg_dnnl_drop_kept (the caller guarantees that the buffer does
 * not change in between). */
typedef struct sg_dnnl_arg {
    int arg;     /* DNNL_ARG_* */
    void *ptr;
    bool accumulate;
    bool keep;
} sg_dnnl_arg;

dnnl_engine_t sg_dnnl_engine(void);
/* The cached primitive for key, built by build on the first request. Valid
 * until the process exits (an atexit handler frees the cache). */
sg_dnnl_prim *sg_dnnl_prim_get(const sg_dnnl_key *key, sg_dnnl_build_fn build);
/* Primitives built so far (tests check that repeated calls reuse them). */
int sg_dnnl_cache_entries(void);
const_dnnl_primitive_desc_t sg_dnnl_prim_desc(const sg_dnnl_prim *p);
/* Bytes of the workspace the primitive reads or writes (0 when none). */
size_t sg_dnnl_prim_workspace_bytes(const sg_dnnl_prim *p);
/* Runs p on the n plain-layout buffers, reordering those the primitive
 * wants blocked, and waits for it. */
void sg_dnnl_exec(sg_dnnl_prim *p, int n, const sg_dnnl_arg *args);
/* Forgets the input copy kept by `keep` (call when its buffer may change). */
void sg_dnnl_drop_kept(void);

/* A user-scratchpad attribute for builders; free with dnnl_primitive_attr_destroy. */
dnnl_primitive_attr_t sg_dnnl_attr_new(void);
/* A plain f32 memory descriptor (tag dnnl_a .. dnnl_abcde by ndims). */
dnnl_memory_desc_t sg_dnnl_md(int ndims, const dnnl_dim_t *dims);
/* An f32 descriptor of the given dims whose layout the primitive chooses. */
dnnl_memory_desc_t sg_dnnl_md_any(int ndims, const dnnl_dim_t *dims);

#endif
