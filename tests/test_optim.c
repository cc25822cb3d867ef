/*
 * test_optim.c: parameter sets, SGD, the poly schedule and EMA (optim.h)
 * against PyTorch fixtures (tests/ref/gen_optim.py -> tests/data/optim.bin):
 * 5 steps of torch.optim.SGD with two parameter groups, PolynomialLR values,
 * one EMA update in both buffer modes; plus set bookkeeping and misuse.
 */
#include "expect_abort.h"
#include "fixture.h"
#include "tap.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#define GEN "tests/ref/gen_optim.py"

/* One SGD step rounds three times per element (g + wd p, momentum * buf + d,
 * p - lr buf) on values of size O(1); torch may fuse some of these into FMAs.
 * Five steps stay within ~10 ulp of 1, so 1e-6 absolute (plus 1e-6 relative
 * for the few larger entries); a 10% error in any hyper-parameter moves the
 * parameters by >= 1e-4. */
#define SGD_ATOL 1e-6
#define SGD_RTOL 1e-6
/* The poly lr is computed in double and rounded to float once; the float
 * base (0.01f) and power (0.9f) add < 2e-7 relative over iterations 0..19. */
#define POLY_RTOL 1e-6
/* e * decay + p * (1 - decay): two products and a sum on O(1) values, with
 * the same float decay on both sides: <= 2 ulp of 4, i.e. < 1e-6. */
#define EMA_ATOL 1e-6

#define SGD_STEPS 5
#define SGD_BASE 0.05f
#define SGD_POWER 0.9f

static const char *const sgd_names[3] = {"a.weight", "a.bias", "b.weight"};

/* The three parameters of the fixture, in the fixture's order and groups. */
static void build_sgd_set(sg_param_set *s)
{
    sg_param_set_init(s);
    sg_param_add(s, "a.weight", 0, 2, (const int[]){4, 3});
    sg_param_add(s, "a.bias", 0, 1, (const int[]){4});
    sg_param_add(s, "b.weight", 1, 4, (const int[]){2, 3, 3, 3});
}

static void load_into(const sg_fixture *fx, const char *key, sg_tensor *dst, bool to_grad)
{
    size_t n;
    const double *v = sg_fixture_doubles(fx, key, &n);
    SG_CHECK(n == sg_numel(dst), "fixture %s has %zu elements, tensor %zu", key, n, sg_numel(dst));
    float *out = to_grad ? dst->grad : dst->data;
    for (size_t i = 0; i < n; i++) out[i] = (float)v[i];
}

static void test_sgd_parity(const sg_fixture *fx)
{
    sg_param_set s;
    build_sgd_set(&s);
    char key[128];
    for (int i = 0; i < 3; i++) {
        snprintf(key, sizeof key, "sgd.init.%s", sgd_names[i]);
        load_into(fx, key, s.params[i].t, false);
    }
    sg_sgd opt;
    sg_sgd_init(&opt, &s, 2, 0.9f, 0.05f);
    opt.groups[1] = (sg_param_group){.lr_mult = 10.0f, .weight_decay = 0.01f};
    size_t n_lr;
    const double *lrs = sg_fixture_doubles(fx, "sgd.lr", &n_lr);
    for (int k = 0; k < SGD_STEPS; k++) {
        for (int i = 0; i < 3; i++) {
            snprintf(key, sizeof key, "sgd.grad%d.%s", k, sgd_names[i]);
            load_into(fx, key, s.params[i].t, true);
        }
        float lr = sg_poly_lr(SGD_BASE, k, SGD_STEPS, SGD_POWER);
        tap_ok(fabs(lr - lrs[k]) <= POLY_RTOL * lrs[k], "sgd step %d: poly lr %.9g vs torch %.9g", k,
               (double)lr, lrs[k]);
        sg_sgd_step(&opt, &s, lr);
        for (int i = 0; i < 3; i++) {
            snprintf(key, sizeof key, "sgd.step%d.%s", k, sgd_names[i]);
            tap_ok(sg_check_close(fx, key, s.params[i].t->data, sg_numel(s.params[i].t), SGD_ATOL,
                                  SGD_RTOL),
                   "sgd step %d: %s matches torch.optim.SGD", k, sgd_names[i]);
        }
    }
    tap_ok(opt.steps == SGD_STEPS, "sgd counts %ld steps", opt.steps);
    sg_sgd_free(&opt);
    sg_param_set_free(&s);
}

static void test_poly(const sg_fixture *fx)
{
    const char *keys[2] = {"poly.p09", "poly.p10"};
    const float powers[2] = {0.9f, 1.0f};
    for (int j = 0; j < 2; j++) {
        size_t n;
        const double *v = sg_fixture_doubles(fx, keys[j], &n);
        double worst = 0;
        for (size_t it = 0; it < n; it++) {
            double got = sg_poly_lr(0.01f, (long)it, (long)n, powers[j]);
            double rel = fabs(got - v[it]) / v[it];
            if (rel > worst) worst = rel;
        }
        tap_ok(n == 20 && worst <= POLY_RTOL, "poly lr power %.1f matches PolynomialLR (worst rel %.2g)",
               (double)powers[j], worst);
    }
}

/* A set with one parameter "w" (3, 4) and one buffer "buf" (5). */
static void build_ema_set(sg_param_set *s)
{
    sg_param_set_init(s);
    sg_param_add(s, "w", 0, 2, (const int[]){3, 4});
    sg_buffer_add(s, "buf", 1, (const int[]){5});
}

static void test_ema(const sg_fixture *fx)
{
    float decay = (float)sg_fixture_scalar(fx, "ema.decay");
    for (int mode = 0; mode < 2; mode++) {
        bool ema_buffers = mode == 0;
        sg_param_set teacher, student;
        build_ema_set(&teacher);
        build_ema_set(&student);
        load_into(fx, "ema.e.w", teacher.params[0].t, false);
        load_into(fx, "ema.e.buf", teacher.buffers[0].t, false);
        load_into(fx, "ema.m.w", student.params[0].t, false);
        load_into(fx, "ema.m.buf", student.buffers[0].t, false);
        sg_ema_update(&teacher, &student, decay, ema_buffers);
        tap_ok(sg_check_close(fx, "ema.out.w", teacher.params[0].t->data, 12, EMA_ATOL, 0),
               "ema (%s buffers): parameters match", ema_buffers ? "EMA'd" : "copied");
        const char *bkey = ema_buffers ? "ema.out_ema.buf" : "ema.out_copy.buf";
        if (ema_buffers) {
            tap_ok(sg_check_close(fx, bkey, teacher.buffers[0].t->data, 5, EMA_ATOL, 0),
                   "ema (EMA'd buffers): buffers blended");
        } else {
            tap_ok(memcmp(teacher.buffers[0].t->data, student.buffers[0].t->data, 5 * sizeof(float)) == 0,
                   "ema (copied buffers): buffers equal the student's bitwise");
        }
        sg_param_set_free(&teacher);
        sg_param_set_free(&student);
    }
}

static void test_set_bookkeeping(void)
{
    sg_param_set s, d;
    build_sgd_set(&s);
    sg_buffer_add(&s, "a.running_mean", 1, (const int[]){4});
    build_sgd_set(&d);
    sg_buffer_add(&d, "a.running_mean", 1, (const int[]){4});

    tap_ok(sg_param_count(&s) == 12 + 4 + 54, "count sums trainable elements only (%zu)", sg_param_count(&s));
    sg_param *p = sg_param_find(&s, "b.weight");
    tap_ok(p && p == &s.params[2] && p->group == 1 && p->t->ndim == 4, "find returns the entry with its group");
    tap_ok(!sg_param_find(&s, "b.bias") && !sg_param_find(&s, "a.running_mean"),
           "find: absent names and buffers give NULL");
    sg_param *b = sg_buffer_find(&s, "a.running_mean");
    tap_ok(b && b == &s.buffers[0] && !b->t->requires_grad && !b->t->grad,
           "buffer_find returns the buffer, which has no gradient");
    tap_ok(!sg_buffer_find(&s, "a.weight"), "buffer_find does not return parameters");

    for (int i = 0; i < s.n_params; i++) {
        sg_tensor *t = s.params[i].t;
        for (size_t j = 0; j < sg_numel(t); j++) {
            t->data[j] = (float)(i * 100 + (int)j) + 0.25f;
            t->grad[j] = 1.0f + (float)j;
        }
    }
    for (int j = 0; j < 4; j++) s.buffers[0].t->data[j] = -1.5f * (float)j;
    sg_param_zero_grad(&s);
    int zero = 1;
    for (int i = 0; i < s.n_params; i++)
        for (size_t j = 0; j < sg_numel(s.params[i].t); j++) zero &= s.params[i].t->grad[j] == 0.0f;
    tap_ok(zero && s.params[0].t->data[1] == 1.25f, "zero_grad clears every gradient, keeps values");

    sg_param_set_copy(&d, &s);
    int same = 1;
    for (int i = 0; i < s.n_params; i++)
        same &= memcmp(d.params[i].t->data, s.params[i].t->data, sg_numel(s.params[i].t) * sizeof(float)) == 0;
    same &= memcmp(d.buffers[0].t->data, s.buffers[0].t->data, 4 * sizeof(float)) == 0;
    tap_ok(same && d.params[0].t->data != s.params[0].t->data, "set_copy copies parameters and buffers");
    sg_param_set_free(&s);
    sg_param_set_free(&d);
}

static void dup_param(void *arg)
{
    (void)arg;
    sg_param_set s;
    build_sgd_set(&s);
    sg_param_add(&s, "a.bias", 1, 1, (const int[]){4});
}

static void dup_buffer(void *arg)
{
    (void)arg;
    sg_param_set s;
    build_sgd_set(&s);
    sg_buffer_add(&s, "b.weight", 1, (const int[]){2});
}

static void copy_mismatch(void *arg)
{
    (void)arg;
    sg_param_set a, b;
    build_ema_set(&a);
    sg_param_set_init(&b);
    sg_param_add(&b, "w", 0, 2, (const int[]){4, 3});
    sg_buffer_add(&b, "buf", 1, (const int[]){5});
    sg_param_set_copy(&a, &b);
}

static void test_misuse(void)
{
    tap_ok(sg_expect_abort(dup_param, NULL, (const char *const[]){"sg_param_add", "\"a.bias\""}, 2),
           "duplicate parameter name aborts naming it");
    tap_ok(sg_expect_abort(dup_buffer, NULL, (const char *const[]){"sg_buffer_add", "\"b.weight\""}, 2),
           "buffer named like a parameter aborts naming it");
    tap_ok(sg_expect_abort(copy_mismatch, NULL,
                           (const char *const[]){"sg_param_set_copy", "\"w\"", "[3, 4]", "[4, 3]"}, 4),
           "set_copy with a shape mismatch aborts naming the entry and shapes");
}

int main(void)
{
    sg_fixture *fx = sg_fixture_open("optim.bin", GEN);
    test_sgd_parity(fx);
    test_poly(fx);
    test_ema(fx);
    test_set_bookkeeping();
    test_misuse();
    sg_fixture_close(fx);
    return tap_done();
}
