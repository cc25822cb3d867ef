/*
 * confusion.c: the K x K confusion matrix and the metrics derived from it
 * (metrics.h).
 *
 * Layout: counts[label * K + pred], uint64 so that a full Cityscapes val set
 * (500 x 2048 x 1024 ~ 1e9 pixels, more on a larger set) cannot overflow.
 * Reference: UniMatch util/utils.py:intersectionAndUnion + supervised.py:
 * evaluate, which histogram the intersection, prediction and label per image,
 * sum them over the set and report mean_k I_k / (U_k + 1e-10). The matrix
 * holds the same sums (I_k on the diagonal, U_k = row + column - diagonal).
 * Arithmetic on the sums is in double, as numpy's int64 / float64 there.
 *
 * Covered by tests/test_metrics.c (cases in tests/data/metrics/).
 */
#include "semiseg/metrics.h"

#include <stdlib.h>
#include <string.h>

/* UniMatch's and U2PL's denominator guard: an absent class gets 0, not NaN. */
#define SG_IOU_EPS 1e-10

void sg_confusion_init(sg_confusion *cm, int k, int ignore_index)
{
    SG_CHECK(k >= 1 && k <= 255, "sg_confusion_init: K = %d, need 1..255 (class ids are uint8)", k);
    SG_CHECK(ignore_index >= k && ignore_index <= 255,
             "sg_confusion_init: ignore index %d must be a uint8 value outside [0, %d)",
             ignore_index, k);
    cm->k = k;
    cm->ignore_index = ignore_index;
    cm->counts = sg_xcalloc((size_t)k * (size_t)k, sizeof *cm->counts);
}

void sg_confusion_free(sg_confusion *cm)
{
    free(cm->counts);
    cm->counts = NULL;
}

void sg_confusion_reset(sg_confusion *cm)
{
    memset(cm->counts, 0, (size_t)cm->k * (size_t)cm->k * sizeof *cm->counts);
}

int sg_confusion_add(sg_confusion *cm, const uint8_t *pred, const uint8_t *label, size_t n,
                     sg_err *err)
{
    const int k = cm->k;
    /* Validate first so that a bad mask leaves the running sums untouched. */
    for (size_t i = 0; i < n; i++) {
        SG_CHECK(pred[i] < k, "sg_confusion_add: prediction %d at pixel %zu, K = %d", pred[i], i, k);
        if (label[i] >= k && label[i] != cm->ignore_index)
            return sg_err_set(err, "label value %d at pixel %zu is neither a class in [0, %d) "
                                   "nor the ignore index %d",
                              label[i], i, k, cm->ignore_index);
    }
    for (size_t i = 0; i < n; i++)
        if (label[i] != cm->ignore_index) cm->counts[(size_t)label[i] * (size_t)k + pred[i]]++;
    return 0;
}

void sg_confusion_merge(sg_confusion *dst, const sg_confusion *src)
{
    SG_CHECK(dst->k == src->k && dst->ignore_index == src->ignore_index,
             "sg_confusion_merge: K %d / ignore %d vs K %d / ignore %d", dst->k,
             dst->ignore_index, src->k, src->ignore_index);
    for (size_t i = 0; i < (size_t)dst->k * (size_t)dst->k; i++) dst->counts[i] += src->counts[i];
}

uint64_t sg_confusion_intersection(const sg_confusion *cm, int k)
{
    SG_CHECK(k >= 0 && k < cm->k, "sg_confusion_intersection: class %d, K = %d", k, cm->k);
    return cm->counts[(size_t)k * (size_t)cm->k + (size_t)k];
}

uint64_t sg_confusion_union(const sg_confusion *cm, int k)
{
    SG_CHECK(k >= 0 && k < cm->k, "sg_confusion_union: class %d, K = %d", k, cm->k);
    uint64_t row = 0, col = 0;
    for (int j = 0; j < cm->k; j++) {
        row += cm->counts[(size_t)k * (size_t)cm->k + (size_t)j];
        col += cm->counts[(size_t)j * (size_t)cm->k + (size_t)k];
    }
    return row + col - sg_confusion_intersection(cm, k);
}

double sg_confusion_iou(const sg_confusion *cm, int k)
{
    return (double)sg_confusion_intersection(cm, k) / ((double)sg_confusion_union(cm, k) + SG_IOU_EPS);
}

double sg_confusion_miou(const sg_confusion *cm, sg_miou_mode mode)
{
    SG_CHECK(mode == SG_MIOU_ALL || mode == SG_MIOU_PRESENT, "sg_confusion_miou: mode %d", (int)mode);
    double sum = 0.0;
    int n = 0;
    for (int k = 0; k < cm->k; k++) {
        if (mode == SG_MIOU_PRESENT && sg_confusion_union(cm, k) == 0) continue;
        sum += sg_confusion_iou(cm, k);
        n++;
    }
    return n > 0 ? sum / n : 0.0;
}

double sg_confusion_accuracy(const sg_confusion *cm)
{
    uint64_t correct = 0, total = 0;
    for (int k = 0; k < cm->k; k++) {
        correct += sg_confusion_intersection(cm, k);
        for (int j = 0; j < cm->k; j++) total += cm->counts[(size_t)k * (size_t)cm->k + (size_t)j];
    }
    return total > 0 ? (double)correct / (double)total : 0.0;
}
