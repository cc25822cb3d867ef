/*
 * test_tensor.c: tensors, the arena and misuse messages.
 * The arena must stop allocating after the first step (no malloc in the hot
 * loop): after a reset it holds one block of at least the peak size, and
 * repeating the same step does not grow it.
 */
#include "semiseg.h"
#include "expect_abort.h"
#include "tap.h"

#include <string.h>

static void test_arena(void)
{
    sg_arena a;
    sg_arena_init(&a);
    int aligned = 1;
    for (int i = 0; i < 100; i++) {
        void *p = sg_arena_alloc(&a, (size_t)(1 + 37 * i));
        aligned &= ((uintptr_t)p % 64) == 0;
    }
    tap_ok(aligned, "arena allocations are 64-byte aligned");

    /* A "step" that needs more than one block. */
    for (int i = 0; i < 5; i++) sg_arena_alloc(&a, (size_t)3 << 20);
    size_t peak = a.peak;
    sg_arena_reset(&a);
    size_t cap = sg_arena_capacity(&a);
    tap_ok(cap >= peak && a.used == 0, "reset coalesces to one block >= peak (%zu >= %zu)", cap, peak);
    for (int i = 0; i < 100; i++) sg_arena_alloc(&a, (size_t)(1 + 37 * i));
    for (int i = 0; i < 5; i++) sg_arena_alloc(&a, (size_t)3 << 20);
    tap_ok(sg_arena_capacity(&a) == cap, "the same step again allocates no new memory");

    /* A mark and a release that frees the blocks chained after it. */
    sg_arena_alloc(&a, 100);
    sg_arena_mark m = sg_arena_get_mark(&a);
    size_t cap_at_mark = sg_arena_capacity(&a);
    for (int i = 0; i < 4; i++) sg_arena_alloc(&a, (size_t)5 << 20);
    bool grew = sg_arena_capacity(&a) > cap_at_mark;
    sg_arena_release(&a, m);
    sg_arena_alloc(&a, 64);
    tap_ok(grew && sg_arena_capacity(&a) == cap_at_mark && a.used == m.used + 64,
           "release returns to the mark and frees the blocks chained after it");

    unsigned char *z = sg_arena_calloc(&a, 1000);
    int zero = 1;
    for (int i = 0; i < 1000; i++) zero &= z[i] == 0;
    tap_ok(zero, "sg_arena_calloc zeroes");
    sg_arena_free(&a);
}

static void test_tensors(void)
{
    sg_ctx ctx;
    sg_ctx_init(&ctx);
    sg_tensor *t = sg_tensor_new4(&ctx, 2, 3, 5, 7);
    char s[SG_SHAPE_STR_LEN];
    tap_ok(sg_numel(t) == 210 && strcmp(sg_shape_str(t, s, sizeof s), "[2, 3, 5, 7]") == 0,
           "new4 shape %s numel %zu", s, sg_numel(t));
    int lshape[3] = {2, 5, 7};
    sg_tensor *l = sg_tensor_new(&ctx, SG_I32, 3, lshape);
    tap_ok(l->dtype == SG_I32 && sg_numel(l) == 70 && sg_dtype_size(SG_U8) == 1,
           "int32 label tensor and dtype sizes");
    int vshape[2] = {6, 35};
    sg_tensor *v = sg_tensor_view(&ctx, t, 2, vshape);
    tap_ok(v->data == t->data && sg_numel(v) == sg_numel(t), "view shares memory");
    tap_ok(!sg_same_shape(v, t) && sg_same_shape(t, sg_tensor_like(&ctx, t)), "sg_same_shape");

    sg_tensor *p = sg_tensor_alloc(SG_F32, 4, t->shape, true);
    int zero = 1;
    for (size_t i = 0; i < sg_numel(p); i++) zero &= p->data[i] == 0.0f && p->grad[i] == 0.0f;
    tap_ok(zero && p->requires_grad && p->owns_memory, "sg_tensor_alloc zeroes data and grad");
    p->grad[3] = 1.0f;
    sg_tensor_zero_grad(p);
    tap_ok(p->grad[3] == 0.0f, "sg_tensor_zero_grad");
    tap_ok(sg_grad_buffer(&ctx, t) == NULL, "no grad buffer for a tensor that needs none");
    sg_tensor_free(p);
    sg_ctx_free(&ctx);
}

static void bad_view_(void *arg)
{
    (void)arg;
    sg_ctx ctx;
    sg_ctx_init(&ctx);
    sg_tensor *t = sg_tensor_new4(&ctx, 2, 3, 5, 5);
    int shape[2] = {7, 7};
    sg_tensor_view(&ctx, t, 2, shape);
}

static void bad_dim_(void *arg)
{
    (void)arg;
    int shape[2] = {3, 0};
    sg_tensor_alloc(SG_F32, 2, shape, false);
}

static void bad_add_(void *arg)
{
    (void)arg;
    sg_ctx ctx;
    sg_ctx_init(&ctx);
    sg_add(&ctx, sg_tensor_new4(&ctx, 2, 3, 5, 5), sg_tensor_new4(&ctx, 2, 4, 5, 5));
}

int main(void)
{
    test_arena();
    test_tensors();
    tap_ok(sg_expect_abort(bad_view_, NULL,
                           (const char *const[]){"sg_tensor_view", "[2, 3, 5, 5]", "[7, 7]"}, 3),
           "a bad view names the op and both shapes");
    tap_ok(sg_expect_abort(bad_dim_, NULL, (const char *const[]){"dimension 1 has size 0"}, 1),
           "a zero-sized dimension is rejected");
    tap_ok(sg_expect_abort(bad_add_, NULL,
                           (const char *const[]){"sg_add", "[2, 3, 5, 5]", "[2, 4, 5, 5]"}, 3),
           "an op shape mismatch names the op and both shapes");
    return tap_done();
}
