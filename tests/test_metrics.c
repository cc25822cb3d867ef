/*
 * test_metrics.c: evaluation (include/semiseg/metrics.h).
 *
 * 1. Metrics from the hand-computed cases in tests/data/metrics/cases.txt
 *    (format in the README there): confusion matrix, intersections and unions
 *    exactly, IoU / mIoU (both conventions) / pixel accuracy within the
 *    tolerances below; the same sums through sg_confusion_merge.
 * 2. Bad input: a label that is neither a class nor the ignore index, a label
 *    of the wrong size (errors), a prediction >= K and a model with the wrong
 *    K (aborts).
 * 3. The three modes on fake models whose input image encodes each pixel's
 *    absolute position (channel 0 = row, 1 = column, 2 = 1 for real pixels,
 *    0 in padding), so the model knows where every window lies:
 *    whole image; centre crop against a literal transcription of U2PL's
 *    pad-then-crop (augmentation.py Crop); sliding windows against the
 *    window list written out by hand (coverage counted per pixel) and a
 *    double-precision sum of softmax probabilities, on logits chosen so that
 *    summing logits instead would give other classes.
 * 4. Colourised predictions: palette mapping, palette PNG round trip.
 */
#include "semiseg.h"
#include "semiseg/metrics.h"
#include "expect_abort.h"
#include "tap.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The 1e-10 in UniMatch's denominator moves I/U by I/U * 1e-10/U <= 1e-10
 * (U >= 1); a mean of such values moves as much. 1e-9 leaves room for the
 * last-bit rounding of the division and the mean, and is far below the
 * smallest difference between two of the cases' fractions (1/24). */
#define TOL_IOU 1e-9
/* Accuracy is one division of the same two integers on both sides. */
#define TOL_ACC 1e-12

/* ---- 1. hand-computed cases ------------------------------------------------------ */

typedef struct reader_ {
    FILE *fp;
    const char *path;
    int line;
    char buf[4096];
    char *tok[512];
    int n;
} reader_;

/* Next non-blank, non-comment line, split into tokens; 0 at end of file. */
static int next_line_(reader_ *r)
{
    while (fgets(r->buf, sizeof r->buf, r->fp)) {
        r->line++;
        if (r->buf[0] == '#') continue;
        r->n = 0;
        for (char *t = strtok(r->buf, " \t\r\n"); t && r->n < 512; t = strtok(NULL, " \t\r\n"))
            r->tok[r->n++] = t;
        if (r->n > 0) return 1;
    }
    return 0;
}

static int fail_(reader_ *r, const char *what)
{
    tap_ok(0, "%s:%d: %s", r->path, r->line, what);
    return -1;
}

/* Expect directive `key` with n_args arguments on the next line. */
static int expect_(reader_ *r, const char *key, int n_args)
{
    char msg[128];
    snprintf(msg, sizeof msg, "expected '%s' with %d argument(s)", key, n_args);
    if (!next_line_(r) || strcmp(r->tok[0], key) != 0 || (n_args >= 0 && r->n != n_args + 1))
        return fail_(r, msg);
    return 0;
}

static int parse_int_(const char *s, long *v)
{
    char *end;
    *v = strtol(s, &end, 10);
    return end != s && *end == 0 ? 0 : -1;
}

/* "A/B" -> A, B (non-negative integers). */
static int parse_frac_(const char *s, long *a, long *b)
{
    char tmp[64];
    snprintf(tmp, sizeof tmp, "%s", s);
    char *slash = strchr(tmp, '/');
    if (!slash) return -1;
    *slash = 0;
    return parse_int_(tmp, a) || parse_int_(slash + 1, b) || *a < 0 || *b < 0 ? -1 : 0;
}

/* A fraction's value, 0 for 0/0 (the metrics' convention for empty sets). */
static double frac_value_(long a, long b)
{
    return b == 0 ? 0.0 : (double)a / (double)b;
}

/* n rows of n_cols integers in [0, 255]. */
static int read_rows_(reader_ *r, int rows, int cols, uint8_t *out)
{
    for (int y = 0; y < rows; y++) {
        if (!next_line_(r) || r->n != cols) return fail_(r, "row has the wrong number of values");
        for (int x = 0; x < cols; x++) {
            long v;
            if (parse_int_(r->tok[x], &v) || v < 0 || v > 255) return fail_(r, "bad value");
            out[y * cols + x] = (uint8_t)v;
        }
    }
    return 0;
}

/* Checks `key A/B` against got; -1 only when the file is malformed. */
static int check_metric_(reader_ *r, const char *key, double got, double tol, const char *name)
{
    long a, b;
    if (expect_(r, key, 1) || parse_frac_(r->tok[1], &a, &b)) return fail_(r, "bad fraction");
    tap_ok(fabs(got - frac_value_(a, b)) <= tol, "%s: %s %.12g, expected %ld/%ld", name, key, got, a, b);
    return 0;
}

/* One case; returns 1 after a case, 0 at end of file, -1 on a malformed file. */
static int run_case_(reader_ *r)
{
    if (!next_line_(r)) return 0;
    if (strcmp(r->tok[0], "case") != 0 || r->n != 2) return fail_(r, "expected 'case NAME'");
    char name[128];
    snprintf(name, sizeof name, "%s", r->tok[1]);
    long k;
    if (expect_(r, "classes", 1) || parse_int_(r->tok[1], &k) || k < 1 || k > 32)
        return fail_(r, "bad class count");

    sg_confusion cm, merged, one;
    sg_confusion_init(&cm, (int)k, 255);
    sg_confusion_init(&merged, (int)k, 255);
    sg_confusion_init(&one, (int)k, 255);
    int rc = -1, n_images = 0;
    uint8_t pred[64 * 64], label[64 * 64];
    sg_err err;
    for (;;) {
        if (!next_line_(r)) {
            fail_(r, "unexpected end of file");
            goto out;
        }
        if (strcmp(r->tok[0], "image") != 0) break;
        long h, w;
        if (r->n != 3 || parse_int_(r->tok[1], &h) || parse_int_(r->tok[2], &w) || h < 1 ||
            w < 1 || h * w > 64 * 64) {
            fail_(r, "bad 'image H W'");
            goto out;
        }
        if (expect_(r, "pred", 0) || read_rows_(r, (int)h, (int)w, pred) ||
            expect_(r, "label", 0) || read_rows_(r, (int)h, (int)w, label))
            goto out;
        if (sg_confusion_add(&cm, pred, label, (size_t)(h * w), &err) != 0) {
            tap_ok(0, "%s: image %d rejected: %s", name, n_images, err.msg);
            goto out;
        }
        /* The same image on its own, merged: sums must not depend on grouping. */
        sg_confusion_reset(&one);
        sg_confusion_add(&one, pred, label, (size_t)(h * w), &err);
        sg_confusion_merge(&merged, &one);
        n_images++;
    }
    if (strcmp(r->tok[0], "confusion") != 0 || n_images == 0) {
        fail_(r, "expected 'image' or 'confusion' after at least one image");
        goto out;
    }
    int counts_ok = 1, merge_ok = 1;
    for (int y = 0; y < k; y++) {
        if (!next_line_(r) || r->n != k) {
            fail_(r, "confusion row has the wrong number of values");
            goto out;
        }
        for (int x = 0; x < k; x++) {
            long v;
            if (parse_int_(r->tok[x], &v)) {
                fail_(r, "bad count");
                goto out;
            }
            if (cm.counts[y * k + x] != (uint64_t)v) {
                tap_diag("%s: confusion[%d][%d] = %llu, expected %ld", name, y, x,
                         (unsigned long long)cm.counts[y * k + x], v);
                counts_ok = 0;
            }
            if (merged.counts[y * k + x] != cm.counts[y * k + x]) merge_ok = 0;
        }
    }
    tap_ok(counts_ok, "%s: confusion matrix (%d image(s))", name, n_images);
    tap_ok(merge_ok, "%s: per-image matrices merged give the same sums", name);

    if (expect_(r, "iou", (int)k)) goto out;
    int iu_ok = 1, iou_ok = 1;
    for (int c = 0; c < k; c++) {
        long a, b;
        if (parse_frac_(r->tok[1 + c], &a, &b)) {
            fail_(r, "bad I/U");
            goto out;
        }
        if (sg_confusion_intersection(&cm, c) != (uint64_t)a || sg_confusion_union(&cm, c) != (uint64_t)b) {
            tap_diag("%s: class %d I/U = %llu/%llu, expected %ld/%ld", name, c,
                     (unsigned long long)sg_confusion_intersection(&cm, c),
                     (unsigned long long)sg_confusion_union(&cm, c), a, b);
            iu_ok = 0;
        }
        if (fabs(sg_confusion_iou(&cm, c) - frac_value_(a, b)) > TOL_IOU) {
            tap_diag("%s: class %d IoU %.12g, expected %ld/%ld", name, c, sg_confusion_iou(&cm, c), a, b);
            iou_ok = 0;
        }
    }
    tap_ok(iu_ok, "%s: intersections and unions", name);
    tap_ok(iou_ok, "%s: per-class IoU", name);
    if (check_metric_(r, "miou", sg_confusion_miou(&cm, SG_MIOU_ALL), TOL_IOU, name) ||
        check_metric_(r, "miou_present", sg_confusion_miou(&cm, SG_MIOU_PRESENT), TOL_IOU, name) ||
        check_metric_(r, "accuracy", sg_confusion_accuracy(&cm), TOL_ACC, name) || expect_(r, "end", 0))
        goto out;
    rc = 1;
out:
    sg_confusion_free(&cm);
    sg_confusion_free(&merged);
    sg_confusion_free(&one);
    return rc;
}

static void test_cases_(void)
{
    const char *top = getenv("top_srcdir");
    char path[4096];
    snprintf(path, sizeof path, "%s/tests/data/metrics/cases.txt", top ? top : ".");
    reader_ r = {.fp = fopen(path, "r"), .path = path};
    if (!tap_ok(r.fp != NULL, "open %s (set top_srcdir)", path)) return;
    int n = 0, rc;
    while ((rc = run_case_(&r)) == 1) n++;
    fclose(r.fp);
    tap_ok(rc == 0 && n >= 6, "read %d metric cases to the end of the file", n);
}

/* ---- 2. bad input ------------------------------------------------------------------ */

static void bad_pred_(void *arg)
{
    (void)arg;
    sg_confusion cm;
    sg_confusion_init(&cm, 3, 255);
    uint8_t pred[2] = {1, 5}, label[2] = {0, 1};
    sg_confusion_add(&cm, pred, label, 2, NULL);
}

static void test_bad_labels_(void)
{
    sg_confusion cm;
    sg_confusion_init(&cm, 21, 255);
    uint8_t pred[4] = {0, 1, 2, 3}, label[4] = {0, 1, 37, 255};
    sg_err err = {{0}};
    int rc = sg_confusion_add(&cm, pred, label, 4, &err);
    uint64_t total = 0;
    for (int i = 0; i < 21 * 21; i++) total += cm.counts[i];
    tap_ok(rc == -1 && strstr(err.msg, "label value 37 at pixel 2") != NULL && total == 0,
           "label 37 with K = 21 is an error naming value and pixel, nothing counted (%s)", err.msg);
    sg_confusion_free(&cm);
    tap_ok(sg_expect_abort(bad_pred_, NULL, (const char *const[]){"sg_confusion_add", "prediction 5"}, 2),
           "a prediction >= K aborts");
}

/* ---- 3. evaluation modes on fake models ------------------------------------------------ */

enum { MAX_CALLS_ = 64 };

typedef struct fake_ {
    int k;
    bool sliding;                /* logits: pseudo-random per window, else a class map */
    int n_calls;
    int win[MAX_CALLS_][4];      /* r0, c0, h, w of each call, from the pixel coordinates */
    int coverage[32 * 32];       /* (H, W) of the full image: windows covering each pixel */
    int full_w;
    bool grad_seen;              /* recording was on during a call */
    bool arena_grew;             /* the arena held more than the current window at a call */
    bool pad_bad;                /* a padding pixel was not 0.0 in every channel */
} fake_;

/* Where all K logits are equal: argmax must give class 0, the first, as
 * torch.argmax does. */
static bool tie_at_(int r, int c)
{
    return (r + c) % 7 == 3;
}

/* The class the whole/centre models predict at a position. */
static int class_of_(int r, int c, int k)
{
    return tie_at_(r, c) ? 0 : (r + 2 * c) % k;
}

/* Deterministic pseudo-random logit in [-4, 4) for (pixel, window, class). */
static float sliding_logit_(int r, int c, int wr, int wc, int k)
{
    uint64_t z = (uint64_t)r * 1000003u + (uint64_t)c * 10007u + (uint64_t)wr * 101u +
                 (uint64_t)wc * 7u + (uint64_t)k * 1299709u + 0x9e3779b97f4a7c15ull;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    z ^= z >> 31;
    return (float)((double)(z >> 40) / (double)(1ull << 24) * 8.0 - 4.0);
}

/* Positions encoded in an image: (1, 3, H, W), long-lived (not in the arena). */
static sg_tensor *position_image_(int h, int w)
{
    sg_tensor *img = sg_tensor_alloc(SG_F32, 4, (int[]){1, 3, h, w}, false);
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            img->data[(size_t)y * w + x] = (float)y;
            img->data[(size_t)h * w + (size_t)y * w + x] = (float)x;
            img->data[2 * (size_t)h * w + (size_t)y * w + x] = 1.0f;
        }
    return img;
}

static sg_tensor *fake_logits_(sg_ctx *ctx, void *model, sg_tensor *x)
{
    fake_ *m = model;
    const int h = x->shape[2], w = x->shape[3], k = m->k;
    const size_t hw = (size_t)h * w;
    if (ctx->grad_enabled) m->grad_seen = true;
    /* At a call the arena may hold the window (header + data, 64-byte
     * aligned) and nothing else: 128 bytes cover the two roundings. */
    if (ctx->arena.used > 3 * hw * sizeof(float) + 128) m->arena_grew = true;
    const float *row = x->data, *col = x->data + hw, *real = x->data + 2 * hw;
    if (m->n_calls < MAX_CALLS_) {
        int *win = m->win[m->n_calls];
        win[0] = (int)row[0];
        win[1] = (int)col[0];
        win[2] = h;
        win[3] = w;
    }
    m->n_calls++;
    sg_tensor *y = sg_tensor_new4(ctx, 1, k, h, w);
    for (size_t p = 0; p < hw; p++) {
        const int r = (int)row[p], c = (int)col[p];
        if (real[p] == 0.0f) {
            if (row[p] != 0.0f || col[p] != 0.0f) m->pad_bad = true;
            /* Padding predicts the last class, so it shows in the matrix. */
            for (int j = 0; j < k; j++) y->data[j * hw + p] = j == k - 1 ? 1.0f : 0.0f;
            continue;
        }
        if (m->sliding) {
            m->coverage[r * m->full_w + c]++;
            for (int j = 0; j < k; j++)
                y->data[j * hw + p] = sliding_logit_(r, c, (int)row[0], (int)col[0], j);
        } else {
            for (int j = 0; j < k; j++)
                y->data[j * hw + p] = tie_at_(r, c) ? 0.5f : j == class_of_(r, c, k) ? 2.0f : -1.0f;
        }
    }
    return y;
}

/* A label with some ignored pixels and classes that differ from class_of_. */
static void make_label_(sg_image *label, int h, int w, int k)
{
    sg_image_alloc(label, h, w, 1);
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++)
            label->data[y * w + x] = (y + x) % 5 == 0 ? 255 : (uint8_t)((3 * y + x) % k);
}

static int same_counts_(const sg_confusion *a, const uint64_t *want)
{
    for (int i = 0; i < a->k * a->k; i++)
        if (a->counts[i] != want[i]) return 0;
    return 1;
}

static void test_whole_(sg_ctx *ctx)
{
    const int H = 4, W = 6, K = 3;
    sg_tensor *img = position_image_(H, W);
    sg_image label, pred = {0};
    make_label_(&label, H, W, K);
    fake_ m = {.k = K};
    sg_confusion cm;
    sg_confusion_init(&cm, K, 255);
    sg_eval_opts o = {.mode = SG_EVAL_WHOLE};
    sg_err err;
    sg_ctx_set_grad(ctx, true);
    int rc = sg_eval_image(ctx, &o, fake_logits_, &m, img, &label, &cm, &pred, &err);
    tap_ok(rc == 0 && pred.h == H && pred.w == W && pred.c == 1, "whole: one %dx%d prediction", H, W);
    int ok = 1;
    uint64_t want[9] = {0};
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++) {
            if (rc != 0 || pred.data[y * W + x] != class_of_(y, x, K)) ok = 0;
            uint8_t l = label.data[y * W + x];
            if (l != 255) want[l * K + class_of_(y, x, K)]++;
        }
    tap_ok(ok && m.n_calls == 1,
           "whole: argmax of the logits at every pixel (the first class at ties), one model call");
    tap_ok(same_counts_(&cm, want), "whole: confusion matrix of prediction vs label");
    tap_ok(!m.grad_seen && ctx->grad_enabled && ctx->arena.used == 0,
           "whole: model ran without recording; recording restored; arena reset");

    /* Prediction only: no label, no matrix. */
    sg_image_free(&pred);
    tap_ok(sg_eval_image(ctx, &o, fake_logits_, &m, img, NULL, NULL, &pred, &err) == 0 && pred.h == H,
           "whole: prediction without a label or matrix");
    sg_image_free(&pred);

    sg_image small;
    sg_image_alloc(&small, H, W - 1, 1);
    rc = sg_eval_image(ctx, &o, fake_logits_, &m, img, &small, &cm, &pred, &err);
    tap_ok(rc == -1 && strstr(err.msg, "label is 4x5") && strstr(err.msg, "image is 4x6") && !pred.data,
           "a label of another size is an error (%s)", err.msg);
    sg_image_free(&small);

    label.data[3] = 7;
    sg_confusion_reset(&cm);
    rc = sg_eval_image(ctx, &o, fake_logits_, &m, img, &label, &cm, &pred, &err);
    tap_ok(rc == -1 && strstr(err.msg, "label value 7 at pixel 3") && !pred.data,
           "a label outside the classes is an error (%s)", err.msg);
    sg_confusion_free(&cm);
    sg_image_free(&label);
    sg_tensor_free(img);
}

typedef struct wrong_k_arg_ {
    sg_ctx *ctx;
} wrong_k_arg_;

static void wrong_k_(void *arg)
{
    sg_ctx *ctx = ((wrong_k_arg_ *)arg)->ctx;
    sg_tensor *img = position_image_(3, 3);
    fake_ m = {.k = 4};
    sg_confusion cm;
    sg_confusion_init(&cm, 3, 255);
    sg_eval_opts o = {.mode = SG_EVAL_WHOLE};
    sg_eval_image(ctx, &o, fake_logits_, &m, img, NULL, &cm, NULL, NULL);
}

/* U2PL's Crop(crop_type='center') written out as in augmentation.py: pad to
 * at least S (pad // 2 before, the rest after), then cut at ((Hp - S) // 2,
 * (Wp - S) // 2). Gives each crop pixel's source row/column, -1 in padding. */
static void u2pl_crop_map_(int H, int W, int S, int *src_r, int *src_c)
{
    int pad_h = S - H > 0 ? S - H : 0, pad_w = S - W > 0 ? S - W : 0;
    int pad_h_half = pad_h / 2, pad_w_half = pad_w / 2;
    int Hp = H + pad_h, Wp = W + pad_w;
    int h_off = (Hp - S) / 2, w_off = (Wp - S) / 2;
    for (int y = 0; y < S; y++) {
        int pr = h_off + y - pad_h_half;
        src_r[y] = pr >= 0 && pr < H ? pr : -1;
    }
    for (int x = 0; x < S; x++) {
        int pc = w_off + x - pad_w_half;
        src_c[x] = pc >= 0 && pc < W ? pc : -1;
    }
}

static void test_center_(sg_ctx *ctx, int H, int W, int S, int pad_label)
{
    const int K = 4;
    sg_tensor *img = position_image_(H, W);
    sg_image label, pred = {0};
    make_label_(&label, H, W, K);
    fake_ m = {.k = K};
    sg_confusion cm;
    sg_confusion_init(&cm, K, 255);
    sg_eval_opts o = {.mode = SG_EVAL_CENTER_CROP, .crop = S, .center_pad_label = pad_label};
    sg_err err;
    int rc = sg_eval_image(ctx, &o, fake_logits_, &m, img, &label, &cm, &pred, &err);
    int src_r[64], src_c[64];
    u2pl_crop_map_(H, W, S, src_r, src_c);
    int ok = rc == 0 && pred.h == S && pred.w == S;
    uint64_t want[16] = {0};
    int n_pad = 0;
    for (int y = 0; y < S; y++)
        for (int x = 0; x < S; x++) {
            bool real = src_r[y] >= 0 && src_c[x] >= 0;
            int p = real ? class_of_(src_r[y], src_c[x], K) : K - 1;
            int l = real ? label.data[src_r[y] * W + src_c[x]] : pad_label;
            n_pad += !real;
            if (ok && pred.data[y * S + x] != p) ok = 0;
            if (l != 255) want[l * K + p]++;
        }
    tap_ok(ok && m.n_calls == 1 && !m.pad_bad && m.win[0][2] == S && m.win[0][3] == S,
           "centre crop %dx%d -> %d (%d padding pixels): one %dx%d window as U2PL's Crop, image "
           "padding 0",
           H, W, S, n_pad, S, S);
    tap_ok(same_counts_(&cm, want), "centre crop %dx%d -> %d: the crop's label, padding labelled %d",
           H, W, S, pad_label);
    tap_ok(!m.arena_grew && ctx->arena.used == 0, "centre crop: arena held the crop only, reset after");
    sg_confusion_free(&cm);
    sg_image_free(&pred);
    sg_image_free(&label);
    sg_tensor_free(img);
}

/* Sliding window on a 7 x 10 image with the windows UniMatch's loop visits,
 * written out by hand: rows start at 0, s, 2s... < 7, columns at 0, s... < 10,
 * each clipped at the border. */
static void test_sliding_(sg_ctx *ctx, int S, int stride_opt, const int (*win)[4], int n_win,
                          const char *what)
{
    enum { H = 7, W = 10, K = 4 };
    sg_tensor *img = position_image_(H, W);
    sg_image label, pred = {0};
    make_label_(&label, H, W, K);
    fake_ m = {.k = K, .sliding = true, .full_w = W};
    sg_confusion cm;
    sg_confusion_init(&cm, K, 255);
    sg_eval_opts o = {.mode = SG_EVAL_SLIDING, .crop = S, .stride = stride_opt};
    sg_err err;
    sg_ctx_set_grad(ctx, true);
    int rc = sg_eval_image(ctx, &o, fake_logits_, &m, img, &label, &cm, &pred, &err);
    tap_ok(rc == 0 && pred.h == H && pred.w == W, "sliding %s: a full-size prediction", what);

    int win_ok = m.n_calls == n_win;
    for (int i = 0; win_ok && i < n_win; i++)
        for (int j = 0; j < 4; j++) win_ok &= m.win[i][j] == win[i][j];
    tap_ok(win_ok, "sliding %s: %d windows (got %d), row by row, clipped at the border", what,
           n_win, m.n_calls);

    int cov_ok = 1, max_cov = 0;
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++) {
            int want = 0;
            for (int i = 0; i < n_win; i++)
                want += y >= win[i][0] && y < win[i][0] + win[i][2] && x >= win[i][1] &&
                        x < win[i][1] + win[i][3];
            cov_ok &= m.coverage[y * W + x] == want;
            if (want > max_cov) max_cov = want;
        }
    tap_ok(cov_ok && max_cov >= 4, "sliding %s: every pixel covered as often as its windows say "
           "(up to %d times)", what, max_cov);

    /* Reference: softmax of each window's logits in double, summed, argmax. */
    int pred_ok = 1, differs_from_logit_sum = 0, differs_from_last = 0;
    double min_margin = 1.0;
    uint64_t want_cm[K * K] = {0};
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++) {
            double prob[K] = {0}, logit[K] = {0}, last[K] = {0};
            for (int i = 0; i < n_win; i++) {
                if (!(y >= win[i][0] && y < win[i][0] + win[i][2] && x >= win[i][1] &&
                      x < win[i][1] + win[i][3]))
                    continue;
                double z[K], mx = -1e30, s = 0;
                for (int j = 0; j < K; j++) {
                    z[j] = sliding_logit_(y, x, win[i][0], win[i][1], j);
                    if (z[j] > mx) mx = z[j];
                }
                for (int j = 0; j < K; j++) s += exp(z[j] - mx);
                for (int j = 0; j < K; j++) {
                    prob[j] += exp(z[j] - mx) / s;
                    logit[j] += z[j];
                    last[j] = z[j];
                }
            }
            int a = 0, b = 0, c = 0;
            for (int j = 1; j < K; j++) {
                if (prob[j] > prob[a]) a = j;
                if (logit[j] > logit[b]) b = j;
                if (last[j] > last[c]) c = j;
            }
            for (int j = 0; j < K; j++)
                if (j != a && prob[a] - prob[j] < min_margin) min_margin = prob[a] - prob[j];
            pred_ok &= rc == 0 && pred.data[y * W + x] == a;
            differs_from_logit_sum += a != b;
            differs_from_last += a != c;
            uint8_t l = label.data[y * W + x];
            if (l != 255) want_cm[l * K + a]++;
        }
    /* float32 sums of float32 softmax differ from the double reference by
     * ~1e-6 at most; a margin above 1e-4 means the argmax cannot flip. */
    tap_ok(min_margin > 1e-4, "sliding %s: the reference has no near-ties (margin %.3g)", what,
           min_margin);
    tap_ok(pred_ok, "sliding %s: argmax of summed softmax probabilities", what);
    tap_ok(differs_from_logit_sum > 0 && differs_from_last > 0,
           "sliding %s: the logits tell summed softmax from summed logits (%d pixels) and from "
           "last-window-wins (%d)",
           what, differs_from_logit_sum, differs_from_last);
    tap_ok(same_counts_(&cm, want_cm), "sliding %s: confusion matrix", what);
    tap_ok(!m.grad_seen && ctx->grad_enabled && !m.arena_grew && ctx->arena.used == 0,
           "sliding %s: no recording, arena reset between windows (held one window at each call)",
           what);
    sg_confusion_free(&cm);
    sg_image_free(&pred);
    sg_image_free(&label);
    sg_tensor_free(img);
}

/* ---- 4. colourised predictions --------------------------------------------------------- */

static void test_colorize_(void)
{
    uint8_t palette[256 * 3];
    for (int i = 0; i < 256; i++) {
        palette[3 * i] = (uint8_t)(i * 37);
        palette[3 * i + 1] = (uint8_t)(i * 91 + 5);
        palette[3 * i + 2] = (uint8_t)(255 - i);
    }
    sg_image ids, rgb, back = {0};
    sg_image_alloc(&ids, 5, 7, 1);
    for (int p = 0; p < 35; p++) ids.data[p] = (uint8_t)((p * 7) % 21);
    ids.data[34] = 255;
    sg_colorize(&ids, palette, &rgb);
    int ok = rgb.h == 5 && rgb.w == 7 && rgb.c == 3;
    for (int p = 0; ok && p < 35; p++)
        ok = memcmp(rgb.data + 3 * p, palette + 3 * ids.data[p], 3) == 0;
    tap_ok(ok, "colorize: each class id becomes its palette colour");

    char dir[256], path[512];
    snprintf(dir, sizeof dir, "%s/semiseg-metrics.XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    if (!mkdtemp(dir)) {
        tap_ok(0, "cannot create a temp dir under %s", dir);
    } else {
        sg_err err = {{0}};
        snprintf(path, sizeof path, "%s/pred.png", dir);
        int rc = sg_colorize_write(path, &ids, palette, &err);
        tap_ok(rc == 0, "colorize: palette PNG written (%s)", err.msg);
        rc = sg_mask_read(path, &back, &err);
        tap_ok(rc == 0 && back.h == 5 && back.w == 7 && back.c == 1 && memcmp(back.data, ids.data, 35) == 0,
               "colorize: the PNG reads back as the class ids (%s)", err.msg);
        unlink(path);
        char bad[600];
        snprintf(bad, sizeof bad, "%s/missing/pred.png", dir);
        rc = sg_colorize_write(bad, &ids, palette, &err);
        tap_ok(rc == -1 && strstr(err.msg, bad) != NULL, "colorize: an unwritable path is an error "
               "naming it");
        rmdir(dir);
    }
    sg_image_free(&back);
    sg_image_free(&rgb);
    sg_image_free(&ids);
}

int main(void)
{
    test_cases_();
    test_bad_labels_();

    sg_ctx ctx;
    sg_ctx_init(&ctx);
    test_whole_(&ctx);
    wrong_k_arg_ arg = {&ctx};
    tap_ok(sg_expect_abort(wrong_k_, &arg, (const char *const[]){"K = 4", "the confusion matrix has 3"}, 2),
           "a model with another K than the matrix aborts");
    /* Rows padded (odd and even amounts), columns cropped, both cropped. */
    test_center_(&ctx, 5, 8, 6, 0);
    test_center_(&ctx, 3, 4, 6, 0);
    test_center_(&ctx, 9, 9, 4, 0);
    test_center_(&ctx, 3, 4, 6, 255);

    /* crop 5: stride int(5 * 2 / 3) = 3; rows 0 3 6, columns 0 3 6 9. */
    static const int win_default[12][4] = {
        {0, 0, 5, 5}, {0, 3, 5, 5}, {0, 6, 5, 4}, {0, 9, 5, 1},
        {3, 0, 4, 5}, {3, 3, 4, 5}, {3, 6, 4, 4}, {3, 9, 4, 1},
        {6, 0, 1, 5}, {6, 3, 1, 5}, {6, 6, 1, 4}, {6, 9, 1, 1},
    };
    test_sliding_(&ctx, 5, 0, win_default, 12, "crop 5, stride 3");
    /* crop 4 with stride 3 given (the default would be 2): rows 0 3 6,
     * columns 0 3 6 9. */
    static const int win_given[12][4] = {
        {0, 0, 4, 4}, {0, 3, 4, 4}, {0, 6, 4, 4}, {0, 9, 4, 1},
        {3, 0, 4, 4}, {3, 3, 4, 4}, {3, 6, 4, 4}, {3, 9, 4, 1},
        {6, 0, 1, 4}, {6, 3, 1, 4}, {6, 6, 1, 4}, {6, 9, 1, 1},
    };
    test_sliding_(&ctx, 4, 3, win_given, 12, "crop 4, stride 3");
    sg_ctx_free(&ctx);
    /* The stride the windows above used, as the trainer and sg-eval check it
     * (crop 1 gives 0: they refuse it). */
    tap_ok(sg_eval_stride(&(sg_eval_opts){.mode = SG_EVAL_SLIDING, .crop = 5}) == 3 &&
               sg_eval_stride(&(sg_eval_opts){.mode = SG_EVAL_SLIDING, .crop = 4, .stride = 3}) == 3 &&
               sg_eval_stride(&(sg_eval_opts){.mode = SG_EVAL_SLIDING, .crop = 801}) == 534 &&
               sg_eval_stride(&(sg_eval_opts){.mode = SG_EVAL_SLIDING, .crop = 1}) == 0,
           "sliding stride: given, or int(crop * 2 / 3) (801 -> 534, UniMatch's Cityscapes)");

    test_colorize_();
    return tap_done();
}
