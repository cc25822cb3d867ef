/*
 * test_tape.c: the autograd tape itself, with a test-local op (y = a * x)
 * so that it depends on no kernel: reverse order, accumulation into a tensor
 * used twice, no-grad mode, skipped branches, accumulation across steps and
 * the misuse errors.
 */
#include "semiseg.h"
#include "expect_abort.h"
#include "tap.h"

#include <stdlib.h>
#include <string.h>

typedef struct {
    sg_node node;
    sg_tensor *x;
    float a;
} scale_node;

static int backward_calls = 0;

static void scale_backward_(sg_ctx *ctx, sg_node *node)
{
    scale_node *n = (scale_node *)node;
    backward_calls++;
    float *dx = sg_grad_buffer(ctx, n->x);
    if (!dx) return;
    for (size_t i = 0; i < sg_numel(n->x); i++) dx[i] += n->a * node->out->grad[i];
}

/* y = a * x, recorded like any op. */
static sg_tensor *test_scale(sg_ctx *ctx, sg_tensor *x, float a)
{
    sg_tensor *y = sg_tensor_like(ctx, x);
    for (size_t i = 0; i < sg_numel(x); i++) y->data[i] = a * x->data[i];
    if (sg_should_record(ctx, 1, (const sg_tensor *const[]){x})) {
        scale_node *n = sg_tape_record(ctx, sizeof *n, "test_scale", scale_backward_, y);
        n->x = x;
        n->a = a;
    }
    return y;
}

/* Sum of two scalars, recorded: lets one tensor reach the loss twice. */
typedef struct {
    sg_node node;
    sg_tensor *a, *b;
} add_node;

static void add_backward_(sg_ctx *ctx, sg_node *node)
{
    add_node *n = (add_node *)node;
    float *da = sg_grad_buffer(ctx, n->a), *db = sg_grad_buffer(ctx, n->b);
    if (da) da[0] += node->out->grad[0];
    if (db) db[0] += node->out->grad[0];
}

static sg_tensor *test_add(sg_ctx *ctx, sg_tensor *a, sg_tensor *b)
{
    int one = 1;
    sg_tensor *y = sg_tensor_new(ctx, SG_F32, 1, &one);
    y->data[0] = a->data[0] + b->data[0];
    if (sg_should_record(ctx, 2, (const sg_tensor *const[]){a, b})) {
        add_node *n = sg_tape_record(ctx, sizeof *n, "test_add", add_backward_, y);
        n->a = a;
        n->b = b;
    }
    return y;
}

static void test_chain_and_fanout(void)
{
    int one = 1;
    sg_tensor *w = sg_tensor_alloc(SG_F32, 1, &one, true);
    w->data[0] = 3.0f;
    sg_ctx ctx;
    sg_ctx_init(&ctx);
    /* loss = 2w + 5(2w) = 12w: w reaches the loss through two paths. */
    sg_tensor *h = test_scale(&ctx, w, 2.0f);
    sg_tensor *loss = test_add(&ctx, h, test_scale(&ctx, h, 5.0f));
    tap_ok(ctx.n_nodes == 3 && loss->data[0] == 36.0f, "three nodes recorded, loss 36");
    sg_backward(&ctx, loss);
    tap_ok(w->grad[0] == 12.0f, "fan-out gradients add up (dL/dw = %g, want 12)", w->grad[0]);

    /* Gradients accumulate across steps until zeroed, as in PyTorch. */
    sg_ctx_reset(&ctx);
    sg_backward(&ctx, test_scale(&ctx, w, 4.0f));
    tap_ok(w->grad[0] == 16.0f, "parameter gradients accumulate across steps (%g)", w->grad[0]);
    tap_ok(ctx.n_nodes == 1, "reset drops the previous tape");

    /* No-grad mode records nothing. */
    sg_ctx_reset(&ctx);
    bool prev = sg_ctx_set_grad(&ctx, false);
    sg_tensor *y = test_scale(&ctx, w, 2.0f);
    sg_ctx_set_grad(&ctx, prev);
    tap_ok(ctx.n_nodes == 0 && !y->requires_grad && prev, "no-grad mode records nothing");

    /* A branch that does not reach the loss is never replayed. */
    sg_ctx_reset(&ctx);
    backward_calls = 0;
    test_scale(&ctx, w, 7.0f);
    sg_tensor *l2 = test_scale(&ctx, w, 1.0f);
    sg_backward(&ctx, l2);
    tap_ok(backward_calls == 1, "an unused branch is skipped (%d backward calls)", backward_calls);

    /* Inputs that need no gradient produce no node. */
    sg_ctx_reset(&ctx);
    sg_tensor *c = sg_tensor_new(&ctx, SG_F32, 1, &one);
    c->data[0] = 1.0f;
    test_scale(&ctx, c, 2.0f);
    tap_ok(ctx.n_nodes == 0, "constants are not recorded");
    sg_ctx_free(&ctx);
    sg_tensor_free(w);
}

static void twice_(void *arg)
{
    (void)arg;
    int one = 1;
    sg_tensor *w = sg_tensor_alloc(SG_F32, 1, &one, true);
    sg_ctx ctx;
    sg_ctx_init(&ctx);
    sg_tensor *l = test_scale(&ctx, w, 2.0f);
    sg_backward(&ctx, l);
    sg_backward(&ctx, l);
}

static void non_scalar_(void *arg)
{
    (void)arg;
    int shape[2] = {2, 3};
    sg_tensor *w = sg_tensor_alloc(SG_F32, 2, shape, true);
    sg_ctx ctx;
    sg_ctx_init(&ctx);
    sg_backward(&ctx, test_scale(&ctx, w, 2.0f));
}

static void unrecorded_(void *arg)
{
    (void)arg;
    int one = 1;
    sg_ctx ctx;
    sg_ctx_init(&ctx);
    sg_backward(&ctx, sg_tensor_new(&ctx, SG_F32, 1, &one));
}

/* Dead gradients are recycled: a chain of 12 same-size ops needs about two
 * live gradient buffers during backward, not twelve; values stay exact. */
static void test_grad_recycling(void)
{
    int shape[1] = {4096};
    sg_tensor *w = sg_tensor_alloc(SG_F32, 1, shape, true);
    for (int i = 0; i < 4096; i++) w->data[i] = 1.0f;
    sg_ctx ctx;
    sg_ctx_init(&ctx);
    sg_tensor *h = w, *mid = NULL;
    for (int i = 0; i < 12; i++) {
        h = test_scale(&ctx, h, 2.0f);
        if (i == 5) mid = h;
    }
    size_t before = ctx.arena.used, bytes = 4096 * sizeof(float);
    float *dout = sg_xmalloc(bytes);
    for (int i = 0; i < 4096; i++) dout[i] = 1.0f;
    sg_backward_with(&ctx, h, dout);
    size_t grown = ctx.arena.used - before;
    tap_ok(w->grad[0] == 4096.0f && w->grad[4095] == 4096.0f, "recycled gradients are exact (%g)", w->grad[0]);
    tap_ok(grown <= 3 * bytes, "backward of 12 ops took %zu bytes of gradients (<= 3 buffers of %zu)", grown,
           bytes);
    tap_ok(mid->grad == NULL, "an intermediate's dead gradient is cleared, not left pointing at reused memory");
    free(dout);
    sg_ctx_free(&ctx);
    sg_tensor_free(w);
}

/* A forward pass without recording gives its activations back at once. */
static void test_release_keep(void)
{
    int shape[1] = {1000};
    sg_tensor *x = sg_tensor_alloc(SG_F32, 1, shape, false);
    for (int i = 0; i < 1000; i++) x->data[i] = (float)i;
    sg_ctx ctx;
    sg_ctx_init(&ctx);
    for (int pass = 0; pass < 2; pass++) { /* pass 1: the arena is one block (steady state) */
        sg_ctx_reset(&ctx);
        sg_arena_mark mark = sg_arena_get_mark(&ctx.arena);
        sg_tensor *h = x;
        for (int i = 0; i < 50; i++) h = test_scale(&ctx, h, 1.5f);
        float want[1000];
        memcpy(want, h->data, sizeof want);
        size_t used_full = ctx.arena.used;
        sg_tensor *kept = sg_ctx_release_keep(&ctx, mark, ctx.n_nodes, h);
        tap_ok(memcmp(kept->data, want, sizeof want) == 0 && sg_same_shape(kept, x),
               "pass %d: the kept output survives the release", pass);
        tap_ok(ctx.arena.used < used_full / 10, "pass %d: the arena shrank from %zu to %zu bytes", pass,
               used_full, ctx.arena.used);
    }
    sg_ctx_free(&ctx);
    sg_tensor_free(x);
}

static void release_after_record_(void *arg)
{
    (void)arg;
    int one = 1;
    sg_tensor *w = sg_tensor_alloc(SG_F32, 1, &one, true);
    sg_ctx ctx;
    sg_ctx_init(&ctx);
    sg_arena_mark mark = sg_arena_get_mark(&ctx.arena);
    int n = ctx.n_nodes;
    sg_tensor *y = test_scale(&ctx, w, 2.0f);
    y->grad = NULL;
    sg_ctx_release_keep(&ctx, mark, n, y);
}

int main(void)
{
    test_chain_and_fanout();
    test_grad_recycling();
    test_release_keep();
    tap_ok(sg_expect_abort(release_after_record_, NULL, (const char *const[]){"ops were recorded since the mark"}, 1),
           "releasing memory that recorded ops saved is refused");
    tap_ok(sg_expect_abort(twice_, NULL, (const char *const[]){"sg_backward called twice"}, 1),
           "a second backward on one tape is refused");
    tap_ok(sg_expect_abort(non_scalar_, NULL,
                           (const char *const[]){"loss must have one element", "[2, 3]"}, 2),
           "backward from a non-scalar names its shape");
    tap_ok(sg_expect_abort(unrecorded_, NULL, (const char *const[]){"not produced by a recorded op"}, 1),
           "backward from a constant is refused");
    return tap_done();
}
