/*
 * eval_helper.c: support program of tests/sg_eval.sh (not a test itself).
 *
 *   eval_helper checkpoint OUT K CLASS   a tiny DeepLabV3+ checkpoint whose
 *       classifier has zero weights and a bias that makes CLASS win at every
 *       pixel: a model with a known prediction;
 *   eval_helper expect ROOT LIST K CLASS the mIoU and accuracy (x100) that
 *       predicting CLASS everywhere must score on the masks of LIST, counted
 *       straight from the mask files: IoU_CLASS = n_CLASS / n_valid, every
 *       other class present in the labels scores 0 (a class absent from both
 *       counts 0 too, as UniMatch's mIoU), accuracy = n_CLASS / n_valid.
 */
#include "semiseg.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int checkpoint_(const char *out, int k, int cls)
{
    sg_deeplab_config cfg = sg_deeplab_config_default(18, k);
    memcpy(cfg.backbone.widths, (int[]){4, 8, 8, 8}, sizeof cfg.backbone.widths);
    cfg.aspp_channels = 4;
    cfg.reduce_channels = 4;
    cfg.decoder_channels = 4;
    sg_deeplab m;
    sg_deeplab_init(&m, &cfg, 3);
    memset(m.cls_w->data, 0, sg_numel(m.cls_w) * sizeof(float));
    for (int c = 0; c < k; c++) m.cls_b->data[c] = c == cls ? 5.0f : -5.0f;
    char line[512];
    sg_deeplab_config_format(&cfg, line, sizeof line);
    sg_checkpoint ck = {.model = &m.params, .iteration = 0};
    sg_checkpoint_set_meta(&ck, "model", line);
    sg_err err;
    int rc = sg_checkpoint_save(&ck, out, &err);
    if (rc) fprintf(stderr, "eval_helper: %s\n", err.msg);
    sg_deeplab_free(&m);
    return rc ? 1 : 0;
}

static int expect_(const char *root, const char *list, int k, int cls)
{
    FILE *fp = fopen(list, "r");
    if (!fp) return 1;
    char img[1024], lab[1024], path[4096];
    double n_cls = 0, n_valid = 0;
    while (fscanf(fp, "%1023s %1023s", img, lab) == 2) {
        snprintf(path, sizeof path, "%s/%s", root, lab);
        sg_image m;
        sg_err err;
        if (sg_mask_read(path, &m, &err)) {
            fprintf(stderr, "eval_helper: %s\n", err.msg);
            fclose(fp);
            return 1;
        }
        for (size_t i = 0; i < (size_t)m.h * m.w; i++) {
            if (m.data[i] == 255) continue;
            n_valid++;
            n_cls += m.data[i] == cls;
        }
        sg_image_free(&m);
    }
    fclose(fp);
    printf("mIoU %.2f\naccuracy %.2f\n", 100.0 * n_cls / n_valid / k, 100.0 * n_cls / n_valid);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc == 5 && !strcmp(argv[1], "checkpoint")) return checkpoint_(argv[2], atoi(argv[3]), atoi(argv[4]));
    if (argc == 6 && !strcmp(argv[1], "expect")) return expect_(argv[2], argv[3], atoi(argv[4]), atoi(argv[5]));
    fprintf(stderr, "usage: eval_helper checkpoint OUT K CLASS | expect ROOT LIST K CLASS\n");
    return 2;
}
