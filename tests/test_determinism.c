/*
 * test_determinism.c: training is bitwise reproducible. Twenty SGD steps of
 * the tiny segmentation net of tests/tiny_net.h (widened to 32 channels), run
 * twice from the same Philox-seeded initialisation, give identical losses,
 * weights and BN statistics (memcmp), on the reference path and on the
 * oneDNN path with a fixed thread count; on the reference path also between
 * 1 and 2 threads, the property base.h promises. No fixture: the reference
 * is the run itself.
 *
 * Shapes are chosen so that both thread counts really split work: N=4,
 * 32 channels, 32x32 input. conv1's GEMM per image is 32 x 1024 x 27, cut by
 * src/cpu/gemm.c into 8 column blocks spread over the OpenMP threads (OpenBLAS
 * itself stays single-threaded: its threading changes the bits), and the
 * per-channel loops run over 32 channels.
 *
 * Also: a child forked after two-thread work trains to the end with the
 * parent's losses (threads.c's fork handler puts it on one thread; without
 * it, libgomp's first parallel region in the child waits forever).
 */
#include "tap.h"
#include "tiny_net.h"

#include "semiseg.h"

#include <math.h>
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* The backend this test runs its contexts on (the default CPU one unless a
 * test switches). */
static const sg_backend *g_be;

#define N 4
#define C 32
#define K 4
#define HW 32
#define STEPS 20
#define SEED 1234u

/* init: 0 = He normal (fan_in = numel / shape[0]), 1 = 0.1 normal,
 * 2 = 1 + 0.1 normal, 3 = zeros, 4 = ones. */
typedef struct {
    const char *name;
    int group, ndim, shape[4], init;
    bool buffer;
} entry_spec;

static const entry_spec specs[] = {
    {"conv1.weight", 0, 4, {C, 3, 3, 3}, 0, false},
    {"conv1.bias", 0, 1, {C}, 1, false},
    {"bn1.weight", 0, 1, {C}, 2, false},
    {"bn1.bias", 0, 1, {C}, 1, false},
    {"conv2.weight", 0, 4, {C, C, 3, 3}, 0, false},
    {"bn2.weight", 0, 1, {C}, 2, false},
    {"bn2.bias", 0, 1, {C}, 1, false},
    {"cls.weight", 1, 4, {K, C, 1, 1}, 0, false},
    {"cls.bias", 1, 1, {K}, 1, false},
    {"bn1.running_mean", 0, 1, {C}, 3, true},
    {"bn1.running_var", 0, 1, {C}, 4, true},
    {"bn2.running_mean", 0, 1, {C}, 3, true},
    {"bn2.running_var", 0, 1, {C}, 4, true},
};
#define N_SPECS (int)(sizeof specs / sizeof specs[0])

static void build_net(sg_param_set *s)
{
    sg_param_set_init(s);
    for (int i = 0; i < N_SPECS; i++) {
        const entry_spec *e = &specs[i];
        sg_tensor *t = e->buffer ? sg_buffer_add(s, e->name, e->ndim, e->shape)
                                 : sg_param_add(s, e->name, e->group, e->ndim, e->shape);
        size_t n = sg_numel(t);
        sg_rng r;
        sg_rng_init(&r, SEED, sg_rng_stream(SG_RNG_INIT, (uint64_t)i, 0));
        if (e->init == 0) sg_rng_fill_normal(&r, t->data, n, 0.0f, sqrtf(2.0f * (float)e->shape[0] / (float)n));
        if (e->init == 1) sg_rng_fill_normal(&r, t->data, n, 0.0f, 0.1f);
        if (e->init == 2) sg_rng_fill_normal(&r, t->data, n, 1.0f, 0.1f);
        if (e->init == 4)
            for (size_t j = 0; j < n; j++) t->data[j] = 1.0f;
    }
}

/* A fixed batch: normal images, labels in [0, K) with ~10% ignored. */
static void make_batch(sg_tensor **x, sg_tensor **y)
{
    sg_rng r;
    *x = sg_tensor_alloc(SG_F32, 4, (const int[]){N, 3, HW, HW}, false);
    *y = sg_tensor_alloc(SG_I32, 3, (const int[]){N, HW, HW}, false);
    sg_rng_init(&r, SEED, sg_rng_stream(SG_RNG_TEST, 0, 0));
    sg_rng_fill_normal(&r, (*x)->data, sg_numel(*x), 0.0f, 1.0f);
    for (size_t i = 0; i < sg_numel(*y); i++) {
        uint32_t v = sg_rng_below(&r, 10 * K);
        (*y)->i32[i] = v < (uint32_t)K * 9 ? (int32_t)(v % K) : 255;
    }
}

/* Fresh parameters, STEPS steps of SGD (poly lr, two groups); losses out. */
static void train(sg_param_set *s, float *losses, sg_tensor *x, const sg_tensor *y)
{
    build_net(s);
    sg_sgd opt;
    sg_sgd_init(&opt, s, 2, 0.9f, 1e-4f);
    opt.groups[1].lr_mult = 10.0f;
    sg_ctx ctx;
    sg_ctx_init_on(&ctx, g_be);
    for (int it = 0; it < STEPS; it++) {
        sg_param_zero_grad(s);
        sg_tensor *loss = tiny_net_loss(&ctx, s, x, y);
        losses[it] = loss->data[0];
        sg_backward(&ctx, loss);
        sg_sgd_step(&opt, s, sg_poly_lr(0.05f, it, STEPS, 0.9f));
        sg_ctx_reset(&ctx);
    }
    sg_ctx_free(&ctx);
    sg_sgd_free(&opt);
}

/* Count of entries (parameters and buffers) that differ in any bit. */
static int differing_entries(const sg_param_set *a, const sg_param_set *b, bool report)
{
    int bad = 0;
    for (int i = 0; i < a->n_params; i++)
        if (memcmp(a->params[i].t->data, b->params[i].t->data, sg_numel(a->params[i].t) * sizeof(float))) {
            if (report) tap_diag("%s differs", a->params[i].name);
            bad++;
        }
    for (int i = 0; i < a->n_buffers; i++)
        if (memcmp(a->buffers[i].t->data, b->buffers[i].t->data, sg_numel(a->buffers[i].t) * sizeof(float))) {
            if (report) tap_diag("%s differs", a->buffers[i].name);
            bad++;
        }
    return bad;
}

static void compare_runs(const char *what, int threads_a, int threads_b, sg_tensor *x, const sg_tensor *y)
{
    sg_param_set a, b;
    float la[STEPS], lb[STEPS];
    sg_set_num_threads(threads_a);
    train(&a, la, x, y);
    sg_set_num_threads(threads_b);
    train(&b, lb, x, y);
    tap_ok(memcmp(la, lb, sizeof la) == 0, "%s: losses bitwise equal (%.7f ... %.7f)", what, (double)la[0],
           (double)la[STEPS - 1]);
    tap_ok(differing_entries(&a, &b, true) == 0, "%s: weights and BN statistics bitwise equal", what);
    sg_param_set_free(&a);
    sg_param_set_free(&b);
}

/* Trains in a child forked after the parent trained on two threads; the
 * child must finish within a minute (it takes well under a second) and get
 * the parent's losses, which the reference path makes independent of the
 * thread count. */
static void test_fork_child_trains(sg_tensor *x, const sg_tensor *y)
{
    const sg_backend *saved = g_be;
    g_be = sg_backend_cpu_reference();
    int prev = sg_get_num_threads();
    sg_set_num_threads(2);
    sg_param_set s;
    float l[STEPS];
    train(&s, l, x, y);
    sg_param_set_free(&s);
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        float lc[STEPS];
        train(&s, lc, x, y);
        _exit(memcmp(l, lc, sizeof l) == 0 ? 0 : 1);
    }
    int status = 0;
    bool done = false;
    for (int i = 0; pid > 0 && i < 600 && !done; i++) {
        done = waitpid(pid, &status, WNOHANG) == pid;
        if (!done) nanosleep(&(struct timespec){0, 100000000L}, NULL);
    }
    if (pid > 0 && !done) {
        kill(pid, SIGKILL);
        waitpid(pid, &status, 0);
        tap_diag("the forked child did not finish within 60 s");
    }
    tap_ok(pid > 0 && done && WIFEXITED(status) && WEXITSTATUS(status) == 0,
           "a child forked after two-thread training trains to the end with the same losses");
    sg_set_num_threads(prev);
    g_be = saved;
}

int main(void)
{
    g_be = sg_backend_cpu_default();
    sg_tensor *x, *y;
    make_batch(&x, &y);

    /* The runs must train, or equality would say nothing. */
    sg_param_set s;
    float l[STEPS];
    train(&s, l, x, y);
    sg_param_set init;
    build_net(&init);
    tap_ok(isfinite(l[0]) && l[STEPS - 1] < l[0] && differing_entries(&s, &init, false) == N_SPECS,
           "training lowers the loss (%.5f -> %.5f) and moves every entry", (double)l[0],
           (double)l[STEPS - 1]);
    sg_param_set_free(&s);
    sg_param_set_free(&init);

    int t = sg_get_num_threads();
    /* Reference path: the same run twice, and across thread counts. */
    g_be = sg_backend_cpu_reference();
    compare_runs("reference path, same thread count twice", t, t, x, y);
    compare_runs("reference path, 1 vs 2 threads", 1, 2, x, y);
    /* oneDNN path: repeatable for a fixed thread count only. */
    if ((sg_backend_cpu_dnnl() != NULL)) {
        g_be = sg_backend_cpu_dnnl();
        compare_runs("oneDNN path, same thread count twice", t, t, x, y);
    } else {
        tap_diag("built without oneDNN: the fast path is not checked");
    }

    test_fork_child_trains(x, y);
    sg_tensor_free(x);
    sg_tensor_free(y);
    return tap_done();
}
