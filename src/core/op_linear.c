/*
 * op_linear.c: autograd wrappers of sg_linear and sg_matmul (ops.h).
 * sg_linear flattens x (..., in) to rows (R, in), so a 4-D input is one gemm.
 * sg_matmul handles 2-D and batched 3-D operands, each optionally taken as
 * its transpose. Match torch.nn.functional.linear and torch.matmul/bmm.
 * Both add their FLOPs to sg_ctx.flops (tensor.h).
 * Covered by tests/test_ops_linear.c.
 */
#include "semiseg/ops.h"

/* ---- linear ---------------------------------------------------------------------- */
typedef struct {
    sg_node node;
    sg_tensor *x, *w, *b;
    int R, I, O;
} sg_linear_node;

static void sg_linear_backward_(sg_ctx *ctx, sg_node *node)
{
    sg_linear_node *n = (sg_linear_node *)node;
    float *dx = sg_grad_buffer(ctx, n->x);
    float *dw = sg_grad_buffer(ctx, n->w);
    float *db = sg_grad_buffer(ctx, n->b);
    SG_BACKEND_NEED(ctx->be, linear_backward)(dx, dw, db, node->out->grad, n->x->data, n->w->data,
                                              n->R, n->I, n->O);
    ctx->flops += ((dx != NULL) + (dw != NULL)) * 2.0 * n->R * n->I * n->O;
}

sg_tensor *sg_linear(sg_ctx *ctx, sg_tensor *x, sg_tensor *w, sg_tensor *b)
{
    sg_check_device(ctx, "sg_linear", x);
    sg_check_device(ctx, "sg_linear", w);
    sg_check_device(ctx, "sg_linear", b);
    char sx[SG_SHAPE_STR_LEN], sw[SG_SHAPE_STR_LEN], sb[SG_SHAPE_STR_LEN];
    SG_CHECK(x->dtype == SG_F32 && w->dtype == SG_F32 && (!b || b->dtype == SG_F32),
             "sg_linear: expects float tensors");
    SG_CHECK(w->ndim == 2, "sg_linear: weight must be (out, in), got %s",
             sg_shape_str(w, sw, sizeof sw));
    int I = w->shape[1], O = w->shape[0];
    SG_CHECK(x->shape[x->ndim - 1] == I,
             "sg_linear: input %s has %d in-features but weight %s expects %d",
             sg_shape_str(x, sx, sizeof sx), x->shape[x->ndim - 1], sg_shape_str(w, sw, sizeof sw),
             I);
    SG_CHECK(!b || (b->ndim == 1 && b->shape[0] == O),
             "sg_linear: bias %s does not match weight %s", b ? sg_shape_str(b, sb, sizeof sb) : "",
             sg_shape_str(w, sw, sizeof sw));
    int R = (int)(sg_numel(x) / (size_t)I);
    int shape[SG_MAX_DIMS];
    for (int i = 0; i < x->ndim; i++) shape[i] = x->shape[i];
    shape[x->ndim - 1] = O;
    sg_tensor *out = sg_tensor_new(ctx, SG_F32, x->ndim, shape);
    SG_BACKEND_NEED(ctx->be, linear_forward)(out->data, x->data, w->data, b ? b->data : NULL, R, I,
                                             O);
    ctx->flops += 2.0 * R * I * O;
    if (sg_should_record(ctx, 3, (const sg_tensor *const[]){x, w, b})) {
        sg_linear_node *n = sg_tape_record(ctx, sizeof *n, "sg_linear", sg_linear_backward_, out);
        n->x = x;
        n->w = w;
        n->b = b;
        n->R = R;
        n->I = I;
        n->O = O;
    }
    return out;
}

/* ---- matmul ---------------------------------------------------------------------- */
typedef struct {
    sg_node node;
    sg_tensor *a, *b;
    int B, M, N, K;
    bool trans_a, trans_b;
} sg_matmul_node;

static void sg_matmul_backward_(sg_ctx *ctx, sg_node *node)
{
    sg_matmul_node *n = (sg_matmul_node *)node;
    float *da = sg_grad_buffer(ctx, n->a);
    float *db = sg_grad_buffer(ctx, n->b);
    if (da || db)
        SG_BACKEND_NEED(ctx->be, matmul_backward)(da, db, node->out->grad, n->a->data, n->b->data,
                                                  n->B, n->M, n->N, n->K, n->trans_a, n->trans_b);
    ctx->flops += ((da != NULL) + (db != NULL)) * 2.0 * n->B * n->M * n->N * n->K;
}

sg_tensor *sg_matmul(sg_ctx *ctx, sg_tensor *a, sg_tensor *b, bool trans_a, bool trans_b)
{
    sg_check_device(ctx, "sg_matmul", a);
    sg_check_device(ctx, "sg_matmul", b);
    char sa[SG_SHAPE_STR_LEN], sb[SG_SHAPE_STR_LEN];
    sg_shape_str(a, sa, sizeof sa);
    sg_shape_str(b, sb, sizeof sb);
    SG_CHECK(a->dtype == SG_F32 && b->dtype == SG_F32, "sg_matmul: expects float tensors");
    SG_CHECK(a->ndim == b->ndim && (a->ndim == 2 || a->ndim == 3),
             "sg_matmul: operands must both be 2-D or both 3-D, got %s and %s", sa, sb);
    int d = a->ndim - 2; /* index of the first matrix dimension */
    int B = d ? a->shape[0] : 1;
    SG_CHECK(!d || b->shape[0] == B, "sg_matmul: batch sizes differ: %s vs %s", sa, sb);
    int M = a->shape[d + (trans_a ? 1 : 0)], Ka = a->shape[d + (trans_a ? 0 : 1)];
    int N = b->shape[d + (trans_b ? 0 : 1)], Kb = b->shape[d + (trans_b ? 1 : 0)];
    SG_CHECK(Ka == Kb, "sg_matmul: inner dimensions differ (%d vs %d): %s%s x %s%s", Ka, Kb, sa,
             trans_a ? "^T" : "", sb, trans_b ? "^T" : "");
    int shape[3] = {B, M, N};
    sg_tensor *out = sg_tensor_new(ctx, SG_F32, a->ndim, d ? shape : shape + 1);
    SG_BACKEND_NEED(ctx->be, matmul_forward)(out->data, a->data, b->data, B, M, N, Ka, trans_a,
                                             trans_b);
    ctx->flops += 2.0 * B * M * N * Ka;
    if (sg_should_record(ctx, 2, (const sg_tensor *const[]){a, b})) {
        sg_matmul_node *n = sg_tape_record(ctx, sizeof *n, "sg_matmul", sg_matmul_backward_, out);
        n->a = a;
        n->b = b;
        n->B = B;
        n->M = M;
        n->N = N;
        n->K = Ka;
        n->trans_a = trans_a;
        n->trans_b = trans_b;
    }
    return out;
}
