/*
 * tape.c: recording and replaying the autograd tape (tape.h).
 *
 * Nodes live in the arena; only the array of node pointers is malloc'd, and
 * it keeps its capacity across sg_ctx_reset. Nodes whose output received no
 * gradient are skipped, so a branch that does not reach the loss costs nothing.
 *
 * Covered by tests/test_tape.c.
 */
#include "semiseg/tape.h"

#include <stdlib.h>
#include <string.h>

bool sg_should_record(const sg_ctx *ctx, int n, const sg_tensor *const *inputs)
{
    if (!ctx->grad_enabled) return false;
    for (int i = 0; i < n; i++)
        if (inputs[i] && inputs[i]->requires_grad) return true;
    return false;
}

void *sg_tape_record(sg_ctx *ctx, size_t bytes, const char *op, sg_backward_fn fn, sg_tensor *out)
{
    SG_CHECK(bytes >= sizeof(sg_node), "%s: node size %zu too small", op, bytes);
    SG_CHECK(out->dtype == SG_F32, "%s: only float outputs can be differentiated", op);
    if (ctx->n_nodes == ctx->cap_nodes) {
        int cap = ctx->cap_nodes ? 2 * ctx->cap_nodes : 256;
        sg_node **nodes = realloc(ctx->nodes, (size_t)cap * sizeof *nodes);
        SG_CHECK(nodes != NULL, "out of memory growing the tape to %d nodes", cap);
        ctx->nodes = nodes;
        ctx->cap_nodes = cap;
    }
    sg_node *node = sg_arena_calloc(sg_ctx_host_arena(ctx), bytes);
    node->op = op;
    node->backward = fn;
    node->out = out;
    out->requires_grad = true;
    ctx->nodes[ctx->n_nodes++] = node;
    return node;
}

/* Every consumer of a node's output comes later on the tape, so once the
 * node's own backward has run, the output's gradient is dead: hand its
 * buffer to the next sg_grad_buffer of the same size. The tensor's grad is
 * cleared so that nothing reads the reused memory through it. */
static void sg_recycle_grad_(sg_ctx *ctx, sg_tensor *out)
{
    if (out->owns_memory) return; /* a caller's long-lived tensor keeps its gradient */
    if (ctx->n_free_grads == ctx->cap_free_grads) {
        int cap = ctx->cap_free_grads ? 2 * ctx->cap_free_grads : 64;
        struct sg_free_grad *f = realloc(ctx->free_grads, (size_t)cap * sizeof *f);
        SG_CHECK(f != NULL, "out of memory growing the gradient free list to %d", cap);
        ctx->free_grads = f;
        ctx->cap_free_grads = cap;
    }
    ctx->free_grads[ctx->n_free_grads].ptr = out->grad;
    ctx->free_grads[ctx->n_free_grads].bytes = sg_numel(out) * sizeof(float);
    ctx->n_free_grads++;
    out->grad = NULL;
}

static void sg_replay_(sg_ctx *ctx)
{
    /* One reverse pass per tape: sum the losses first, as in PyTorch without
     * retain_graph. */
    SG_CHECK(!ctx->replayed, "sg_backward called twice on one tape; add the losses and "
                             "call it once, or sg_ctx_reset between steps");
    ctx->replayed = true;
    /* The tape is topologically ordered by construction (define-by-run). */
    for (int i = ctx->n_nodes - 1; i >= 0; i--) {
        sg_node *node = ctx->nodes[i];
        if (!node->out->grad) continue;
        node->backward(ctx, node);
        sg_recycle_grad_(ctx, node->out);
    }
}

void sg_backward_with(sg_ctx *ctx, sg_tensor *t, const float *dout)
{
    SG_CHECK(t->requires_grad, "sg_backward: the tensor was not produced by a recorded op "
                               "(no input requires a gradient, or recording was off)");
    float *g = sg_grad_buffer(ctx, t);
    size_t n = sg_numel(t);
    /* The seed is host memory; on a device it is added through the host. */
    float *h = ctx->arena.be ? sg_arena_alloc(&ctx->host, n * sizeof(float)) : g;
    if (h != g) ctx->be->to_host(h, g, n * sizeof(float));
    for (size_t i = 0; i < n; i++) h[i] += dout[i];
    if (h != g) ctx->be->to_device(g, h, n * sizeof(float));
    sg_replay_(ctx);
}

void sg_backward(sg_ctx *ctx, sg_tensor *loss)
{
    char s[SG_SHAPE_STR_LEN];
    SG_CHECK(sg_numel(loss) == 1, "sg_backward: loss must have one element, got shape %s",
             sg_shape_str(loss, s, sizeof s));
    const float one = 1.0f;
    sg_backward_with(ctx, loss, &one);
}
