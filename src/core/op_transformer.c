/*
 * op_transformer.c: autograd wrappers of the transformer ops (ops.h):
 * sg_layernorm_channels (layer norm over dim 1), sg_attention (multi-head
 * scaled dot-product attention, token or channels-first layout), and the
 * stochastic ops sg_drop_path (per sample) and sg_dropout (per element).
 *
 * The two stochastic ops are the per-plane scaling of dropout2d with other
 * planes: drop-path scales sample n of x (N, ...) by 0 or 1/(1-p), dropout
 * each element, so both run the dropout2d_forward/backward kernels (planes =
 * N or numel, plane size = numel / N or 1) and need no entry of their own.
 * Their masks are drawn on the host from sg_rng stream (seed, stream), draw i
 * deciding plane i, as sg_dropout2d's: a function of (seed, stream) alone,
 * whatever the backend or thread count.
 *
 * References: timm's DropPath as SegFormer's MiT uses it (a sample is kept
 * iff floor(keep + U[0,1)) = 1, scaled by 1/keep), torch.nn.functional.dropout,
 * torch.nn.functional.layer_norm on x.permute(0, 2, 3, 1), and the MiT
 * attention (xmed-lab/AllSpark@9da63e2:model/backbone/mit.py, Attention).
 * Covered by tests/test_ops_transformer.c and tests/test_backend_ops.c.
 */
#include "semiseg/ops.h"

/* ---- layer norm over channels --------------------------------------------------------- */
typedef struct {
    sg_node node;
    sg_tensor *x, *weight, *bias;
    float *mean, *rstd;     /* per (n, position) */
} sg_lnc_node;

static size_t sg_inner_(const sg_tensor *x)
{
    size_t inner = 1;
    for (int i = 2; i < x->ndim; i++) inner *= (size_t)x->shape[i];
    return inner;
}

static void sg_lnc_backward_(sg_ctx *ctx, sg_node *node)
{
    sg_lnc_node *n = (sg_lnc_node *)node;
    const sg_tensor *x = n->x;
    SG_BACKEND_NEED(ctx->be, layernorm_channels_backward)(
        sg_grad_buffer(ctx, n->x), sg_grad_buffer(ctx, n->weight), sg_grad_buffer(ctx, n->bias),
        node->out->grad, x->data, n->weight ? n->weight->data : NULL, n->mean, n->rstd,
        x->shape[0], x->shape[1], sg_inner_(x));
}

sg_tensor *sg_layernorm_channels(sg_ctx *ctx, sg_tensor *x, sg_tensor *weight, sg_tensor *bias,
                                 float eps)
{
    const char *op = "sg_layernorm_channels";
    char a[SG_SHAPE_STR_LEN], b[SG_SHAPE_STR_LEN];
    SG_CHECK(x->dtype == SG_F32 && x->ndim >= 2 && x->shape[1] > 0,
             "%s: expects a float (N, C, ...) x with C > 0, got %s", op,
             sg_shape_str(x, a, sizeof a));
    const int C = x->shape[1];
    sg_tensor *vec[2] = {weight, bias};
    for (int i = 0; i < 2; i++)
        SG_CHECK(!vec[i] || (vec[i]->dtype == SG_F32 && vec[i]->ndim == 1 && vec[i]->shape[0] == C),
                 "%s: %s %s does not match x %s (expects a float [%d])", op,
                 i ? "bias" : "weight", sg_shape_str(vec[i], a, sizeof a),
                 sg_shape_str(x, b, sizeof b), C);
    sg_check_device(ctx, op, x);
    const size_t inner = sg_inner_(x), pos = (size_t)x->shape[0] * inner;
    sg_tensor *out = sg_tensor_like(ctx, x);
    float *mean = sg_arena_alloc(&ctx->arena, pos * sizeof(float));
    float *rstd = sg_arena_alloc(&ctx->arena, pos * sizeof(float));
    SG_BACKEND_NEED(ctx->be, layernorm_channels_forward)(out->data, mean, rstd, x->data,
                                                         weight ? weight->data : NULL,
                                                         bias ? bias->data : NULL, eps,
                                                         x->shape[0], C, inner);
    if (sg_should_record(ctx, 3, (const sg_tensor *const[]){x, weight, bias})) {
        sg_lnc_node *n = sg_tape_record(ctx, sizeof *n, op, sg_lnc_backward_, out);
        n->x = x;
        n->weight = weight;
        n->bias = bias;
        n->mean = mean;
        n->rstd = rstd;
    }
    return out;
}

/* ---- attention ------------------------------------------------------------------------ */
typedef struct {
    sg_node node;
    sg_tensor *q, *k, *v;
    float *prob;            /* (B, H, N, M) */
    int B, H, N, M, D;
    float scale;
    bool cf;
} sg_attention_node;

static void sg_attention_backward_(sg_ctx *ctx, sg_node *node)
{
    sg_attention_node *n = (sg_attention_node *)node;
    float *dq = sg_grad_buffer(ctx, n->q), *dk = sg_grad_buffer(ctx, n->k);
    float *dv = sg_grad_buffer(ctx, n->v);
    SG_BACKEND_NEED(ctx->be, attention_backward)(&ctx->arena, dq, dk, dv, node->out->grad,
                                                 n->q->data, n->k->data, n->v->data, n->prob,
                                                 n->B, n->H, n->N, n->M, n->D, n->scale, n->cf);
    /* dP = dO V^T always; dV, dQ, dK one product each when wanted. */
    const double mnk = 2.0 * n->B * n->H * n->N * n->M * n->D;
    ctx->flops += mnk * ((dq || dk) + (dq != NULL) + (dk != NULL) + (dv != NULL));
}

sg_tensor *sg_attention(sg_ctx *ctx, sg_tensor *q, sg_tensor *k, sg_tensor *v, int heads,
                        float scale)
{
    const char *op = "sg_attention";
    char a[SG_SHAPE_STR_LEN], b[SG_SHAPE_STR_LEN], c[SG_SHAPE_STR_LEN];
    SG_CHECK(q->dtype == SG_F32 && k->dtype == SG_F32 && v->dtype == SG_F32,
             "%s: expects float q, k, v", op);
    SG_CHECK((q->ndim == 3 || q->ndim == 4) && k->ndim == q->ndim && sg_same_shape(k, v),
             "%s: expects q (B, N, C), k = v (B, M, C) or q (B, C, H, W), k = v (B, C, h, w); "
             "got q %s, k %s, v %s", op, sg_shape_str(q, a, sizeof a), sg_shape_str(k, b, sizeof b),
             sg_shape_str(v, c, sizeof c));
    const bool cf = q->ndim == 4;
    const int B = q->shape[0], C = cf ? q->shape[1] : q->shape[2];
    const int N = cf ? q->shape[2] * q->shape[3] : q->shape[1];
    const int M = cf ? k->shape[2] * k->shape[3] : k->shape[1];
    SG_CHECK(k->shape[0] == B && (cf ? k->shape[1] : k->shape[2]) == C,
             "%s: k %s does not match q %s in batch or channels", op, sg_shape_str(k, b, sizeof b),
             sg_shape_str(q, a, sizeof a));
    SG_CHECK(heads >= 1 && C % heads == 0, "%s: %d channels do not split into %d heads", op, C,
             heads);
    SG_CHECK(N > 0 && M > 0, "%s: empty queries or keys (q %s, k %s)", op,
             sg_shape_str(q, a, sizeof a), sg_shape_str(k, b, sizeof b));
    sg_check_device(ctx, op, q);
    sg_check_device(ctx, op, k);
    sg_check_device(ctx, op, v);
    const int D = C / heads;
    sg_tensor *out = sg_tensor_like(ctx, q);
    float *prob = sg_arena_alloc(&ctx->arena, (size_t)B * heads * N * M * sizeof(float));
    SG_BACKEND_NEED(ctx->be, attention_forward)(&ctx->arena, out->data, prob, q->data, k->data,
                                                v->data, B, heads, N, M, D, scale, cf);
    ctx->flops += 2.0 * 2.0 * B * heads * N * M * D;
    if (sg_should_record(ctx, 3, (const sg_tensor *const[]){q, k, v})) {
        sg_attention_node *n = sg_tape_record(ctx, sizeof *n, op, sg_attention_backward_, out);
        n->q = q;
        n->k = k;
        n->v = v;
        n->prob = prob;
        n->B = B;
        n->H = heads;
        n->N = N;
        n->M = M;
        n->D = D;
        n->scale = scale;
        n->cf = cf;
    }
    return out;
}

/* ---- drop-path and dropout -------------------------------------------------------------- */
typedef struct {
    sg_node node;
    sg_tensor *x;
    float *scale;           /* per plane: 0 or 1/(1-p) */
    size_t planes, len;
} sg_plane_drop_node;

static void sg_plane_drop_backward_(sg_ctx *ctx, sg_node *node)
{
    sg_plane_drop_node *n = (sg_plane_drop_node *)node;
    float *dx = sg_grad_buffer(ctx, n->x);
    if (dx)
        SG_BACKEND_NEED(ctx->be, dropout2d_backward)(dx, node->out->grad, n->scale, n->planes,
                                                     n->len);
}

/* x scaled per plane of `len` elements: kept (1/(1-p)) iff draw i of the
 * stream is >= p, else zeroed. */
static sg_tensor *sg_plane_drop_(sg_ctx *ctx, const char *op, sg_tensor *x, size_t planes,
                                 float p, uint64_t seed, uint64_t stream)
{
    char a[SG_SHAPE_STR_LEN];
    SG_CHECK(x->dtype == SG_F32 && x->ndim >= 1 && sg_numel(x) > 0,
             "%s: expects a non-empty float x, got %s", op, sg_shape_str(x, a, sizeof a));
    SG_CHECK(p >= 0.0f && p < 1.0f, "%s: p = %g outside [0, 1)", op, (double)p);
    sg_check_device(ctx, op, x);
    const size_t len = sg_numel(x) / planes;
    float *scale = sg_arena_alloc(sg_ctx_host_arena(ctx), planes * sizeof(float));
    const float keep = 1.0f / (1.0f - p);
    sg_rng rng;
    sg_rng_init(&rng, seed, stream);
    for (size_t i = 0; i < planes; i++) scale[i] = sg_rng_uniform(&rng) >= p ? keep : 0.0f;
    scale = sg_ctx_upload(ctx, scale, planes * sizeof(float));
    sg_tensor *out = sg_tensor_like(ctx, x);
    SG_BACKEND_NEED(ctx->be, dropout2d_forward)(out->data, x->data, scale, planes, len);
    if (sg_should_record(ctx, 1, (const sg_tensor *const[]){x})) {
        sg_plane_drop_node *n = sg_tape_record(ctx, sizeof *n, op, sg_plane_drop_backward_, out);
        n->x = x;
        n->scale = scale;
        n->planes = planes;
        n->len = len;
    }
    return out;
}

sg_tensor *sg_drop_path(sg_ctx *ctx, sg_tensor *x, float p, uint64_t seed, uint64_t stream)
{
    return sg_plane_drop_(ctx, "sg_drop_path", x, x->ndim >= 1 ? (size_t)x->shape[0] : 1, p, seed,
                          stream);
}

sg_tensor *sg_dropout(sg_ctx *ctx, sg_tensor *x, float p, uint64_t seed, uint64_t stream)
{
    return sg_plane_drop_(ctx, "sg_dropout", x, sg_numel(x) > 0 ? sg_numel(x) : 1, p, seed,
                          stream);
}
