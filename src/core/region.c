/*
 * region.c: class regions, their softmax weights, prototypes and prototype
 * maps (include/semiseg/region.h), after calculate_region of
 * YUKEKEJAN/UCCL@804ce93:UCCL.py. The grouping is host logic (the label
 * and membership maps are read with sg_tensor_read); the weights,
 * prototypes and map are compositions of differentiable ops, so their
 * gradients are those ops' (one index_select + softmax, and one
 * index_select + matmul, per region: regions are few, B x K at most).
 * Covered by tests/test_region.c.
 */
#include <string.h>

#include "semiseg/region.h"

static int *sg_host_ints_(sg_ctx *ctx, size_t n)
{
    return sg_arena_alloc(sg_ctx_host_arena(ctx), (n ? n : 1) * sizeof(int));
}

void sg_regions_build(sg_ctx *ctx, sg_regions *r, const sg_tensor *label, const sg_tensor *member,
                      int n_classes)
{
    char a[SG_SHAPE_STR_LEN], b[SG_SHAPE_STR_LEN];
    SG_CHECK(label->dtype == SG_I32 && label->ndim == 3, "sg_regions_build: label must be int32 (N, H, W), got %s",
             sg_shape_str(label, a, sizeof a));
    SG_CHECK(!member || (member->dtype == SG_I32 && sg_same_shape(member, label)),
             "sg_regions_build: member %s must be int32 of the label's shape %s",
             member ? sg_shape_str(member, b, sizeof b) : "", sg_shape_str(label, a, sizeof a));
    SG_CHECK(n_classes >= 1, "sg_regions_build: %d classes", n_classes);
    const int n = label->shape[0], h = label->shape[1], w = label->shape[2], hw = h * w;
    const size_t total = (size_t)n * hw;
    int32_t *lab = sg_arena_alloc(sg_ctx_host_arena(ctx), total * sizeof *lab);
    int32_t *mem = member ? sg_arena_alloc(sg_ctx_host_arena(ctx), total * sizeof *mem) : NULL;
    sg_tensor_read(label, lab);
    if (mem) sg_tensor_read(member, mem);
    *r = (sg_regions){.n = n, .h = h, .w = w, .n_classes = n_classes};
    /* Pixel counts of every (image, class), then the non-empty ones in order. */
    int *size = sg_host_ints_(ctx, (size_t)n * n_classes);
    memset(size, 0, (size_t)n * n_classes * sizeof *size);
    for (size_t p = 0; p < total; p++) {
        if (mem && !mem[p]) continue;
        SG_CHECK(lab[p] >= 0 && lab[p] < n_classes, "sg_regions_build: label %d at pixel %zu is not in [0, %d)",
                 (int)lab[p], p, n_classes);
        size[(p / hw) * n_classes + lab[p]]++;
    }
    int count = 0, members = 0;
    for (int i = 0; i < n * n_classes; i++) {
        count += size[i] > 0;
        members += size[i];
    }
    r->count = count;
    r->image = sg_host_ints_(ctx, count);
    r->cls = sg_host_ints_(ctx, count);
    r->start = sg_host_ints_(ctx, (size_t)count + 1);
    r->pix = sg_host_ints_(ctx, members);
    r->owner = sg_host_ints_(ctx, total);
    int *index = size;   /* reused: (image, class) -> region, or -1 */
    int k = 0, off = 0;
    for (int i = 0; i < n * n_classes; i++) {
        if (size[i] == 0) {
            index[i] = -1;
            continue;
        }
        r->image[k] = i / n_classes;
        r->cls[k] = i % n_classes;
        r->start[k] = off;
        off += size[i];
        index[i] = k++;
    }
    r->start[count] = off;
    int *fill = sg_host_ints_(ctx, count);
    memcpy(fill, r->start, (size_t)count * sizeof *fill);
    for (size_t p = 0; p < total; p++) {
        if (mem && !mem[p]) {
            r->owner[p] = -1;
            continue;
        }
        const int reg = index[(p / hw) * n_classes + lab[p]];
        r->owner[p] = reg;
        r->pix[fill[reg]++] = (int)(p % hw);
    }
}

sg_tensor *sg_region_softmax(sg_ctx *ctx, sg_tensor *scores, const sg_regions *r)
{
    char a[SG_SHAPE_STR_LEN];
    SG_CHECK(scores->ndim == 4 && scores->shape[0] == r->n && scores->shape[1] == r->n_classes &&
                 scores->shape[2] == r->h && scores->shape[3] == r->w,
             "sg_region_softmax: scores %s do not match the regions (%d, %d, %d, %d)",
             sg_shape_str(scores, a, sizeof a), r->n, r->n_classes, r->h, r->w);
    if (r->count == 0) return NULL;
    const int hw = r->h * r->w;
    sg_tensor *flat = sg_reshape(ctx, scores, 2, (const int[]){(int)sg_numel(scores), 1});
    sg_tensor **parts = sg_arena_alloc(sg_ctx_host_arena(ctx), (size_t)r->count * sizeof *parts);
    int *idx = sg_host_ints_(ctx, (size_t)r->start[r->count]);
    for (int k = 0; k < r->count; k++) {
        const int s = r->start[k], len = r->start[k + 1] - s;
        const int base = (r->image[k] * r->n_classes + r->cls[k]) * hw;
        for (int j = 0; j < len; j++) idx[s + j] = base + r->pix[s + j];
        /* F.softmax(preds_iter[:, clsid][mask], dim=0) */
        parts[k] = sg_softmax(ctx, sg_index_select(ctx, flat, idx + s, len), 0);
    }
    return r->count == 1 ? parts[0] : sg_concat(ctx, parts, r->count, 0);
}

sg_tensor *sg_region_pixel_rows(sg_ctx *ctx, sg_tensor *feat)
{
    char a[SG_SHAPE_STR_LEN];
    SG_CHECK(feat->ndim == 4, "sg_region_pixel_rows: features must be (N, C, H, W), got %s",
             sg_shape_str(feat, a, sizeof a));
    sg_tensor *t = sg_permute(ctx, feat, (const int[]){0, 2, 3, 1});
    return sg_reshape(ctx, t, 2, (const int[]){feat->shape[0] * feat->shape[2] * feat->shape[3], feat->shape[1]});
}

static void sg_check_feat_(const sg_tensor *feat, const sg_regions *r, const char *fn)
{
    char a[SG_SHAPE_STR_LEN];
    SG_CHECK(feat->ndim == 4 && feat->shape[0] == r->n && feat->shape[2] == r->h && feat->shape[3] == r->w,
             "%s: features %s do not match the regions (%d, C, %d, %d)", fn, sg_shape_str(feat, a, sizeof a),
             r->n, r->h, r->w);
}

sg_tensor *sg_region_prototypes(sg_ctx *ctx, sg_tensor *feat, sg_tensor *weights, const sg_regions *r)
{
    sg_check_feat_(feat, r, "sg_region_prototypes");
    if (r->count == 0) return NULL;
    SG_CHECK(weights && weights->ndim == 2 && weights->shape[0] == r->start[r->count] && weights->shape[1] == 1,
             "sg_region_prototypes: weights must be (%d, 1), from sg_region_softmax", r->start[r->count]);
    const int hw = r->h * r->w;
    sg_tensor *rows = sg_region_pixel_rows(ctx, feat);
    sg_tensor **parts = sg_arena_alloc(sg_ctx_host_arena(ctx), (size_t)r->count * sizeof *parts);
    int *idx = sg_host_ints_(ctx, (size_t)r->start[r->count]);
    for (int k = 0; k < r->count; k++) {
        const int s = r->start[k], len = r->start[k + 1] - s;
        for (int j = 0; j < len; j++) idx[s + j] = r->image[k] * hw + r->pix[s + j];
        /* (feats_iter[mask] * weight.unsqueeze(-1)).sum(0) = weight^T feats: (1, C) */
        sg_tensor *f = sg_index_select(ctx, rows, idx + s, len);
        parts[k] = sg_matmul(ctx, sg_narrow(ctx, weights, 0, s, len), f, true, false);
    }
    return r->count == 1 ? parts[0] : sg_concat(ctx, parts, r->count, 0);
}

sg_tensor *sg_region_prototype_map(sg_ctx *ctx, sg_tensor *protos, sg_tensor *fill, const sg_regions *r)
{
    char a[SG_SHAPE_STR_LEN];
    const int total = r->n * r->h * r->w;
    SG_CHECK(fill->ndim == 2 && fill->shape[0] == total,
             "sg_region_prototype_map: fill %s must be (%d, C), one row per pixel", sg_shape_str(fill, a, sizeof a),
             total);
    const int c = fill->shape[1];
    SG_CHECK(r->count == 0 || (protos && protos->ndim == 2 && protos->shape[0] == r->count && protos->shape[1] == c),
             "sg_region_prototype_map: prototypes must be (%d, %d)", r->count, c);
    /* A table of the prototypes, then the fill rows: each pixel picks its
     * region's row (feats_sl[batch_idx][maskk] = prototype) or its fill row
     * (feats_sl[batch_idx][batch_ig == 255] = feature_temp_index[...]). */
    sg_tensor *table = r->count ? sg_concat(ctx, (sg_tensor *const[]){protos, fill}, 2, 0) : fill;
    int *idx = sg_host_ints_(ctx, (size_t)total);
    for (int p = 0; p < total; p++) idx[p] = r->owner[p] >= 0 ? r->owner[p] : r->count + p;
    sg_tensor *m = sg_index_select(ctx, table, idx, total);
    m = sg_reshape(ctx, m, 4, (const int[]){r->n, r->h, r->w, c});
    return sg_permute(ctx, m, (const int[]){0, 3, 1, 2});
}
