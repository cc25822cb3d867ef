/*
 * sg-eval: evaluate a checkpoint (DeepLabV3+, or AllSpark's networks) on a dataset split.
 *
 *   sg-eval --checkpoint CK --dataset voc|cityscapes|list --root DIR --list FILE
 *           [--classes K] [--class-names A,B,...] [--ignore I] [--weights model|ema]
 *           [--mode whole|center|sliding] [--crop S] [--stride S]
 *           [--pred-dir DIR] [--threads T] [--device cpu|cuda|cuda:N]
 *
 * The architecture comes from the checkpoint's "model" metadata (written by
 * sg_deeplab_config_format; sg_allspark_net_config_format: a line that
 * starts with "arch=allspark" (the SegFormer) or "arch=allspark_deeplab"
 * (the DeepLabV3+); sg_segformer_line_format: "arch=segformer"),
 * the weights from its model/ (or ema/) tensors,
 * the input normalisation from its "normalize" metadata (the run driver
 * writes "mean=a,b,c std=d,e,f"; ImageNet's when absent). Each image is
 * normalised as in training and evaluated
 * in the chosen mode (metrics.h): whole image (VOC), centre crop (U2PL) or
 * sliding window (Cityscapes). Prints mIoU, pixel accuracy and per-class IoU
 * (x100, over the whole split, as UniMatch's evaluate); with --pred-dir it
 * also writes each prediction as a palette PNG in the dataset's palette.
 * `list` datasets need --classes (and use the VOC palette for predictions);
 * --class-names names their classes in the output (data.class_names of a run).
 * Exit status: 0 success, 1 a runtime error (message names the file), 2 usage.
 * Covered by tests/sg_eval.sh.
 */
#include "semiseg.h"

#include <errno.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static int usage_(const char *why)
{
    FILE *fp = why ? stderr : stdout;
    if (why) fprintf(fp, "sg-eval: %s\n", why);
    fprintf(fp,
            "usage: sg-eval --checkpoint CK --dataset voc|cityscapes|list --root DIR --list FILE\n"
            "               [--classes K] [--class-names A,B,...] [--ignore I] [--weights model|ema]\n"
            "               [--mode whole|center|sliding] [--crop S] [--stride S] [--pred-dir DIR] [--threads T]\n"
            "               [--device cpu|cuda|cuda:N]\n");
    return why ? 2 : 0;
}

/* The network a checkpoint's "model" line names, in eval mode. */
typedef struct {
    enum { NET_DEEPLAB, NET_ALLSPARK, NET_SEGFORMER } kind;
    sg_deeplab deeplab;
    sg_allspark_net as;
    sg_segformer sf;
    sg_param_set *params;
    int classes;
    sg_tensor *(*logits)(sg_ctx *ctx, void *model, sg_tensor *image);
    void *self;
} net_;

static int net_parse_(net_ *n, const char *line, sg_err *err)
{
    memset(n, 0, sizeof *n);
    if (!strncmp(line, "arch=segformer", 14)) {
        int variant;
        sg_segformer_config c;
        if (sg_segformer_line_parse(line, &variant, &c, err)) return -1;
        n->kind = NET_SEGFORMER;
        sg_segformer_init(&n->sf, &c, 0);
        n->sf.training = false;
        n->classes = c.num_classes;
        n->logits = sg_segformer_eval_logits;
        return 0;
    }
    if (!strncmp(line, "arch=allspark", 13)) {
        n->kind = NET_ALLSPARK;
        sg_allspark_net_config c;
        if (sg_allspark_net_config_parse(line, &c, err)) return -1;
        sg_allspark_net_init(&n->as, &c, 0);
        *sg_allspark_net_training(&n->as) = false;
        n->classes = c.arch == SG_ALLSPARK_DEEPLAB ? c.deeplab.num_classes : c.seg.num_classes;
        n->logits = sg_allspark_net_eval_logits;
        return 0;
    }
    sg_deeplab_config c;
    if (sg_deeplab_config_parse(line, &c, err)) return -1;
    sg_deeplab_init(&n->deeplab, &c, 0);
    n->deeplab.training = false;
    n->classes = c.num_classes;
    n->logits = sg_deeplab_logits;
    return 0;
}

/* The set and the model the evaluation loop takes. */
static void net_bind_(net_ *n)
{
    switch (n->kind) {
    case NET_ALLSPARK: n->params = sg_allspark_net_params(&n->as); n->self = &n->as; break;
    case NET_SEGFORMER: n->params = &n->sf.params; n->self = &n->sf; break;
    default: n->params = &n->deeplab.params; n->self = &n->deeplab; break;
    }
}

static void net_free_(net_ *n)
{
    switch (n->kind) {
    case NET_ALLSPARK: sg_allspark_net_free(&n->as); break;
    case NET_SEGFORMER: sg_segformer_free(&n->sf); break;
    default: sg_deeplab_free(&n->deeplab); break;
    }
}

static int fail_(const sg_err *err)
{
    fprintf(stderr, "sg-eval: %s\n", err->msg);
    return 1;
}

/* Positive integer option value, or -1. */
static int int_arg_(const char *v)
{
    char *end;
    long x = strtol(v, &end, 10);
    return (end == v || *end || x < 0 || x > 1000000) ? -1 : (int)x;
}

int main(int argc, char **argv)
{
    const char *ckpt = NULL, *kind = NULL, *root = NULL, *list = NULL, *weights = "model",
               *mode = "whole", *pred_dir = NULL, *class_names = NULL, *device = "cpu";
    int classes = 0, ignore = 255, crop = 0, stride = 0, threads = 0;
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) return usage_(NULL);
    for (int i = 1; i < argc; i += 2) {
        if (i + 1 >= argc) return usage_("every option takes a value");
        const char *k = argv[i], *v = argv[i + 1];
        if (!strcmp(k, "--checkpoint")) ckpt = v;
        else if (!strcmp(k, "--dataset")) kind = v;
        else if (!strcmp(k, "--root")) root = v;
        else if (!strcmp(k, "--list")) list = v;
        else if (!strcmp(k, "--weights")) weights = v;
        else if (!strcmp(k, "--mode")) mode = v;
        else if (!strcmp(k, "--pred-dir")) pred_dir = v;
        else if (!strcmp(k, "--classes")) classes = int_arg_(v);
        else if (!strcmp(k, "--class-names")) class_names = v;
        else if (!strcmp(k, "--ignore")) ignore = int_arg_(v);
        else if (!strcmp(k, "--crop")) crop = int_arg_(v);
        else if (!strcmp(k, "--stride")) stride = int_arg_(v);
        else if (!strcmp(k, "--threads")) {
            sg_err e;
            if (sg_num_threads_parse(v, "--threads", &threads, &e)) return usage_(e.msg);
        }
        else if (!strcmp(k, "--device")) device = v;
        else {
            char msg[256];
            snprintf(msg, sizeof msg, "unknown option %s", k);
            return usage_(msg);
        }
    }
    if (!ckpt || !kind || !root || !list) return usage_("--checkpoint, --dataset, --root and --list are required");
    sg_err env_err;
    if (sg_num_threads_env_check(&env_err)) {
        fprintf(stderr, "sg-eval: %s\n", env_err.msg);
        return 1;
    }
    if (classes < 0 || ignore < 0 || ignore > 255 || crop < 0 || stride < 0)
        return usage_("a numeric option has a bad value");
    if (strcmp(weights, "model") && strcmp(weights, "ema")) return usage_("--weights must be model or ema");
    sg_eval_opts eopts = {.crop = crop, .stride = stride, .center_pad_label = 0};
    if (!strcmp(mode, "whole")) eopts.mode = SG_EVAL_WHOLE;
    else if (!strcmp(mode, "center")) eopts.mode = SG_EVAL_CENTER_CROP;
    else if (!strcmp(mode, "sliding")) eopts.mode = SG_EVAL_SLIDING;
    else return usage_("--mode must be whole, center or sliding");
    if (eopts.mode != SG_EVAL_WHOLE && crop < 1) return usage_("--mode center/sliding need --crop");
    if (eopts.mode == SG_EVAL_SLIDING && (sg_eval_stride(&eopts) < 1 || sg_eval_stride(&eopts) > crop))
        return usage_("--mode sliding needs 1 <= --stride <= --crop (no --stride: int(crop * 2 / 3) >= 1)");
    if (threads) sg_set_num_threads(threads);
    if (class_names && strcmp(kind, "list")) return usage_("--class-names is only for --dataset list");

    sg_err err;
    sg_device dev;
    if (sg_device_parse(device, &dev, &err)) return usage_(err.msg);
    const sg_backend *be =
        dev.type == SG_DEVICE_CPU ? sg_backend_cpu_default() : sg_backend_cuda(dev.index, &err);
    if (!be) {
        fprintf(stderr, "sg-eval: --device %s: %s\n", device, err.msg);
        return 1;
    }
    sg_dataset ds;
    int rc;
    if (!strcmp(kind, "voc")) rc = sg_dataset_open_voc(&ds, root, list, &err);
    else if (!strcmp(kind, "cityscapes")) rc = sg_dataset_open_cityscapes(&ds, root, list, &err);
    else if (!strcmp(kind, "list")) {
        if (classes < 1) return usage_("--dataset list needs --classes");
        char **names = NULL;
        if (class_names && !(names = sg_class_names_parse(class_names, classes, &err))) {
            fprintf(stderr, "sg-eval: --class-names %s: %s\n", class_names, err.msg);
            return 2;
        }
        uint8_t palette[768];
        sg_voc_palette(palette);
        sg_list_dataset_config lc = {.root = root, .lists = (const char *const[]){list}, .n_lists = 1,
                                     .n_classes = classes, .ignore_index = ignore,
                                     .class_names = (const char *const *)names, .palette = palette};
        rc = sg_dataset_open_list(&ds, &lc, &err);
        free(names);
    } else {
        return usage_("--dataset must be voc, cityscapes or list");
    }
    if (rc) return fail_(&err);
    if (ds.n == 0) {
        fprintf(stderr, "sg-eval: %s: the list holds no samples\n", list);
        sg_dataset_free(&ds);
        return 1;
    }

    /* The architecture from the checkpoint's metadata, then the weights. */
    sg_st_file f;
    if (sg_st_open(&f, ckpt, &err)) return fail_(&err);
    const char *model_line = sg_st_meta(&f, "model");
    const char *norm_line = sg_st_meta(&f, "normalize");
    sg_augment_config acfg;
    sg_augment_config_unimatch(&acfg, 1);
    float *m = acfg.mean, *sd = acfg.std;
    net_ net;
    bool net_ok = false;
    if (norm_line && sscanf(norm_line, "mean=%g,%g,%g std=%g,%g,%g", &m[0], &m[1], &m[2], &sd[0], &sd[1],
                            &sd[2]) != 6) {
        sg_err_set(&err, "%s: bad \"normalize\" metadata '%s'", ckpt, norm_line);
        rc = -1;
    } else if (!model_line) {
        sg_err_set(&err, "%s: no \"model\" metadata: not a checkpoint written by the run driver", ckpt);
        rc = -1;
    } else if (net_parse_(&net, model_line, &err)) {
        char inner[sizeof err.msg];
        memcpy(inner, err.msg, sizeof inner);
        sg_err_set(&err, "%s: %s", ckpt, inner);
        rc = -1;
    } else if ((net_ok = true, net.classes != ds.n_classes)) {
        sg_err_set(&err, "%s: the model predicts %d classes, the dataset has %d", ckpt, net.classes,
                   ds.n_classes);
        rc = -1;
    }
    /* Everything but the chosen weights is skipped: optimizer, RNG, and the
     * sets a method adds (U2PL's queue/ and rep/, CTT's student_r/ and
     * bank/, ...), each named by the part of its tensors' names up to the
     * first '/' (a bare name, e.g. "iteration", whole). */
    char prefix[8];
    snprintf(prefix, sizeof prefix, "%s/", weights);
    char **skips = sg_xcalloc((size_t)f.n_tensors + 1, sizeof *skips);
    int n_skip = 0;
    for (int i = 0; i < f.n_tensors && !rc; i++) {
        const char *name = f.tensors[i].name, *slash = strchr(name, '/');
        const size_t len = slash ? (size_t)(slash - name) + 1 : strlen(name);
        if (len == strlen(prefix) && !strncmp(name, prefix, len)) continue;
        bool seen = false;
        for (int j = 0; j < n_skip && !seen; j++) seen = strlen(skips[j]) == len && !strncmp(skips[j], name, len);
        if (seen) continue;
        skips[n_skip] = sg_xmalloc(len + 1);
        memcpy(skips[n_skip], name, len);
        skips[n_skip++][len] = 0;
    }
    sg_st_close(&f);
    if (rc) {
        for (int j = 0; j < n_skip; j++) free(skips[j]);
        free(skips);
        if (net_ok) net_free_(&net);
        sg_dataset_free(&ds);
        return fail_(&err);
    }
    net_bind_(&net);
    sg_weights_opts wo = {.rules = (const sg_name_rule[]){{prefix, ""}}, .n_rules = 1,
                          .skip = (const char *const *)skips, .n_skip = n_skip, .strict = true};
    rc = sg_weights_load(net.params, ckpt, &wo, NULL, &err);
    for (int j = 0; j < n_skip; j++) free(skips[j]);
    free(skips);
    if (rc) {
        net_free_(&net);
        sg_dataset_free(&ds);
        return fail_(&err);
    }
    /* Loaded on the host; the forward passes run where --device says. */
    sg_param_set_move(net.params, be);
    if (pred_dir && mkdir(pred_dir, 0777) != 0 && errno != EEXIST) {
        fprintf(stderr, "sg-eval: cannot create %s: %s\n", pred_dir, strerror(errno));
        return 1;
    }

    sg_confusion cm;
    sg_confusion_init(&cm, ds.n_classes, ds.ignore_index);
    sg_ctx ctx;
    sg_ctx_init_on(&ctx, be);
    rc = 0;
    for (int i = 0; i < ds.n && rc == 0; i++) {
        sg_image img = {0}, mask = {0}, pred = {0};
        if (sg_dataset_load(&ds, i, &img, &mask, &err)) {
            rc = -1;
            break;
        }
        sg_tensor *x = sg_tensor_alloc(SG_F32, 4, (const int[]){1, 3, img.h, img.w}, false);
        sg_aug_normalize(x->data, &img, acfg.mean, acfg.std);
        rc = sg_eval_image(&ctx, &eopts, net.logits, net.self, x, &mask, &cm, pred_dir ? &pred : NULL, &err);
        if (rc == 0 && pred_dir) {
            char base[4096], path[8192];
            snprintf(base, sizeof base, "%s", ds.samples[i].image);
            char *name = basename(base), *dot = strrchr(name, '.');
            if (dot) *dot = 0;
            snprintf(path, sizeof path, "%s/%s.png", pred_dir, name);
            rc = sg_colorize_write(path, &pred, ds.palette, &err);
        }
        sg_tensor_free(x);
        sg_image_free(&img);
        sg_image_free(&mask);
        sg_image_free(&pred);
    }
    if (rc == 0) {
        printf("images %d\nmIoU %.2f\naccuracy %.2f\n", ds.n, 100.0 * sg_confusion_miou(&cm, SG_MIOU_ALL),
               100.0 * sg_confusion_accuracy(&cm));
        for (int k = 0; k < ds.n_classes; k++)
            printf("class %d %s IoU %.2f\n", k, ds.class_names[k], 100.0 * sg_confusion_iou(&cm, k));
    }
    sg_ctx_free(&ctx);
    sg_confusion_free(&cm);
    net_free_(&net);
    sg_dataset_free(&ds);
    return rc ? fail_(&err) : 0;
}
