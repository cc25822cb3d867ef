/*
 * test_allspark_module.c: the AllSpark module (allspark.h) against PyTorch
 * (tests/ref/gen_allspark_module.py -> tests/data/allspark_module.bin): a
 * training step with keys and values from the unlabeled half (the enqueue
 * wrapping around a class ring), a training step after warm-up with keys
 * and values from the memory, and the eval path, then with pool_size 2 on
 * 4 + 4 images (training and eval; the reference runs each pair alone, as
 * the released code on one GPU each): outputs, the input's and
 * every parameter's gradient, the memory and its pointers after the step;
 * the four dropouts with semiseg's Philox masks. Also: the build's names and
 * init, and misuse aborts.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "expect_abort.h"
#include "fixture.h"
#include "semiseg/allspark.h"
#include "tap.h"

#define GEN "tests/ref/gen_allspark_module.py"

/* The reference is float64 on float32 inputs; what remains is float32
 * rounding through ~30 ops, measured against each tensor's largest
 * magnitude (as tests/test_model.c). Observed worst cases: 3.0e-7 on the
 * outputs, 6.4e-7 on gradients (q_l2u's), 1.2e-7 on the memory (Z_u
 * computed in float32 here, rounded from float64 there: an ulp). The bounds
 * sit 8-30x above; a misplaced head (c H + h vs h C + c), a missing psi or
 * a wrong dropout mask moves values by O(0.1..1). */
#define OUT_TOL 1e-5
#define GRAD_TOL 1e-5
#define MEM_TOL 1e-6

static int close_scaled_(const sg_fixture *fx, const char *key, const float *got, size_t n,
                         double tol)
{
    size_t m;
    const double *ref = sg_fixture_doubles(fx, key, &m);
    double scale = 0.0;
    for (size_t i = 0; i < m; i++) scale = fmax(scale, fabs(ref[i]));
    return sg_check_close(fx, key, got, n, tol * scale, 0.0);
}

static sg_allspark_config cfg_(const sg_fixture *fx, int *B, uint64_t *seed, uint64_t *a)
{
    size_t n;
    const double *c = sg_fixture_doubles(fx, "cfg", &n);
    *B = (int)c[0];
    *seed = (uint64_t)c[7];
    *a = (uint64_t)c[8];
    return (sg_allspark_config){.in_channels = (int)c[1], .channels = (int)c[2], .heads = (int)c[3],
                                .classes = (int)c[4], .tokens = (int)(c[5] * c[5]),
                                .dropout = (float)c[6]};
}

/* The fixture's parameters into the module's set, by name. */
static void load_params_(const sg_fixture *fx, sg_param_set *set)
{
    for (int i = 0; i < set->n_params; i++) {
        char key[SG_PARAM_NAME_LEN + 8];
        snprintf(key, sizeof key, "param.%s", set->params[i].name);
        sg_tensor *t = sg_fixture_tensor(fx, key, false);
        SG_CHECK(sg_numel(t) == sg_numel(set->params[i].t), "%s: size", key);
        memcpy(set->params[i].t->data, t->data, sg_numel(t) * sizeof(float));
        sg_tensor_free(t);
    }
}

static void copy_in_(const sg_fixture *fx, const char *key, sg_tensor *dst)
{
    sg_tensor *t = sg_fixture_tensor(fx, key, false);
    SG_CHECK(sg_numel(t) == sg_numel(dst), "%s: size", key);
    memcpy(dst->data, t->data, sg_numel(t) * sizeof(float));
    sg_tensor_free(t);
}

static void test_case(const sg_fixture *fx, const char *name, bool training, bool use_memory,
                      int pool_size)
{
    int B;
    uint64_t seed, a;
    sg_allspark_config cfg = cfg_(fx, &B, &seed, &a);
    cfg.pool_size = pool_size;
    sg_param_set set;
    sg_param_set_init(&set);
    sg_builder b = {.set = &set, .seed = 1, .group = 1};
    sg_allspark m;
    sg_allspark_build(&m, &cfg, &b, "");
    load_params_(fx, &set);
    char key[SG_PARAM_NAME_LEN + 64];
    snprintf(key, sizeof key, "%s.mem0", name);
    copy_in_(fx, key, m.kv_queue);
    snprintf(key, sizeof key, "%s.ptr0", name);
    copy_in_(fx, key, m.queue_ptr);

    snprintf(key, sizeof key, "%s.x", name);
    sg_tensor *x = sg_fixture_tensor(fx, key, true);
    snprintf(key, sizeof key, "%s.group_logits", name);
    sg_tensor *gl = sg_fixture_tensor(fx, key, false);
    snprintf(key, sizeof key, "%s.dout", name);
    sg_tensor *dout = sg_fixture_tensor(fx, key, false);
    const sg_allspark_noise noise = {.seed = seed,
                                     .attn_u = sg_rng_stream(SG_RNG_DROPOUT, a, 1),
                                     .proj_u = sg_rng_stream(SG_RNG_DROPOUT, a, 2),
                                     .attn_l2u = sg_rng_stream(SG_RNG_DROPOUT, a, 3),
                                     .proj_l2u = sg_rng_stream(SG_RNG_DROPOUT, a, 4)};
    sg_ctx ctx;
    sg_ctx_init(&ctx);
    sg_tensor *y = sg_allspark_forward(&ctx, &m, x, training, gl, use_memory, &noise);
    snprintf(key, sizeof key, "%s.out", name);
    tap_ok(close_scaled_(fx, key, y->data, sg_numel(y), OUT_TOL), "%s: output matches PyTorch",
           name);
    sg_backward_with(&ctx, y, dout->data);
    snprintf(key, sizeof key, "%s.dx", name);
    int ok = close_scaled_(fx, key, x->grad, sg_numel(x), GRAD_TOL), bad = 0;
    for (int i = 0; i < set.n_params; i++) {
        snprintf(key, sizeof key, "%s.grad.%s", name, set.params[i].name);
        bad += !close_scaled_(fx, key, set.params[i].t->grad, sg_numel(set.params[i].t), GRAD_TOL);
    }
    tap_ok(ok && bad == 0, "%s: the input's and all %d parameter gradients match PyTorch (%d off)",
           name, set.n_params, bad);
    snprintf(key, sizeof key, "%s.mem1", name);
    ok = close_scaled_(fx, key, m.kv_queue->data, sg_numel(m.kv_queue), MEM_TOL);
    snprintf(key, sizeof key, "%s.ptr1", name);
    ok &= sg_check_close(fx, key, m.queue_ptr->data, sg_numel(m.queue_ptr), 0.0, 0.0);
    tap_ok(ok, "%s: memory and pointers after the step match PyTorch's", name);
    sg_ctx_free(&ctx);
    sg_tensor_free(x);
    sg_tensor_free(gl);
    sg_tensor_free(dout);
    sg_param_set_free(&set);
}

static void test_build(void)
{
    sg_allspark_config cfg = {.in_channels = 64, .channels = 128, .heads = 2, .classes = 21,
                              .tokens = 64, .dropout = 0.1f};
    sg_param_set set;
    sg_param_set_init(&set);
    sg_builder b = {.set = &set, .seed = 9, .group = 1};
    sg_allspark m;
    sg_allspark_build(&m, &cfg, &b, "decoder.allspark.");
    static const char *names[] = {
        "decoder.allspark.map_in.0.weight", "decoder.allspark.map_in.0.bias",
        "decoder.allspark.attn_norm.weight", "decoder.allspark.attn_norm.bias",
        "decoder.allspark.attn.q_u.weight", "decoder.allspark.attn.k_u.weight",
        "decoder.allspark.attn.v_u.weight", "decoder.allspark.attn.q_l2u.weight",
        "decoder.allspark.attn.k_l2u.weight", "decoder.allspark.attn.v_l2u.weight",
        "decoder.allspark.attn.out_u.weight", "decoder.allspark.attn.out_l2u.weight",
        "decoder.allspark.encoder_norm.weight", "decoder.allspark.encoder_norm.bias",
        "decoder.allspark.map_out.0.weight", "decoder.allspark.map_out.0.bias"};
    int ok = set.n_params == 16 && set.n_buffers == 2;
    for (int i = 0; ok && i < 16; i++) ok &= strcmp(set.params[i].name, names[i]) == 0;
    ok &= strcmp(set.buffers[0].name, "decoder.allspark.attn.queue_ptr") == 0 &&
          strcmp(set.buffers[1].name, "decoder.allspark.attn.kv_queue") == 0;
    tap_ok(ok, "parameters and buffers carry the released names, in registration order");
    /* xavier_uniform bound sqrt(6 / (128 + 256)) = 0.125: uniform std 0.125 / sqrt 3. */
    double ss = 0, sm = 0, sq = 0;
    const sg_tensor *q = m.q_u, *mem = m.kv_queue;
    float mx = 0;
    for (size_t i = 0; i < sg_numel(q); i++) {
        ss += (double)q->data[i] * q->data[i];
        mx = fmaxf(mx, fabsf(q->data[i]));
    }
    for (size_t i = 0; i < sg_numel(mem); i++) sm += mem->data[i], sq += (double)mem->data[i] * mem->data[i];
    const double sd_q = sqrt(ss / sg_numel(q)), n = (double)sg_numel(mem);
    const double sd_m = sqrt(sq / n - (sm / n) * (sm / n));
    float ptr_sum = 0;
    for (int k = 0; k < 21; k++) ptr_sum += m.queue_ptr->data[k];
    tap_ok(fabs(sd_q - 0.125 / sqrt(3.0)) < 0.002 && mx <= 0.125f && fabs(sd_m - 1.0) < 0.01 &&
               fabs(sm / n) < 0.01 && ptr_sum == 0.0f && m.attn_norm_w->data[5] == 1.0f,
           "init: xavier_uniform Linear (std %.4f, max %.4f), memory N(0, 1) (std %.3f), "
           "pointers 0, norms 1", sd_q, (double)mx, sd_m);
    sg_param_set_free(&set);
}

static void bad_tokens_(void *arg)
{
    (void)arg;
    sg_allspark_config cfg = {.in_channels = 4, .channels = 8, .heads = 1, .classes = 3,
                              .tokens = 16, .dropout = 0.1f};
    sg_param_set set;
    sg_param_set_init(&set);
    sg_builder b = {.set = &set, .seed = 9};
    sg_allspark m;
    sg_allspark_build(&m, &cfg, &b, "");
    sg_ctx ctx;
    sg_ctx_init(&ctx);
    sg_tensor *x = sg_tensor_new(&ctx, SG_F32, 4, (const int[]){2, 4, 5, 5});
    sg_allspark_forward(&ctx, &m, x, true, NULL, false, NULL);
}

static void no_logits_(void *arg)
{
    (void)arg;
    sg_allspark_config cfg = {.in_channels = 4, .channels = 8, .heads = 1, .classes = 3,
                              .tokens = 16, .dropout = 0.1f};
    sg_param_set set;
    sg_param_set_init(&set);
    sg_builder b = {.set = &set, .seed = 9};
    sg_allspark m;
    sg_allspark_build(&m, &cfg, &b, "");
    sg_ctx ctx;
    sg_ctx_init(&ctx);
    sg_tensor *x = sg_tensor_new(&ctx, SG_F32, 4, (const int[]){2, 4, 4, 4});
    for (size_t i = 0; i < sg_numel(x); i++) x->data[i] = (float)(i % 7) * 0.1f;
    const sg_allspark_noise nz = {.seed = 1, .attn_u = 1, .proj_u = 2, .attn_l2u = 3, .proj_l2u = 4};
    sg_allspark_forward(&ctx, &m, x, true, NULL, false, &nz);
}

static void test_misuse(void)
{
    const char *e1[] = {"sg_allspark_forward", "16 tokens", "[2, 4, 5, 5]"};
    tap_ok(sg_expect_abort(bad_tokens_, NULL, e1, 3),
           "training a 16-token module on a 5x5 feature aborts naming the shape");
    const char *e2[] = {"sg_allspark_forward", "group_logits", "NULL"};
    tap_ok(sg_expect_abort(no_logits_, NULL, e2, 3), "training without grouping logits aborts");
}

int main(void)
{
    sg_fixture *fx = sg_fixture_open("allspark_module.bin", GEN);
    test_case(fx, "train_batch", true, false, 0);
    test_case(fx, "train_memory", true, true, 0);
    test_case(fx, "eval", false, false, 0);
    /* pool_size 2 on 4 + 4 images: each pair's keys from its own unlabeled
     * pair, as the released code on two GPUs (the reference runs the pairs
     * one by one). */
    test_case(fx, "train_groups", true, false, 2);
    test_case(fx, "eval_groups", false, false, 2);
    test_build();
    test_misuse();
    sg_fixture_close(fx);
    return tap_done();
}
