/*
 * tensor.h: float32/int32/uint8 tensors (NCHW, contiguous), the per-step arena
 * and the execution context that owns the autograd tape.
 *
 * Lifetimes: tensors made with sg_tensor_new() live in the context's arena and
 * die at sg_ctx_reset() (once per training step), so the hot loop never calls
 * malloc after the first step. Parameters, buffers and optimizer state are
 * made with sg_tensor_alloc() and live until sg_tensor_free().
 *
 * Covered by tests/test_tensor.c.
 */
#ifndef SEMISEG_TENSOR_H
#define SEMISEG_TENSOR_H

#include "semiseg/backend.h"
#include "semiseg/base.h"

#ifdef __cplusplus
extern "C" {
#endif

#define SG_MAX_DIMS 4

typedef enum sg_dtype { SG_F32 = 0, SG_I32 = 1, SG_U8 = 2 } sg_dtype;

typedef struct sg_tensor {
    int ndim;                 /* 1..SG_MAX_DIMS */
    int shape[SG_MAX_DIMS];   /* images are (N, C, H, W); labels (N, H, W) */
    sg_dtype dtype;
    union {
        float *data;          /* SG_F32 */
        int32_t *i32;         /* SG_I32 */
        uint8_t *u8;          /* SG_U8 */
    };
    float *grad;              /* same shape as data; NULL until a gradient flows */
    bool requires_grad;       /* leaf parameters, and outputs of recorded ops */
    bool owns_memory;         /* made by sg_tensor_alloc: data/grad are malloc'd */
    sg_device device;         /* where data and grad are (zero-initialised: the CPU) */
} sg_tensor;

/* ---- arena: bump allocation, reset per step ------------------------------- */
typedef struct sg_arena_block sg_arena_block;
typedef struct sg_arena {
    const sg_backend *be;     /* whose memory the blocks are; NULL: the host */
    sg_arena_block *head;     /* newest block first */
    size_t used;              /* bytes handed out since the last reset */
    size_t peak;              /* largest `used` seen: the next reset sizes one block to it */
} sg_arena;

void sg_arena_init(sg_arena *a);                       /* host memory */
void sg_arena_init_on(sg_arena *a, const sg_backend *be); /* be's device memory */
void *sg_arena_alloc(sg_arena *a, size_t bytes);   /* 64-byte aligned, uninitialised */
void *sg_arena_calloc(sg_arena *a, size_t bytes);  /* 64-byte aligned, zeroed */
void sg_arena_reset(sg_arena *a);
void sg_arena_free(sg_arena *a);
size_t sg_arena_capacity(const sg_arena *a);

/* A position in the arena: everything allocated after it can be given back
 * at once (sg_arena_release), e.g. the activations of a forward pass run
 * without recording, of which only the output is needed. */
typedef struct sg_arena_mark {
    sg_arena_block *block;    /* head block at the mark */
    size_t off, used;
} sg_arena_mark;
sg_arena_mark sg_arena_get_mark(const sg_arena *a);
/* Back to the mark; blocks chained after it are freed. */
void sg_arena_release(sg_arena *a, sg_arena_mark m);

/* ---- context: arena + tape ------------------------------------------------- */
typedef struct sg_node sg_node;
typedef struct sg_ctx {
    const sg_backend *be;     /* the kernels every op on this context runs */
    sg_arena arena;           /* on be's device */
    /* Tensor headers and tape nodes, which the host reads: in `arena` on
     * the CPU, here when `arena` is device memory (sg_ctx_host_arena). */
    sg_arena host;
    sg_node **nodes;          /* the tape, in execution order */
    int n_nodes, cap_nodes;
    bool grad_enabled;        /* false: ops run without recording (teacher passes, eval) */
    bool replayed;            /* sg_backward ran on this tape: a second run would double-count */
    /* Gradient buffers of node outputs whose backward has run: dead, and
     * handed out again by sg_grad_buffer (same size), so a backward pass
     * needs memory for the live gradients only, not for all of them. */
    struct sg_free_grad { float *ptr; size_t bytes; } *free_grads;
    int n_free_grads, cap_free_grads;
    /* Floating-point operations of the convolutions and matrix products run
     * on this context, 2 per multiply-add: each forward, and each gradient a
     * backward computes (input and weight gradients cost one forward each).
     * Nominal: dead-tap cropping (op_conv.c) does not lower it. Cumulative:
     * sg_ctx_reset keeps it. The run driver reports GFLOP per iteration from
     * it (result.json); it is not a time, so it is the same on any machine. */
    double flops;
} sg_ctx;

/* A context on the default CPU backend (sg_backend_cpu_default). */
void sg_ctx_init(sg_ctx *ctx);
/* A context whose ops run on `be` and whose tensors live on its device. */
void sg_ctx_init_on(sg_ctx *ctx, const sg_backend *be);
void sg_ctx_free(sg_ctx *ctx);
/* `bytes` of host memory copied into ctx's arena on its device; on the CPU
 * the host pointer itself (it must then be arena memory of ctx or outlive
 * the step). */
void *sg_ctx_upload(sg_ctx *ctx, void *host, size_t bytes);
/* Host memory to fill with the contents of arena tensor t (t's own data on
 * the CPU), then sg_ctx_stage_done uploads it where t lives. */
void *sg_ctx_stage(sg_ctx *ctx, sg_tensor *t);
void sg_ctx_stage_done(sg_ctx *ctx, sg_tensor *t, const void *host);
/* Where the context's host-side records (tensor headers, tape nodes) go. */
sg_arena *sg_ctx_host_arena(sg_ctx *ctx);
/* Drop the tape and every arena tensor; keeps the memory for the next step. */
void sg_ctx_reset(sg_ctx *ctx);
/* Enable/disable recording; returns the previous setting (like torch.no_grad). */
bool sg_ctx_set_grad(sg_ctx *ctx, bool enabled);

/* Give back everything allocated in ctx's arena since mark except the data
 * of t, which is moved down to the mark: for forward passes without
 * recording (teacher, pseudo-label and evaluation passes) whose activations
 * are dead once their output exists. Nothing may have been recorded on the
 * tape since the mark. Returns t's new header; every other tensor made
 * after the mark is invalid. */
sg_tensor *sg_ctx_release_keep(sg_ctx *ctx, sg_arena_mark mark, int n_nodes_at_mark, const sg_tensor *t);

/* ---- tensors ---------------------------------------------------------------- */
size_t sg_numel(const sg_tensor *t);
size_t sg_dtype_size(sg_dtype dt);
/* Arena tensor, uninitialised data. */
sg_tensor *sg_tensor_new(sg_ctx *ctx, sg_dtype dt, int ndim, const int *shape);
sg_tensor *sg_tensor_new4(sg_ctx *ctx, int n, int c, int h, int w);
/* Arena tensor with the same shape/dtype as `like`. */
sg_tensor *sg_tensor_like(sg_ctx *ctx, const sg_tensor *like);
/* Long-lived tensor on the host, zeroed. With requires_grad, a zeroed grad
 * buffer too. */
sg_tensor *sg_tensor_alloc(sg_dtype dt, int ndim, const int *shape, bool requires_grad);
/* The same on be's device. */
sg_tensor *sg_tensor_alloc_on(const sg_backend *be, sg_dtype dt, int ndim, const int *shape,
                              bool requires_grad);
/* Moves a long-lived tensor's data (and grad) to be's device: the values
 * are copied and the old memory freed. */
void sg_tensor_move(sg_tensor *t, const sg_backend *be);
void sg_tensor_free(sg_tensor *t);
/* Copies between a tensor, wherever it is, and host memory of its size
 * (sg_numel * sg_dtype_size bytes). */
void sg_tensor_read(const sg_tensor *t, void *host);
void sg_tensor_write(sg_tensor *t, const void *host);
/* The same for elements [first, first + n) of the flat tensor (any dtype);
 * a range outside the tensor aborts. */
void sg_tensor_read_range(const sg_tensor *t, size_t first, size_t n, void *host);
void sg_tensor_write_range(sg_tensor *t, size_t first, size_t n, const void *host);
/* The first element of a float tensor (a loss), read wherever it lives. */
float sg_tensor_item(const sg_tensor *t);
/* Stops with the op's name unless t is on ctx's device. */
void sg_check_device(const sg_ctx *ctx, const char *op, const sg_tensor *t);
/* A tensor header over existing memory (no copy), in the arena. */
sg_tensor *sg_tensor_view(sg_ctx *ctx, const sg_tensor *src, int ndim, const int *shape);

bool sg_same_shape(const sg_tensor *a, const sg_tensor *b);
/* "[2, 3, 5, 5]"; returns buf. */
const char *sg_shape_str(const sg_tensor *t, char *buf, size_t len);
#define SG_SHAPE_STR_LEN 64

/* The gradient buffer of t for accumulation: allocated (zeroed, in the arena,
 * or a recycled dead gradient of the same size) on first use. Returns NULL
 * when t does not require a gradient. */
float *sg_grad_buffer(sg_ctx *ctx, sg_tensor *t);
/* dx for a backward kernel of `be` that takes dx_zero (conv2d, batchnorm,
 * maxpool2d): sets *dx_zero when t has no gradient yet, and then, where
 * be->dx_zero_overwrites, leaves the new buffer unfilled, since the kernel
 * writes all of it (sanitizer builds fill it with NaN instead, so a kernel
 * that misses an element fails the tests). Otherwise as sg_grad_buffer. */
float *sg_grad_buffer_dx(sg_ctx *ctx, const struct sg_backend *be, sg_tensor *t, bool *dx_zero);
/* Set every element of a long-lived tensor's grad to 0. */
void sg_tensor_zero_grad(sg_tensor *t);

#ifdef __cplusplus
}
#endif

#endif
