/*
 * run_config.c: the run driver's configuration sections ([run] seeds,
 * [data], [augment], [model], [train], [eval], [output], [debug]) read into
 * the run and its private state (run_priv.h), with defaults, ranges, the
 * combinations that cannot work, and the file:line of every bad value
 * (config.h). The keys and their meaning are listed in experiments/README.md
 * (tests/config_keys_doc.sh checks that every key read is there), the method
 * sections in experiments/<method>/README.md. Covered by
 * tests/run_config_errors.sh and every trainer test.
 */
#include "run_priv.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *const kinds_[] = {"voc", "cityscapes", "list", NULL};
static const char *const styles_[] = {"pairs", "voc_ids", "cityscapes", NULL};
static const char *const stems_[] = {"torchvision", "deep", NULL};
static const char *const losses_[] = {"ce", "ohem", NULL};
static const char *const modes_[] = {"whole", "center", "sliding", NULL};

/* Every key the driver reads (the getters below, and model.pretrained in
 * run.c), checked by name before any value is (sg_run_check_names): a
 * misspelt key is then reported as unknown rather than as the consequence of
 * its absence ("exactly one of train.iterations and train.epochs ..."). A key
 * read but missing here would be refused as unknown by every run, so the
 * trainer tests keep the list complete. */
static const char *const driver_keys_[] = {
    "run.dataset", "run.protocol", "run.name", "run.seed", "run.seed_index", "run.seeds", "run.device", "run.deterministic",
    "run.tf32",
    "data.kind", "data.root", "data.split", "data.val", "data.test", "data.list_style", "data.n_classes", "data.class_names",
    "data.ignore_index", "data.crop", "data.unlabeled_mask", "data.workers", "data.prefetch",
    "augment.scale", "augment.flip_p", "augment.mean", "augment.std",
    "model.depth", "model.widths", "model.stem", "model.output_stride", "model.multi_grid", "model.aspp_channels",
    "model.aspp_rates", "model.reduce_channels", "model.decoder_channels", "model.pretrained",
    "train.batch_size", "train.batch_size_u", "train.lr", "train.lr_multi", "train.momentum",
    "train.weight_decay", "train.poly_power", "train.loss", "train.ohem_thresh", "train.ohem_min_kept",
    "train.iterations", "train.epochs",
    "eval.mode", "eval.crop", "eval.stride", "eval.center_pad_label", "eval.interval",
    "output.checkpoint_interval", "output.print_interval", "output.runs", "output.reports",
    "debug.nan_at_iter", "debug.kill_at_iter", "debug.term_at_iter", NULL};
/* Read only by the semi-supervised trainers (sg_run_read_augment). */
static const char *const strong_keys_[] = {
    "augment.jitter_p", "augment.brightness", "augment.contrast", "augment.saturation", "augment.hue",
    "augment.gray_p", "augment.blur_p", "augment.blur_sigma", "augment.cutmix_p", "augment.cutmix_area",
    "augment.cutmix_ratio", "augment.intensity_ops", "augment.intensity_random_num", NULL};

int sg_run_check_names(sg_run *run, sg_err *err)
{
    const char *known[sizeof driver_keys_ / sizeof *driver_keys_ + sizeof strong_keys_ / sizeof *strong_keys_ + 2];
    int n = 0;
    for (int i = 0; driver_keys_[i]; i++) known[n++] = driver_keys_[i];
    if (run->priv->m->unlabeled_loaders > 0)
        for (int i = 0; strong_keys_[i]; i++) known[n++] = strong_keys_[i];
    /* The method's own section: its keys are checked by name once init has
     * read them (sg_config_check_unused). */
    char own[128];
    snprintf(own, sizeof own, "%s.*", run->method);
    known[n++] = own;
    /* A method with its own network reads [model] itself (run.h net_build);
     * keys it does not read are refused after init, as unused. */
    if (run->priv->m->net_build) known[n++] = "model.*";
    known[n] = NULL;
    return sg_config_check_known(run->cfg, known, err);
}

/* The origin of the first of two keys that has a value, for a message about
 * a combination of them ("default" when neither has). */
static const char *given_(const sg_config *c, const char *a, const char *b)
{
    const char *o = sg_config_origin(c, a);
    if (!o) o = sg_config_origin(c, b);
    return o ? o : "default";
}

/* data.class_names: the names of a list dataset's classes (eval.tsv
 * columns, report figures); VOC and Cityscapes have theirs built in. */
static int read_class_names_(sg_config *c, int kind, int n_classes, char ***names, sg_err *err)
{
    const char *key = "data.class_names", *origin = sg_config_origin(c, key);
    if (!origin) return 0;
    if (kind != SG_DATASET_LIST)
        return sg_err_set(err, "%s: %s is only for data.kind = list (%s has its class names built in)", origin,
                          key, kinds_[kind]);
    const char *text;
    TRY(sg_config_string(c, key, NULL, &text, err));
    sg_err why;
    *names = sg_class_names_parse(text, n_classes, &why);
    return *names ? 0 : sg_err_set(err, "%s: %s = %s: %s", origin, key, text, why.msg);
}

/* run.dataset, run.protocol and run.name name a folder under output.runs and
 * output.reports and a results.csv field: "." or ".." (or a '/') would put
 * them outside those roots or merge runs, and a ',', '"', '\\' or a control
 * character would break the unquoted CSV row or result.json. */
static int check_name_(const sg_config *c, const char *key, const char *v, sg_err *err)
{
    bool bad = !v[0] || strlen(v) >= 64 || !strcmp(v, ".") || !strcmp(v, "..");
    for (const char *q = v; *q && !bad; q++) bad = strchr("/,\"\\", *q) || (unsigned char)*q < 0x20;
    if (!bad) return 0;
    const char *o = sg_config_origin(c, key);
    return sg_err_set(err, "%s: %s = '%s': expected a name of 1-63 characters, not '.' or '..', without '/', ',', "
                      "'\"', '\\' or control characters", o ? o : "default", key, v);
}

/* Adds a problem for each listed image (and, with masks, mask) that is not
 * a regular file, naming the list file and line. */
static void check_files_(const sg_dataset *ds, bool masks, sg_problems *probs)
{
    for (int i = 0; i < ds->n; i++) {
        const sg_sample *s = &ds->samples[i];
        const char *where = s->where ? s->where : ds->list;
        struct stat st;
        if (stat(s->image, &st) || !S_ISREG(st.st_mode))
            sg_problems_add(probs, "%s: image %s is missing or not a regular file", where, s->image);
        if (masks && s->mask && (stat(s->mask, &st) || !S_ISREG(st.st_mode)))
            sg_problems_add(probs, "%s: mask %s is missing or not a regular file", where, s->mask);
    }
}

/* The test set is held out: an image of `test` also in `other` (training
 * or model selection) is a problem naming both lines. */
static int cmp_entry_image_(const void *a, const void *b)
{
    return strcmp((*(const sg_list_entry *const *)a)->image, (*(const sg_list_entry *const *)b)->image);
}

static void held_out_(const sg_list *test, const sg_list *other, sg_problems *probs)
{
    if (!other->n || !test->n) return;
    const sg_list_entry **sorted = sg_xmalloc((size_t)other->n * sizeof *sorted);
    for (int i = 0; i < other->n; i++) sorted[i] = &other->e[i];
    qsort(sorted, (size_t)other->n, sizeof *sorted, cmp_entry_image_);
    for (int i = 0; i < test->n; i++) {
        const sg_list_entry *key = &test->e[i], **hit = bsearch(&key, sorted, (size_t)other->n, sizeof *sorted,
                                                                 cmp_entry_image_);
        if (hit)
            sg_problems_add(probs, "%s:%d: %s is also in %s:%d: the test set must be held out", test->path,
                            key->line, key->image, other->path, (*hit)->line);
    }
    free(sorted);
}

/* Every problem of the lists as sg-data check finds it, before training
 * rather than in it: an image listed twice (trained on twice as often) or
 * both labeled and unlabeled, and an image or mask that is missing or not
 * a regular file (otherwise found mid-epoch or, for val, only at the final
 * evaluation). The unlabeled list counts only for the semi-supervised
 * trainers, its masks only with data.unlabeled_mask. All problems are
 * printed; err counts them. */
static int check_lists_(sg_run_priv_ *p, sg_err *err)
{
    sg_problems probs = {0};
    bool semi = p->m->unlabeled_loaders > 0;
    if (semi)
        sg_split_check(&p->split, NULL, &probs);
    else
        sg_list_check(&p->split.labeled, NULL, &probs);
    sg_list_check(&p->val_list, NULL, &probs);
    check_files_(&p->lab, true, &probs);
    check_files_(&p->val, true, &probs);
    if (p->test_ok) {
        sg_list_check(&p->test_list, NULL, &probs);
        check_files_(&p->test, true, &probs);
        held_out_(&p->test_list, &p->split.labeled, &probs);
        if (semi) held_out_(&p->test_list, &p->split.unlabeled, &probs);
        held_out_(&p->test_list, &p->val_list, &probs);
    }
    if (semi) check_files_(&p->unl, p->unlabeled_mask, &probs);
    if (!probs.n) return 0;
    sg_problems_print(&probs, stderr);
    int n = probs.n;
    sg_problems_free(&probs);
    return sg_err_set(err, "%d problem%s in the data lists (above; `sg-data check` reports the same)", n,
                      n == 1 ? "" : "s");
}

/* The labeled, validation, test (when data.test is given) and (when the
 * method has unlabeled loaders) unlabeled datasets, from the lists already
 * read. */
static int open_datasets_(sg_run_priv_ *p, sg_dataset_kind kind, const char *root,
                          const sg_list_dataset_config *lc, sg_err *err)
{
    TRY(sg_dataset_from_list(&p->lab, kind, root, &p->split.labeled, lc, err));
    p->lab_ok = true;
    TRY(sg_dataset_from_list(&p->val, kind, root, &p->val_list, lc, err));
    p->val_ok = true;
    if (p->test_list_ok) {
        TRY(sg_dataset_from_list(&p->test, kind, root, &p->test_list, lc, err));
        p->test_ok = true;
    }
    if (p->m->unlabeled_loaders > 0) {
        TRY(sg_dataset_from_list(&p->unl, kind, root, &p->split.unlabeled, lc, err));
        p->unl_ok = true;
    }
    return 0;
}

int sg_run_read_data(sg_run *run, sg_err *err)
{
    sg_run_priv_ *p = run->priv;
    sg_config *c = run->cfg;
    int kind, style;
    const char *root, *split, *val, *test;
    long n_classes, ignore;
    TRY(sg_config_choice(c, "data.kind", NULL, kinds_, &kind, err));
    TRY(sg_config_string(c, "data.root", NULL, &root, err));
    TRY(sg_config_string(c, "data.split", NULL, &split, err));
    TRY(sg_config_string(c, "data.val", NULL, &val, err));
    TRY(sg_config_string(c, "data.test", "", &test, err));
    TRY(sg_config_choice(c, "data.list_style", "pairs", styles_, &style, err));
    TRY(sg_config_int(c, "data.n_classes", kind == SG_DATASET_VOC ? 21 : kind == SG_DATASET_CITYSCAPES ? 19 : 0,
                      1, 255, &n_classes, err));
    TRY(sg_config_int(c, "data.ignore_index", 255, 1, 255, &ignore, err));
    TRY(sg_config_bool(c, "data.unlabeled_mask", true, &p->unlabeled_mask, err));
    long workers, prefetch;
    TRY(sg_config_int(c, "data.workers", 2, 1, 64, &workers, err));
    TRY(sg_config_int(c, "data.prefetch", 2, 1, 64, &prefetch, err));
    p->workers = (int)workers;
    p->prefetch = (int)prefetch;

    /* [run] names the run; defaults from the data section. */
    const char *dataset, *protocol;
    char base[256]; /* the split directory's name: "splits/demo/24/" -> "24" */
    size_t len = strlen(split);
    while (len > 1 && split[len - 1] == '/') len--;
    size_t from = len;
    while (from > 0 && split[from - 1] != '/') from--;
    snprintf(base, sizeof base, "%.*s", (int)(len - from), split + from);
    TRY(sg_config_string(c, "run.dataset", kinds_[kind], &dataset, err));
    TRY(sg_config_string(c, "run.protocol", base, &protocol, err));
    TRY(check_name_(c, "run.dataset", dataset, err));
    TRY(check_name_(c, "run.protocol", protocol, err));
    const char *name;
    TRY(sg_config_string(c, "run.name", run->method, &name, err));
    TRY(check_name_(c, "run.name", name, err));
    strcpy(run->name, name);
    strcpy(run->dataset, dataset);
    strcpy(run->protocol, protocol);

    TRY(sg_split_read(&p->split, split, (sg_list_style)style, NULL, err));
    p->split_ok = true;
    TRY(sg_list_read(&p->val_list, val, (sg_list_style)style, NULL, err));
    p->val_list_ok = true;
    if (test[0]) {
        TRY(sg_list_read(&p->test_list, test, (sg_list_style)style, NULL, err));
        p->test_list_ok = true;
    }
    if (kind == SG_DATASET_LIST && !sg_config_has(c, "data.n_classes"))
        return sg_err_set(err, "data.n_classes is required for data.kind = list");
    if (kind != SG_DATASET_LIST && (n_classes != (kind == SG_DATASET_VOC ? 21 : 19) || ignore != 255))
        return sg_err_set(err,
                          "%s: data.n_classes = %ld, data.ignore_index = %ld: %s has %d classes and ignore index 255 "
                          "built in (data.kind = list for another labelling)",
                          given_(c, "data.n_classes", "data.ignore_index"),
                          n_classes, ignore, kinds_[kind], kind == SG_DATASET_VOC ? 21 : 19);
    char **names = NULL;
    TRY(read_class_names_(c, kind, (int)n_classes, &names, err));
    sg_list_dataset_config lc = {.n_classes = (int)n_classes,
                                 .ignore_index = (int)ignore,
                                 .class_names = (const char *const *)names};
    int rc = open_datasets_(p, (sg_dataset_kind)kind, root, &lc, err);
    free(names);
    if (rc) return rc;
    TRY(check_lists_(p, err));
    run->n_classes = p->lab.n_classes;
    run->ignore_index = p->lab.ignore_index;
    run->n_labeled = p->split.labeled.n;
    run->n_unlabeled = p->split.unlabeled.n;
    return 0;
}

int sg_run_read_augment(sg_run *run, sg_err *err)
{
    sg_run_priv_ *p = run->priv;
    sg_config *c = run->cfg;
    sg_augment_config *a = &p->aug;
    long crop;
    TRY(sg_config_int(c, "data.crop", 321, 8, 4096, &crop, err));
    run->crop = (int)crop;
    sg_augment_config_unimatch(a, run->crop);
    /* Crop padding of a labeled mask must be ignored by the loss and mIoU,
     * so it is the dataset's ignore index (255 for VOC and Cityscapes). */
    a->weak.label_fill = run->ignore_index;
    if (p->m->unlabeled_loaders > 0 && run->ignore_index == a->weak.unlabeled_fill)
        return sg_err_set(err, "%s: data.ignore_index = %d is reserved: it marks the crop padding of unlabeled "
                          "images (UniMatch's convention)", sg_config_origin(c, "data.ignore_index"),
                          a->weak.unlabeled_fill);
    float scale[2] = {(float)a->weak.scale_min, (float)a->weak.scale_max};
    TRY(sg_config_floats(c, "augment.scale", scale, 2, scale, err));
    a->weak.scale_min = scale[0];
    a->weak.scale_max = scale[1];
    TRY(sg_config_float(c, "augment.flip_p", a->weak.flip_p, 0, 1, &a->weak.flip_p, err));
    TRY(sg_config_floats(c, "augment.mean", a->mean, 3, a->mean, err));
    TRY(sg_config_floats(c, "augment.std", a->std, 3, a->std, err));
    if (p->m->unlabeled_loaders > 0) {
        sg_strong_config *s = &a->strong;
        TRY(sg_config_float(c, "augment.jitter_p", s->jitter_p, 0, 1, &s->jitter_p, err));
        TRY(sg_config_float(c, "augment.brightness", s->brightness, 0, 10, &s->brightness, err));
        TRY(sg_config_float(c, "augment.contrast", s->contrast, 0, 10, &s->contrast, err));
        TRY(sg_config_float(c, "augment.saturation", s->saturation, 0, 10, &s->saturation, err));
        TRY(sg_config_float(c, "augment.hue", s->hue, 0, 0.5f, &s->hue, err));
        TRY(sg_config_float(c, "augment.gray_p", s->gray_p, 0, 1, &s->gray_p, err));
        TRY(sg_config_float(c, "augment.blur_p", s->blur_p, 0, 1, &s->blur_p, err));
        float sig[2] = {s->blur_sigma_min, s->blur_sigma_max};
        TRY(sg_config_floats(c, "augment.blur_sigma", sig, 2, sig, err));
        s->blur_sigma_min = sig[0];
        s->blur_sigma_max = sig[1];
        long nops = s->intensity_ops;
        TRY(sg_config_int(c, "augment.intensity_ops", nops, 0, SG_INTENSITY_MAX, &nops, err));
        s->intensity_ops = (int)nops;
        bool rnum = true;
        TRY(sg_config_bool(c, "augment.intensity_random_num", rnum, &rnum, err));
        s->intensity_random_num = rnum;
        TRY(sg_config_float(c, "augment.cutmix_p", a->cutmix.p, 0, 1, &a->cutmix.p, err));
        float area[2] = {(float)a->cutmix.area_min, (float)a->cutmix.area_max};
        float ratio[2] = {(float)a->cutmix.ratio_min, (float)a->cutmix.ratio_max};
        TRY(sg_config_floats(c, "augment.cutmix_area", area, 2, area, err));
        TRY(sg_config_floats(c, "augment.cutmix_ratio", ratio, 2, ratio, err));
        a->cutmix.area_min = area[0];
        a->cutmix.area_max = area[1];
        a->cutmix.ratio_min = ratio[0];
        a->cutmix.ratio_max = ratio[1];
    }
    if (sg_augment_config_check(a, err)) {
        char m[sizeof err->msg];
        snprintf(m, sizeof m, "%s", err->msg);
        return sg_err_set(err, "[augment]: %s", m);
    }
    return 0;
}

int sg_run_read_deeplab(const sg_run *run, sg_deeplab_config *cfg, sg_err *err)
{
    sg_config *c = run->cfg;
    long depth;
    TRY(sg_config_int(c, "model.depth", 101, 18, 101, &depth, err));
    if (depth != 18 && depth != 34 && depth != 50 && depth != 101)
        return sg_err_set(err, "model.depth = %ld: expected 18, 34, 50 or 101", depth);
    sg_deeplab_config m = sg_deeplab_config_default((int)depth, run->n_classes);
    int stem = (int)m.backbone.stem, os;
    long v;
    TRY(sg_config_ints(c, "model.widths", m.backbone.widths, 4, 1, 4096, m.backbone.widths, err));
    TRY(sg_config_choice(c, "model.stem", stems_[stem], stems_, &stem, err));
    m.backbone.stem = (sg_resnet_stem)stem;
    TRY(sg_config_int(c, "model.output_stride", m.backbone.output_stride, 8, 16, &v, err));
    os = (int)v;
    if (os != 8 && os != 16) return sg_err_set(err, "model.output_stride = %d: expected 8 or 16", os);
    m.backbone.output_stride = os;
    bool multi = m.backbone.multi_grid;
    TRY(sg_config_bool(c, "model.multi_grid", multi, &multi, err));
    m.backbone.multi_grid = multi;
    TRY(sg_config_int(c, "model.aspp_channels", m.aspp_channels, 1, 4096, &v, err));
    m.aspp_channels = (int)v;
    TRY(sg_config_ints(c, "model.aspp_rates", m.aspp_rates, 3, 1, 64, m.aspp_rates, err));
    TRY(sg_config_int(c, "model.reduce_channels", m.reduce_channels, 1, 4096, &v, err));
    m.reduce_channels = (int)v;
    TRY(sg_config_int(c, "model.decoder_channels", m.decoder_channels, 1, 4096, &v, err));
    m.decoder_channels = (int)v;
    *cfg = m;
    return 0;
}

int sg_run_read_segformer(const sg_run *run, int *variant, sg_segformer_config *cfg, sg_err *err)
{
    sg_config *c = run->cfg;
    long mit, embed;
    float dpr, head_drop;
    TRY(sg_config_int(c, "model.mit", 5, 0, 5, &mit, err));
    *cfg = sg_segformer_config_preset((int)mit, run->n_classes);
    TRY(sg_config_int(c, "model.embed_dim", cfg->embed_dim, 1, 4096, &embed, err));
    TRY(sg_config_float(c, "model.drop_path_rate", 0.1f, 0, 0.99f, &dpr, err));
    TRY(sg_config_float(c, "model.head_dropout", 0.1f, 0, 0.99f, &head_drop, err));
    cfg->embed_dim = (int)embed;
    cfg->backbone.drop_path_rate = dpr;
    cfg->head_dropout = head_drop;
    *variant = (int)mit;
    return 0;
}

int sg_run_read_train(sg_run *run, sg_err *err)
{
    sg_run_priv_ *p = run->priv;
    sg_config *c = run->cfg;
    long v;
    TRY(sg_config_int(c, "train.batch_size", 8, 1, 4096, &v, err));
    run->batch_size = (int)v;
    TRY(sg_config_int(c, "train.batch_size_u", run->batch_size, 1, 4096, &v, err));
    run->batch_size_u = (int)v;
    TRY(sg_config_float(c, "train.lr", 0.001f, 0, 100, &p->lr_base, err));
    TRY(sg_config_float(c, "train.lr_multi", 10, 0, 1000, &p->lr_multi, err));
    float momentum, wd;
    TRY(sg_config_float(c, "train.momentum", 0.9f, 0, 1, &momentum, err));
    TRY(sg_config_float(c, "train.weight_decay", 1e-4f, 0, 1, &wd, err));
    TRY(sg_config_float(c, "train.poly_power", 0.9f, 0, 10, &p->poly_power, err));
    TRY(sg_config_choice(c, "train.loss", "ce", losses_, &p->loss_kind, err));
    TRY(sg_config_float(c, "train.ohem_thresh", 0.7f, 0, 1, &p->ohem_thresh, err));
    TRY(sg_config_int(c, "train.ohem_min_kept", 200000, 0, 1L << 40, &p->ohem_min_kept, err));
    long iters, epochs;
    TRY(sg_config_int(c, "train.iterations", 0, 0, 1L << 40, &iters, err));
    TRY(sg_config_int(c, "train.epochs", 0, 0, 65535, &epochs, err));
    if ((iters > 0) == (epochs > 0))
        return sg_err_set(err, "exactly one of train.iterations and train.epochs must be > 0 (iterations %ld, "
                               "epochs %ld)", iters, epochs);
    /* Iterations per epoch as the loaders count them (drop_last). */
    long n_epoch = p->m->unlabeled_loaders > 0 ? run->n_unlabeled : run->n_labeled;
    long b_epoch = p->m->unlabeled_loaders > 0 ? run->batch_size_u : run->batch_size;
    run->iters_per_epoch = n_epoch / b_epoch;
    if (run->iters_per_epoch < 1)
        return sg_err_set(err, "the %s list has %ld images, fewer than one batch of %ld",
                          p->m->unlabeled_loaders > 0 ? "unlabeled" : "labeled", n_epoch, b_epoch);
    run->total_iters = iters > 0 ? iters : epochs * run->iters_per_epoch;
    /* The loaders key their draws by a 16-bit epoch and prefetch into the
     * epoch after the last one, so the last is at most 65534: 65535 epochs. */
    if ((run->total_iters - 1) / run->iters_per_epoch >= 65535)
        return sg_err_set(err, "%ld iterations of %ld per epoch: more than 65535 epochs", run->total_iters,
                          run->iters_per_epoch);
    sg_sgd_init(&run->opt, run->net.params, 2, momentum, wd);
    p->opt_ok = true;
    run->opt.groups[1].lr_mult = p->lr_multi;
    return 0;
}

int sg_run_read_eval_output(sg_run *run, sg_err *err)
{
    sg_run_priv_ *p = run->priv;
    sg_config *c = run->cfg;
    int mode;
    long v;
    const char *every;
    TRY(sg_config_choice(c, "eval.mode", "whole", modes_, &mode, err));
    p->eval.mode = (sg_eval_mode)mode;
    TRY(sg_config_int(c, "eval.crop", run->crop, 1, 1 << 16, &v, err));
    p->eval.crop = (int)v;
    TRY(sg_config_int(c, "eval.stride", 0, 0, 1 << 16, &v, err));
    p->eval.stride = (int)v;
    /* Sliding windows start every stride pixels: a stride of 0 would never
     * advance and one above the crop would leave pixels no window covers. */
    int stride = sg_eval_stride(&p->eval);
    if (p->eval.mode == SG_EVAL_SLIDING && (stride < 1 || stride > p->eval.crop))
        return sg_err_set(err,
                          "%s: eval.crop = %d, eval.stride = %d: sliding windows need 1 <= stride <= crop (the "
                          "stride used: %d; 0 means int(crop * 2 / 3))",
                          given_(c, "eval.stride", "eval.crop"), p->eval.crop, p->eval.stride, stride);
    TRY(sg_config_int(c, "eval.center_pad_label", 0, 0, 255, &v, err));
    p->eval.center_pad_label = (int)v;
    TRY(sg_config_string(c, "eval.interval", "epoch", &every, err));
    if (!strcmp(every, "epoch")) {
        p->eval_every = run->iters_per_epoch;
    } else {
        char *end;
        errno = 0;
        p->eval_every = strtol(every, &end, 10);
        if (errno || end == every || *end || p->eval_every < 0)
            return sg_err_set(err, "%s: eval.interval = %s: expected 'epoch' or a number of iterations (0: at "
                                   "the end only)", sg_config_origin(c, "eval.interval"), every);
    }
    TRY(sg_config_int(c, "output.checkpoint_interval", 1000, 0, 1L << 40, &p->ckpt_every, err));
    TRY(sg_config_int(c, "output.print_interval", 0, 0, 1L << 40, &p->print_every, err));
    if (p->print_every == 0) p->print_every = run->total_iters / 20 > 0 ? run->total_iters / 20 : 1;
    TRY(sg_config_string(c, "output.runs", "runs", &p->runs_root, err));
    TRY(sg_config_string(c, "output.reports", "reports", &p->reports_root, err));
    /* Test hooks (documented in tests/run_nan.sh and tests/run_resume.sh):
     * a NaN loss at the given iteration, SIGKILL after it. */
    TRY(sg_config_int(c, "debug.nan_at_iter", 0, 0, 1L << 40, &p->nan_at_iter, err));
    TRY(sg_config_int(c, "debug.kill_at_iter", 0, 0, 1L << 40, &p->kill_at_iter, err));
    TRY(sg_config_int(c, "debug.term_at_iter", 0, 0, 1L << 40, &p->term_at_iter, err));
    return 0;
}

/* run.device: the backend the run's context gets (the model and the
 * teacher move there once built, sg_run_main). A device that this build or
 * machine lacks is an error naming the cause. run.deterministic = false lets
 * a backend that has the choice (CUDA) take its fastest algorithms. */
int sg_run_read_device(sg_run *run, sg_err *err)
{
    const char *name;
    TRY(sg_config_string(run->cfg, "run.device", "cpu", &name, err));
    sg_device d;
    sg_err e;
    if (sg_device_parse(name, &d, &e)) return sg_err_set(err, "run.device: %s", e.msg);
    const sg_backend *be =
        d.type == SG_DEVICE_CPU ? sg_backend_cpu_default() : sg_backend_cuda(d.index, &e);
    if (!be) return sg_err_set(err, "run.device = %s: %s", name, e.msg);
    bool det, tf32;
    TRY(sg_config_bool(run->cfg, "run.deterministic", true, &det, err));
    if (be->set_deterministic) be->set_deterministic(det);
    TRY(sg_config_bool(run->cfg, "run.tf32", false, &tf32, err));
    if (tf32 && !be->set_tf32)
        return sg_err_set(err, "run.tf32 = true: the %s backend has no TF32 mode (CUDA only)",
                          be->name);
    if (be->set_tf32) be->set_tf32(tf32);
    run->priv->tf32 = tf32;
    run->priv->device = be;
    return 0;
}

/* sg_seeds_read with the key named in an error: the default splits/seeds,
 * like any relative path, is resolved from the current directory, which for
 * a trainer started elsewhere is not the checkout. */
static int seeds_read_(const sg_config *c, const char *path, uint64_t seeds[256], sg_err *err)
{
    sg_err e;
    int n = sg_seeds_read(path, seeds, 256, &e);
    if (n >= 0) return n;
    const char *o = sg_config_origin(c, "run.seeds");
    char cwd[4096];
    if (path[0] == '/' || !getcwd(cwd, sizeof cwd))
        return sg_err_set(err, "%s: run.seeds: %s", o ? o : "default", e.msg);
    return sg_err_set(err, "%s: run.seeds: %s (a relative path is resolved from the current directory, %s)",
                      o ? o : "default", e.msg, cwd);
}

/* The seed: run.seed, or entry run.seed_index of the run.seeds file. When
 * both are given (a config.resolved records both), an override on the
 * command line beats a file's value, so `--config config.resolved
 * --seed-index 2` and `--seed 7` both do what they say; two overrides must
 * name the same seed; in a file run.seed wins, and the seeds file is then
 * not read (a config.resolved reruns where splits/seeds is absent). */
int sg_run_read_seed(sg_run *run, sg_err *err)
{
    sg_config *c = run->cfg;
    const char *seeds_file;
    long index, s;
    TRY(sg_config_string(c, "run.seeds", "splits/seeds", &seeds_file, err));
    TRY(sg_config_int(c, "run.seed_index", 0, 0, 1 << 20, &index, err));
    const char *so = sg_config_origin(c, "run.seed"), *io = sg_config_origin(c, "run.seed_index");
    bool s_set = so && !strcmp(so, "--set"), i_set = io && !strcmp(io, "--set");
    bool seed_wins = so && !(io && i_set && !s_set);
    uint64_t listed = 0;
    bool check = io && s_set && i_set;
    if (!seed_wins || check) {
        uint64_t seeds[256];
        int n = seeds_read_(c, seeds_file, seeds, err);
        if (n < 0) return -1;
        if (index >= n) return sg_err_set(err, "run.seed_index = %ld: %s holds %d seeds", index, seeds_file, n);
        listed = seeds[index];
    }
    if (seed_wins) {
        TRY(sg_config_int(c, "run.seed", 0, 0, (1L << 31) - 1, &s, err));
        if (check && (uint64_t)s != listed)
            return sg_err_set(err, "%s: run.seed = %ld but %s: run.seed_index = %ld is seed %llu of %s: give one of them",
                              so, s, io, index, (unsigned long long)listed, seeds_file);
        run->seed = (uint64_t)s;
        return 0;
    }
    run->seed = listed;
    if (so) { /* a file's run.seed, overridden by --set run.seed_index: record the seed used */
        char set[64];
        snprintf(set, sizeof set, "run.seed=%llu", (unsigned long long)listed);
        TRY(sg_config_set(c, set, err));
    }
    TRY(sg_config_int(c, "run.seed", (long)run->seed, 0, (1L << 31) - 1, &s, err));
    return 0;
}
