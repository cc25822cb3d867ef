/*
 * ckpt_helper.c: support program of tests/trainer_dssn.sh (not a test
 * itself): compares the teacher (ema/) and the student (model/) of trainer
 * checkpoints tensor for tensor, so a shell test can check how a trainer
 * wires its EMA teacher without parsing safetensors itself.
 *
 *   ckpt_helper same CKPT         every ema/X equals model/X byte for byte
 *       (dtype, shape, data) and the two prefixes hold the same names: the
 *       teacher is the student (an EMA update with keep rate 0).
 *   ckpt_helper blend PREV NEXT KEEP   for every float ema/X of NEXT,
 *       whether it equals sg_ema_update's keep * ema/X(PREV) +
 *       (1 - keep) * model/X(NEXT) bit for bit, i.e. whether the teacher
 *       changed between the two checkpoints by the EMA blend alone. Prints
 *       "parameters A/B statistics C/D" (A of B parameters, C of D BN running
 *       statistics matched); the caller decides what it expects.
 */
#include "semiseg.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const sg_st_tensor *twin_(const sg_st_file *f, const char *prefix, const char *name)
{
    char buf[512];
    snprintf(buf, sizeof buf, "%s%s", prefix, name);
    return sg_st_find(f, buf);
}

static int same_shape_(const sg_st_tensor *a, const sg_st_tensor *b)
{
    if (a->dtype != b->dtype || a->ndim != b->ndim || a->nbytes != b->nbytes) return 0;
    for (int d = 0; d < a->ndim; d++)
        if (a->shape[d] != b->shape[d]) return 0;
    return 1;
}

static int same_(const char *path)
{
    sg_st_file f;
    sg_err err;
    if (sg_st_open(&f, path, &err)) {
        fprintf(stderr, "ckpt_helper: %s\n", err.msg);
        return 2;
    }
    int n_ema = 0, n_model = 0, rc = 0;
    for (int i = 0; i < f.n_tensors && !rc; i++) {
        const sg_st_tensor *t = &f.tensors[i];
        if (!strncmp(t->name, "model/", 6)) n_model++;
        if (strncmp(t->name, "ema/", 4)) continue;
        n_ema++;
        const sg_st_tensor *m = twin_(&f, "model/", t->name + 4);
        if (!m || !same_shape_(t, m) || memcmp(t->data, m->data, t->nbytes)) {
            fprintf(stderr, "ckpt_helper: %s differs from model/%s%s\n", t->name, t->name + 4,
                    m ? "" : " (absent)");
            rc = 1;
        }
    }
    if (!rc && (n_ema == 0 || n_ema != n_model)) {
        fprintf(stderr, "ckpt_helper: %d ema/ tensors vs %d model/ tensors\n", n_ema, n_model);
        rc = 1;
    }
    if (!rc) printf("teacher = student: %d tensors\n", n_ema);
    sg_st_close(&f);
    return rc;
}

/* One EMA update of a single tensor through sg_ema_update itself (the
 * trainers' call), so the rounding is the trainer's. */
static void blend_(float *e, const float *p, int n, float keep)
{
    sg_param_set se, sp;
    sg_param_set_init(&se);
    sg_param_set_init(&sp);
    sg_tensor *te = sg_param_add(&se, "x", 0, 1, &n), *tp = sg_param_add(&sp, "x", 0, 1, &n);
    memcpy(te->data, e, (size_t)n * sizeof(float));
    memcpy(tp->data, p, (size_t)n * sizeof(float));
    sg_ema_update(&se, &sp, keep, false);
    memcpy(e, te->data, (size_t)n * sizeof(float));
    sg_param_set_free(&se);
    sg_param_set_free(&sp);
}

static int is_statistic_(const char *name)
{
    size_t n = strlen(name);
    return (n > 12 && !strcmp(name + n - 12, "running_mean")) || (n > 11 && !strcmp(name + n - 11, "running_var"));
}

static int blend_check_(const char *prev_path, const char *next_path, float keep)
{
    sg_st_file prev, next;
    sg_err err;
    if (sg_st_open(&prev, prev_path, &err)) {
        fprintf(stderr, "ckpt_helper: %s\n", err.msg);
        return 2;
    }
    if (sg_st_open(&next, next_path, &err)) {
        fprintf(stderr, "ckpt_helper: %s\n", err.msg);
        sg_st_close(&prev);
        return 2;
    }
    int n[2] = {0, 0}, ok[2] = {0, 0}, rc = 0;
    for (int i = 0; i < next.n_tensors && !rc; i++) {
        const sg_st_tensor *t = &next.tensors[i];
        if (strncmp(t->name, "ema/", 4) || t->dtype != SG_ST_F32) continue;
        const sg_st_tensor *e0 = sg_st_find(&prev, t->name), *p = twin_(&next, "model/", t->name + 4);
        if (!e0 || !p || !same_shape_(t, e0) || !same_shape_(t, p) || t->numel > (size_t)1 << 30) {
            fprintf(stderr, "ckpt_helper: %s has no twin of its shape\n", t->name);
            rc = 2;
            break;
        }
        float *e = sg_xmalloc(t->numel * sizeof(float)), *m = sg_xmalloc(t->numel * sizeof(float));
        float *want = sg_xmalloc(t->numel * sizeof(float));
        if (sg_st_read_f32(&prev, e0, e, &err) || sg_st_read_f32(&next, p, m, &err) ||
            sg_st_read_f32(&next, t, want, &err)) {
            fprintf(stderr, "ckpt_helper: %s\n", err.msg);
            rc = 2;
        } else {
            blend_(e, m, (int)t->numel, keep);
            int k = is_statistic_(t->name);
            n[k]++;
            ok[k] += !memcmp(e, want, t->numel * sizeof(float));
        }
        free(e);
        free(m);
        free(want);
    }
    if (!rc) printf("parameters %d/%d statistics %d/%d\n", ok[0], n[0], ok[1], n[1]);
    sg_st_close(&prev);
    sg_st_close(&next);
    return rc;
}

int main(int argc, char **argv)
{
    if (argc == 3 && !strcmp(argv[1], "same")) return same_(argv[2]);
    if (argc == 5 && !strcmp(argv[1], "blend")) return blend_check_(argv[2], argv[3], strtof(argv[4], NULL));
    fprintf(stderr, "usage: ckpt_helper same CKPT | blend PREV NEXT KEEP\n");
    return 2;
}
