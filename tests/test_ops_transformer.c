/*
 * test_ops_transformer.c: the transformer ops (sg_layernorm_channels,
 * sg_attention, sg_drop_path, sg_dropout) against PyTorch fixtures
 * (tests/ref/gen_transformer.py -> tests/data/transformer.bin): outputs and
 * every input gradient; the masks of drop-path and dropout against the
 * Python Philox; finite-difference gradient checks; the channel layer norm
 * against the last-dimension one on the permuted tensor (bit for bit);
 * thread-count independence; misuse aborts.
 *
 * Sensitivity: the layer-norm fixture has a position whose channels spread
 * by ~2e-2 (variance ~4e-4), where eps = 1e-6 moves the output by ~1e-3
 * relative, a hundred times the tolerance; the attention fixtures have
 * logits of O(1..5), so a missing scale, a softmax over the wrong axis or a
 * head mixed up moves outputs by O(0.1).
 */
#include "expect_abort.h"
#include "fixture.h"
#include "gradcheck.h"
#include "tap.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define GEN "tests/ref/gen_transformer.py"

/* Must match DROP_SEED, DP_STREAM and DO_STREAM in the generator. */
#define DROP_SEED 0x0123456789ABCDEFull

/* Layer norm: statistics in double here, float in ATen; outputs are O(1..3)
 * and dx up to ~50 on the small-spread position (rstd ~50, where dx cancels
 * terms of that size): 1e-5 absolute + 1e-5 relative, and 1e-4 absolute on
 * dx (2e-6 of that position's values). dweight/dbias are sums of 30..70
 * terms: 1e-5 + 1e-5 relative. */
#define LN_ATOL 1e-5
#define LN_RTOL 1e-5
#define LN_DX_ATOL 1e-4
/* Attention: float products of D <= 8 and M <= 24 terms in OpenBLAS's order
 * and ATen's, the softmax in double here and float there, and the scale
 * applied as the gemm's alpha here, after the product in PyTorch (one
 * rounding): values O(1), observed ~1e-6: 1e-5 absolute + 1e-5 relative. */
#define ATT_ATOL 1e-5
#define ATT_RTOL 1e-5
/* Drop-path and dropout multiply by the same float 1/(1-p) as PyTorch's
 * divided mask (timm's random_tensor.div_(keep), F.dropout's noise / (1 - p));
 * one rounding apart at most when torch rounds 1/(1-p) from double: 1 ulp. */
#define DROP_ATOL 1e-6
#define DROP_RTOL 1e-6

/* Finite differences with eps = 1e-2 on smooth functions of O(1) inputs:
 * truncation ~eps^2 |f'''| and float rounding of the probed loss ~1e-5 are
 * far inside 1e-3 absolute plus 1e-2 relative. */
static const sg_gc_opts GC = {.eps = 1e-2, .atol = 1e-3, .rtol = 1e-2};

/* ---- layer norm over channels ----------------------------------------------------------- */
static void lnc_parity(const sg_fixture *fx, const char *name)
{
    char p[64];
    snprintf(p, sizeof p, "lnc.%s.", name);
    sg_ctx ctx;
    sg_ctx_init(&ctx);
    sg_tensor *x = sg_fixture_tensor_opt_at(fx, p, "x", true);
    sg_tensor *w = sg_fixture_tensor_opt_at(fx, p, "weight", true);
    sg_tensor *b = sg_fixture_tensor_opt_at(fx, p, "bias", true);
    sg_tensor *dout = sg_fixture_tensor_opt_at(fx, p, "dout", false);
    sg_tensor *out = sg_layernorm_channels(&ctx, x, w, b, (float)sg_fixture_scalar_at(fx, p, "eps"));
    tap_ok(sg_check_close_at(fx, p, "out", out->data, sg_numel(out), LN_ATOL, LN_RTOL),
           "layernorm_channels %s (%d-D) forward matches PyTorch", name, x->ndim);
    sg_backward_with(&ctx, out, dout->data);
    tap_ok(sg_check_close_at(fx, p, "dx", x->grad, sg_numel(x), LN_DX_ATOL, LN_RTOL),
           "layernorm_channels %s dx matches PyTorch", name);
    if (w)
        tap_ok(sg_check_close_at(fx, p, "dweight", w->grad, (size_t)x->shape[1], LN_ATOL, LN_RTOL) &&
                   sg_check_close_at(fx, p, "dbias", b->grad, (size_t)x->shape[1], LN_ATOL, LN_RTOL),
               "layernorm_channels %s dweight/dbias match PyTorch", name);
    sg_tensor *all[] = {x, w, b, dout};
    for (int i = 0; i < 4; i++)
        if (all[i]) sg_tensor_free(all[i]);
    sg_ctx_free(&ctx);
}

/* The channel layer norm is the last-dimension one on x.permute(0, 2, 3, 1):
 * the same per-element arithmetic in the same order, so the same bits. */
static void lnc_vs_layernorm(void)
{
    enum { N = 2, C = 7, H = 3, W = 5 };
    int xs[4] = {N, C, H, W}, ls[4] = {N, H, W, C}, cs[1] = {C};
    sg_tensor *x = sg_tensor_alloc(SG_F32, 4, xs, true);
    sg_tensor *xl = sg_tensor_alloc(SG_F32, 4, ls, true);
    sg_tensor *w = sg_tensor_alloc(SG_F32, 1, cs, true);
    sg_tensor *b = sg_tensor_alloc(SG_F32, 1, cs, true);
    sg_tensor *w2 = sg_tensor_alloc(SG_F32, 1, cs, true);
    sg_tensor *b2 = sg_tensor_alloc(SG_F32, 1, cs, true);
    sg_test_fill_uniform(x, 30, -2.0f, 3.0f);
    sg_test_fill_uniform(w, 31, 0.5f, 1.5f);
    sg_test_fill_uniform(b, 32, -1.0f, 1.0f);
    memcpy(w2->data, w->data, sizeof(float) * C);
    memcpy(b2->data, b->data, sizeof(float) * C);
    for (int n = 0; n < N; n++)
        for (int c = 0; c < C; c++)
            for (int i = 0; i < H * W; i++)
                xl->data[(n * H * W + i) * C + c] = x->data[(n * C + c) * H * W + i];
    sg_ctx ctx, ctx2;
    sg_ctx_init(&ctx);
    sg_ctx_init(&ctx2);
    sg_tensor *o1 = sg_layernorm_channels(&ctx, x, w, b, 1e-6f);
    sg_tensor *o2 = sg_layernorm(&ctx2, xl, w2, b2, 1e-6f);
    sg_tensor *g1 = sg_tensor_like(&ctx, o1), *g2 = sg_tensor_like(&ctx2, o2);
    sg_test_fill_uniform(g1, 33, -1.0f, 1.0f);
    for (int n = 0; n < N; n++)
        for (int c = 0; c < C; c++)
            for (int i = 0; i < H * W; i++)
                g2->data[(n * H * W + i) * C + c] = g1->data[(n * C + c) * H * W + i];
    sg_backward_with(&ctx, o1, g1->data);
    sg_backward_with(&ctx2, o2, g2->data);
    int same = memcmp(w->grad, w2->grad, sizeof(float) * C) == 0 &&
               memcmp(b->grad, b2->grad, sizeof(float) * C) == 0;
    for (int n = 0; n < N; n++)
        for (int c = 0; c < C; c++)
            for (int i = 0; i < H * W; i++) {
                size_t e1 = (size_t)(n * C + c) * H * W + i, e2 = (size_t)(n * H * W + i) * C + c;
                same &= o1->data[e1] == o2->data[e2] && x->grad[e1] == xl->grad[e2];
            }
    tap_ok(same, "layernorm_channels equals sg_layernorm of the channels-last copy bit for bit "
                 "(out, dx, dweight, dbias)");
    sg_tensor *all[] = {x, xl, w, b, w2, b2};
    for (int i = 0; i < 6; i++) sg_tensor_free(all[i]);
    sg_ctx_free(&ctx);
    sg_ctx_free(&ctx2);
}

/* ---- attention ---------------------------------------------------------------------------- */
static void attn_parity(const sg_fixture *fx, const char *name)
{
    char p[64];
    snprintf(p, sizeof p, "attn.%s.", name);
    sg_ctx ctx;
    sg_ctx_init(&ctx);
    sg_tensor *q = sg_fixture_tensor_opt_at(fx, p, "q", true), *k = sg_fixture_tensor_opt_at(fx, p, "k", true);
    sg_tensor *v = sg_fixture_tensor_opt_at(fx, p, "v", true), *dout = sg_fixture_tensor_opt_at(fx, p, "dout", false);
    int heads = (int)sg_fixture_scalar_at(fx, p, "heads");
    sg_tensor *out = sg_attention(&ctx, q, k, v, heads, (float)sg_fixture_scalar_at(fx, p, "scale"));
    tap_ok(sg_check_close_at(fx, p, "out", out->data, sg_numel(out), ATT_ATOL, ATT_RTOL),
           "attention %s (%d-D, %d heads) forward matches MiT's attention in PyTorch", name,
           q->ndim, heads);
    sg_backward_with(&ctx, out, dout->data);
    tap_ok(sg_check_close_at(fx, p, "dq", q->grad, sg_numel(q), ATT_ATOL, ATT_RTOL) &&
               sg_check_close_at(fx, p, "dk", k->grad, sg_numel(k), ATT_ATOL, ATT_RTOL) &&
               sg_check_close_at(fx, p, "dv", v->grad, sg_numel(v), ATT_ATOL, ATT_RTOL),
           "attention %s dq, dk, dv match PyTorch", name);
    sg_tensor *all[] = {q, k, v, dout};
    for (int i = 0; i < 4; i++) sg_tensor_free(all[i]);
    sg_ctx_free(&ctx);
}

/* ---- drop-path and dropout -------------------------------------------------------------- */
typedef sg_tensor *(*drop_fn)(sg_ctx *, sg_tensor *, float, uint64_t, uint64_t);

static void drop_parity(const sg_fixture *fx, const char *name, drop_fn fn, uint64_t stream)
{
    char p[64];
    snprintf(p, sizeof p, "%s.", name);
    sg_ctx ctx;
    sg_ctx_init(&ctx);
    sg_tensor *x = sg_fixture_tensor_opt_at(fx, p, "x", true), *dout = sg_fixture_tensor_opt_at(fx, p, "dout", false);
    float prob = (float)sg_fixture_scalar_at(fx, p, "p");
    sg_tensor *out = fn(&ctx, x, prob, DROP_SEED, stream);
    size_t n_mask, n = sg_numel(x);
    char key[96];
    snprintf(key, sizeof key, "%smask", p);
    const double *want = sg_fixture_doubles(fx, key, &n_mask);
    /* The mask read back from the output: randn inputs are never exactly 0. */
    const size_t len = n / n_mask;
    int mask_ok = n % n_mask == 0;
    for (size_t i = 0; mask_ok && i < n_mask; i++)
        for (size_t j = 0; j < len; j++) mask_ok &= (out->data[i * len + j] != 0.0f) == (want[i] != 0.0);
    tap_ok(mask_ok, "%s mask (%zu draws) equals the Python Philox4x32-10 mask", name, n_mask);
    tap_ok(sg_check_close_at(fx, p, "out", out->data, n, DROP_ATOL, DROP_RTOL),
           "%s forward matches PyTorch", name);
    sg_backward_with(&ctx, out, dout->data);
    tap_ok(sg_check_close_at(fx, p, "dx", x->grad, n, DROP_ATOL, DROP_RTOL), "%s backward matches PyTorch",
           name);
    sg_tensor_free(x);
    sg_tensor_free(dout);
    sg_ctx_free(&ctx);
}

/* p = 0 keeps everything (the identity), the mask repeats for the same
 * (seed, stream) and changes with either. */
static void drop_streams(const char *name, drop_fn fn)
{
    sg_ctx ctx;
    sg_ctx_init(&ctx);
    int s[4] = {64, 2, 3, 2};
    sg_tensor *x = sg_tensor_alloc(SG_F32, 4, s, false);
    sg_test_fill_uniform(x, 40, 0.5f, 1.5f);
    size_t bytes = sg_numel(x) * sizeof(float);
    sg_tensor *o0 = fn(&ctx, x, 0.0f, 5, 1);
    sg_tensor *a = fn(&ctx, x, 0.5f, 5, 1), *b = fn(&ctx, x, 0.5f, 5, 1);
    sg_tensor *c = fn(&ctx, x, 0.5f, 5, 2), *d = fn(&ctx, x, 0.5f, 6, 1);
    size_t kept = 0;
    for (size_t i = 0; i < sg_numel(x); i++) kept += a->data[i] != 0.0f;
    tap_ok(memcmp(o0->data, x->data, bytes) == 0 && memcmp(a->data, b->data, bytes) == 0 &&
               memcmp(a->data, c->data, bytes) != 0 && memcmp(a->data, d->data, bytes) != 0 &&
               kept > 0 && kept < sg_numel(x),
           "%s: p = 0 is the identity; the mask is a function of (seed, stream)", name);
    sg_tensor_free(x);
    sg_ctx_free(&ctx);
}

/* ---- gradient checks ------------------------------------------------------------------------ */
static sg_tensor *gc_lnc(sg_ctx *ctx, sg_tensor **in, void *arg)
{
    (void)arg;
    return sg_layernorm_channels(ctx, in[0], in[1], in[2], 1e-5f);
}

static sg_tensor *gc_attn(sg_ctx *ctx, sg_tensor **in, void *arg)
{
    return sg_attention(ctx, in[0], in[1], in[2], *(int *)arg, 0.5f);
}

static sg_tensor *gc_drop_path(sg_ctx *ctx, sg_tensor **in, void *arg)
{
    (void)arg;
    return sg_drop_path(ctx, in[0], 0.4f, 3, 4);
}

static sg_tensor *gc_dropout(sg_ctx *ctx, sg_tensor **in, void *arg)
{
    (void)arg;
    return sg_dropout(ctx, in[0], 0.4f, 3, 4);
}

static sg_tensor *alloc_(int ndim, const int *shape, uint64_t stream, float lo, float hi)
{
    sg_tensor *t = sg_tensor_alloc(SG_F32, ndim, shape, true);
    sg_test_fill_uniform(t, stream, lo, hi);
    return t;
}

static void test_grads(void)
{
    int xs[4] = {2, 4, 3, 5}, cs[1] = {4};
    sg_tensor *lin[3] = {alloc_(4, xs, 50, -2, 2), alloc_(1, cs, 51, 0.5f, 1.5f),
                         alloc_(1, cs, 52, -1, 1)};
    sg_gradcheck("layernorm_channels (x, weight, bias)", gc_lnc, lin, 3, NULL, GC);

    int heads = 2, qs[3] = {2, 5, 6}, ks[3] = {2, 4, 6};
    sg_tensor *tin[3] = {alloc_(3, qs, 53, -1.5f, 1.5f), alloc_(3, ks, 54, -1.5f, 1.5f),
                         alloc_(3, ks, 55, -1, 1)};
    sg_gradcheck("attention tokens, 2 heads (q, k, v)", gc_attn, tin, 3, &heads, GC);
    int cq[4] = {1, 6, 2, 3}, ck[4] = {1, 6, 1, 2};
    int h3 = 3;
    sg_tensor *cin[3] = {alloc_(4, cq, 56, -1.5f, 1.5f), alloc_(4, ck, 57, -1.5f, 1.5f),
                         alloc_(4, ck, 58, -1, 1)};
    sg_gradcheck("attention channels-first, 3 heads (q, k, v)", gc_attn, cin, 3, &h3, GC);

    int ds[3] = {6, 2, 3};
    sg_tensor *din[1] = {alloc_(3, ds, 59, -1, 1)};
    sg_gradcheck("drop_path (x)", gc_drop_path, din, 1, NULL, GC);
    sg_gradcheck("dropout (x)", gc_dropout, din, 1, NULL, GC);
    sg_tensor *all[] = {lin[0], lin[1], lin[2], tin[0], tin[1], tin[2], cin[0], cin[1], cin[2],
                        din[0]};
    for (int i = 0; i < 10; i++) sg_tensor_free(all[i]);
}

/* ---- threads ------------------------------------------------------------------------------- */
/* Attention large enough that the gemms split into blocks (N, M >= 256),
 * and a channel layer norm, forward and backward: out, dq, dk, dv, dx, dw. */
static size_t run_threads_(int threads, float *out)
{
    sg_set_num_threads(threads);
    int qs[4] = {1, 8, 16, 20}, ks[4] = {1, 8, 16, 18}, cs[1] = {8};
    sg_tensor *q = alloc_(4, qs, 60, -1, 1), *k = alloc_(4, ks, 61, -1, 1);
    sg_tensor *v = alloc_(4, ks, 62, -1, 1), *w = alloc_(1, cs, 63, 0.5f, 1.5f);
    sg_ctx ctx;
    sg_ctx_init(&ctx);
    sg_tensor *a = sg_attention(&ctx, q, k, v, 2, 0.5f);
    sg_tensor *y = sg_layernorm_channels(&ctx, a, w, NULL, 1e-6f);
    sg_tensor *r = sg_tensor_like(&ctx, y);
    sg_test_fill_uniform(r, 64, -1.0f, 1.0f);
    sg_backward_with(&ctx, y, r->data);
    size_t o = 0;
    const sg_tensor *parts[] = {y, q, k, v, w};
    for (int i = 0; i < 5; i++) {
        const float *src = i == 0 ? parts[i]->data : parts[i]->grad;
        if (out) memcpy(out + o, src, sg_numel(parts[i]) * sizeof(float));
        o += sg_numel(parts[i]);
    }
    sg_tensor *all[] = {q, k, v, w};
    for (int i = 0; i < 4; i++) sg_tensor_free(all[i]);
    sg_ctx_free(&ctx);
    return o;
}

static void test_threads(void)
{
    int prev = sg_get_num_threads();
    size_t n = run_threads_(1, NULL);
    float *one = malloc(n * sizeof(float)), *many = malloc(n * sizeof(float));
    run_threads_(1, one);
    run_threads_(4, many);
    sg_set_num_threads(prev);
    tap_ok(memcmp(one, many, n * sizeof(float)) == 0,
           "attention (320 queries x 288 keys) + layernorm_channels, forward and backward: 1 and "
           "4 threads agree bit for bit");
    free(one);
    free(many);
}

/* ---- misuse ------------------------------------------------------------------------------------ */
static void bad_heads_(void *arg)
{
    (void)arg;
    sg_ctx ctx;
    sg_ctx_init(&ctx);
    int s[3] = {2, 5, 6};
    sg_tensor *t = sg_tensor_new(&ctx, SG_F32, 3, s);
    sg_attention(&ctx, t, t, t, 4, 1.0f);
}

static void bad_kv_(void *arg)
{
    (void)arg;
    sg_ctx ctx;
    sg_ctx_init(&ctx);
    int qs[4] = {2, 6, 3, 3}, ks[4] = {2, 4, 2, 2};
    sg_tensor *q = sg_tensor_new(&ctx, SG_F32, 4, qs), *k = sg_tensor_new(&ctx, SG_F32, 4, ks);
    sg_attention(&ctx, q, k, k, 2, 1.0f);
}

static void bad_lnc_weight_(void *arg)
{
    (void)arg;
    sg_ctx ctx;
    sg_ctx_init(&ctx);
    int xs[4] = {2, 3, 4, 4}, ws[1] = {4};
    sg_layernorm_channels(&ctx, sg_tensor_new(&ctx, SG_F32, 4, xs),
                          sg_tensor_new(&ctx, SG_F32, 1, ws), NULL, 1e-6f);
}

static void bad_p_(void *arg)
{
    (void)arg;
    sg_ctx ctx;
    sg_ctx_init(&ctx);
    int xs[2] = {2, 3};
    sg_drop_path(&ctx, sg_tensor_new(&ctx, SG_F32, 2, xs), 1.0f, 1, 1);
}

static void test_misuse(void)
{
    const char *e1[] = {"sg_attention", "6 channels", "4 heads"};
    tap_ok(sg_expect_abort(bad_heads_, NULL, e1, 3),
           "sg_attention with 6 channels in 4 heads aborts");
    const char *e2[] = {"sg_attention", "[2, 4, 2, 2]", "[2, 6, 3, 3]"};
    tap_ok(sg_expect_abort(bad_kv_, NULL, e2, 3),
           "sg_attention with k of other channels than q aborts naming both shapes");
    const char *e3[] = {"sg_layernorm_channels", "weight", "[4]", "[2, 3, 4, 4]"};
    tap_ok(sg_expect_abort(bad_lnc_weight_, NULL, e3, 4),
           "sg_layernorm_channels with a [4] weight for 3 channels aborts naming both shapes");
    const char *e4[] = {"sg_drop_path", "p = 1"};
    tap_ok(sg_expect_abort(bad_p_, NULL, e4, 2), "sg_drop_path with p = 1 aborts");
}

int main(void)
{
    sg_fixture *fx = sg_fixture_open("transformer.bin", GEN);
    lnc_parity(fx, "nchw");
    lnc_parity(fx, "ncl_plain");
    lnc_vs_layernorm();
    attn_parity(fx, "tokens");
    attn_parity(fx, "nchw");
    attn_parity(fx, "single_head");
    drop_parity(fx, "drop_path", sg_drop_path, sg_rng_stream(SG_RNG_DROPOUT, 5, 9));
    drop_parity(fx, "dropout", sg_dropout, sg_rng_stream(SG_RNG_DROPOUT, 5, 10));
    drop_streams("drop_path", sg_drop_path);
    drop_streams("dropout", sg_dropout);
    test_grads();
    test_threads();
    test_misuse();
    sg_fixture_close(fx);
    return tap_done();
}
