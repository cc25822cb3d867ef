/*
 * sg-backbone: a run's trained encoder as a pretrained-weights file, the
 * form ImageNet weights come in (what model.pretrained loads).
 *
 *   sg-backbone --checkpoint RUN/ckpt/last.safetensors --out FILE [--weights model|ema]
 *
 * Writes every tensor model/backbone.<name> (or ema/backbone.<name>) of the
 * checkpoint as <name>: "conv1.weight", "layer1.0.bn1.running_mean" for a
 * ResNet (sg_pretrained_load_resnet's torchvision names), "patch_embed1.
 * proj.weight", "block1.0.attn.q.weight" for a MiT (sg_pretrained_load_mit's
 * released names). The heads, optimizer state and generators are left out.
 * Metadata: semiseg.source_digest (the checkpoint's digest) and model (its
 * model line), so a file says which run it came from. Written atomically
 * (sg_st_write). The demo's pretraining stage uses it (experiments/pretrain/
 * README.md). Exit status: 0 done, 1 a runtime error (unreadable
 * checkpoint, no backbone tensors, write error), 2 usage.
 * Covered by tests/pretrain.sh.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "semiseg/checkpoint.h"

static int usage_(const char *why)
{
    FILE *fp = why ? stderr : stdout;
    if (why) fprintf(fp, "sg-backbone: %s\n", why);
    fprintf(fp, "usage: sg-backbone --checkpoint CKPT --out FILE [--weights model|ema]\n"
                "  --checkpoint CKPT  a run's checkpoint (RUN/ckpt/last.safetensors)\n"
                "  --out FILE         the backbone weights, names without \"backbone.\"\n"
                "  --weights SET      the trained model (default) or its EMA teacher\n");
    return why ? 2 : 0;
}

/* The backbone tensors of set `weights` into w; data in *bufs (freed by the caller). */
static int collect_(const sg_st_file *f, const char *weights, sg_st_writer *w, float ***bufs, int *n,
                    sg_err *err)
{
    char prefix[64];
    snprintf(prefix, sizeof prefix, "%s/backbone.", weights);
    const size_t len = strlen(prefix);
    *bufs = sg_xcalloc((size_t)f->n_tensors + 1, sizeof **bufs);
    *n = 0;
    for (int i = 0; i < f->n_tensors; i++) {
        const sg_st_tensor *t = &f->tensors[i];
        if (strncmp(t->name, prefix, len)) continue;
        float *data = sg_xmalloc((t->numel ? t->numel : 1) * sizeof(float));
        (*bufs)[(*n)++] = data;
        if (sg_st_read_f32(f, t, data, err)) return -1;
        int shape[SG_ST_MAX_DIMS];
        for (int d = 0; d < t->ndim; d++) shape[d] = (int)t->shape[d];
        sg_st_add_f32(w, t->name + len, t->ndim, shape, data);
    }
    if (*n == 0) return sg_err_set(err, "%s: no %s* tensors (not a semiseg checkpoint of a run?)", f->path, prefix);
    return 0;
}

int main(int argc, char **argv)
{
    const char *ckpt = NULL, *out = NULL, *weights = "model";
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) return usage_(NULL);
        if (i + 1 >= argc) return usage_("an option lacks its value");
        const char *v = argv[++i];
        if (!strcmp(a, "--checkpoint")) ckpt = v;
        else if (!strcmp(a, "--out")) out = v;
        else if (!strcmp(a, "--weights")) weights = v;
        else return usage_("unknown option");
    }
    if (!ckpt || !out) return usage_("--checkpoint and --out are required");
    if (strcmp(weights, "model") && strcmp(weights, "ema")) return usage_("--weights: expected model or ema");

    sg_err err;
    sg_st_file f;
    if (sg_st_open(&f, ckpt, &err)) {
        fprintf(stderr, "sg-backbone: %s\n", err.msg);
        return 1;
    }
    sg_st_writer w;
    sg_st_writer_init(&w);
    float **bufs = NULL;
    int n = 0, rc = collect_(&f, weights, &w, &bufs, &n, &err);
    if (rc == 0) {
        char digest[32];
        snprintf(digest, sizeof digest, "%016llx", (unsigned long long)sg_st_file_digest(&f));
        sg_st_add_meta(&w, "semiseg.source_digest", digest);
        const char *model = sg_st_meta(&f, "model");
        if (model) sg_st_add_meta(&w, "model", model);
        rc = sg_st_write(&w, out, &err);
    }
    if (rc == 0)
        printf("sg-backbone: %s: %d %s backbone tensors of %s\n", out, n, weights, ckpt);
    else
        fprintf(stderr, "sg-backbone: %s\n", err.msg);
    sg_st_writer_free(&w);
    for (int i = 0; i < n; i++) free(bufs[i]);
    free(bufs);
    sg_st_close(&f);
    return rc ? 1 : 0;
}
