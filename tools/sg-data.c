/*
 * sg-data: dataset and split utilities (the command-line face of dataset.h
 * and split.h).
 *
 *   sg-data count [--style S] FILE...
 *       parse list files; print "<entries>\t<file>" for each.
 *   sg-data check-split [--style S] DIR...
 *       read DIR/labeled.txt and DIR/unlabeled.txt; print
 *       "<labeled>\t<unlabeled>\t<dir>" and every problem that needs no
 *       files (empty list, duplicate, labeled/unlabeled overlap).
 *   sg-data check --dataset voc|cityscapes|list --root DIR [--split DIR]
 *                 [--list FILE]... [--classes N] [--ignore I] [--style S]
 *                 [--no-decode]
 *       validate a dataset and split: labeled and
 *       unlabeled disjoint, no duplicates, no empty list, every file present,
 *       and (unless --no-decode) every image and mask decodable, mask size ==
 *       image size, every label < classes or == ignore. All problems are
 *       printed (file:line each), then a count; exit 1 when there is any.
 *   sg-data make-split --train-list FILE --labeled N --seed S --out DIR [--style S]
 *       draw N labeled entries of FILE with Philox (seed S); the rest are
 *       unlabeled; writes DIR/labeled.txt and DIR/unlabeled.txt.
 *   sg-data seeds FILE
 *       validate a seed list and print one seed a line.
 *
 * --style pairs|voc|cityscapes says how one-field lines are read (split.h);
 * the default follows --dataset (list: pairs), else pairs.
 * Exit status: 0 success, 1 problems found or an error, 2 bad usage.
 * Covered by tests/splits_reference.sh and tests/check_data.sh.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "semiseg.h"
#include "semiseg/dataset.h"
#include "semiseg/split.h"

enum { SG_MAX_LISTS_ = 16, SG_MAX_SEEDS_ = 1024 };

/* The usage on stdout with status 0 for --help, else on stderr with 2. */
static int usage_to_(FILE *fp, int status)
{
    fprintf(fp,
            "usage: sg-data count [--style S] FILE...\n"
            "       sg-data check-split [--style S] DIR...\n"
            "       sg-data check --dataset voc|cityscapes|list --root DIR [--split DIR] [--list FILE]...\n"
            "                     [--classes N] [--ignore I] [--style S] [--no-decode]\n"
            "       sg-data make-split --train-list FILE --labeled N --seed S --out DIR [--style S]\n"
            "       sg-data seeds FILE\n"
            "styles: pairs, voc, cityscapes\n");
    return status;
}

static int usage_(void) { return usage_to_(stderr, 2); }

static int parse_style_(const char *s, sg_list_style *style)
{
    if (strcmp(s, "pairs") == 0)
        *style = SG_LIST_PAIRS;
    else if (strcmp(s, "voc") == 0)
        *style = SG_LIST_VOC_IDS;
    else if (strcmp(s, "cityscapes") == 0)
        *style = SG_LIST_CITYSCAPES;
    else
        return -1;
    return 0;
}

/* Parses a non-negative integer option value; -1 when malformed. */
static long long parse_count_(const char *s)
{
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    return (errno || *end || end == s || v < 0) ? -1 : v;
}

static int cmd_count_(int argc, char **argv)
{
    sg_list_style style = SG_LIST_PAIRS;
    int rc = 0, nfiles = 0;
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--style") == 0 && i + 1 < argc) {
            if (parse_style_(argv[++i], &style)) return usage_();
            continue;
        }
        sg_list l;
        sg_err err;
        nfiles++;
        if (sg_list_read(&l, argv[i], style, NULL, &err)) {
            fprintf(stderr, "sg-data: %s\n", err.msg);
            rc = 1;
            continue;
        }
        printf("%d\t%s\n", l.n, argv[i]);
        sg_list_free(&l);
    }
    return nfiles ? rc : usage_();
}

static int cmd_check_split_(int argc, char **argv)
{
    sg_list_style style = SG_LIST_PAIRS;
    int rc = 0, ndirs = 0;
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--style") == 0 && i + 1 < argc) {
            if (parse_style_(argv[++i], &style)) return usage_();
            continue;
        }
        sg_split s;
        sg_err err;
        ndirs++;
        if (sg_split_read(&s, argv[i], style, NULL, &err)) {
            fprintf(stderr, "sg-data: %s\n", err.msg);
            rc = 1;
            continue;
        }
        sg_problems p = {0};
        sg_split_check(&s, NULL, &p);
        printf("%d\t%d\t%s\n", s.labeled.n, s.unlabeled.n, argv[i]);
        sg_problems_print(&p, stderr);
        if (p.n) rc = 1;
        sg_problems_free(&p);
        sg_split_free(&s);
    }
    return ndirs ? rc : usage_();
}

/* The check: everything is collected into one problem list. */
typedef struct check_opts_ {
    const char *dataset, *root, *split;
    const char *lists[SG_MAX_LISTS_];
    int n_lists;
    int classes, ignore;
    bool have_style, decode;
    sg_list_style style;
} check_opts_;

static void check_list_(const check_opts_ *o, sg_dataset_kind kind, const sg_list *l, sg_problems *p)
{
    sg_list_dataset_config cfg = {.root = o->root, .n_classes = o->classes, .ignore_index = o->ignore};
    sg_dataset ds;
    sg_err err;
    if (sg_dataset_from_list(&ds, kind, o->root, l, &cfg, &err)) {
        sg_problems_add(p, "%s", err.msg);
        return;
    }
    sg_dataset_check(&ds, o->decode, p);
    sg_dataset_free(&ds);
}

static int cmd_check_(int argc, char **argv)
{
    check_opts_ o = {.classes = -1, .ignore = 255, .decode = true};
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--no-decode") == 0) {
            o.decode = false;
            continue;
        }
        if (!v) return usage_();
        i++;
        if (strcmp(a, "--dataset") == 0) {
            o.dataset = v;
        } else if (strcmp(a, "--root") == 0) {
            o.root = v;
        } else if (strcmp(a, "--split") == 0) {
            o.split = v;
        } else if (strcmp(a, "--list") == 0) {
            if (o.n_lists == SG_MAX_LISTS_) return usage_();
            o.lists[o.n_lists++] = v;
        } else if (strcmp(a, "--classes") == 0) {
            o.classes = (int)parse_count_(v);
        } else if (strcmp(a, "--ignore") == 0) {
            o.ignore = (int)parse_count_(v);
        } else if (strcmp(a, "--style") == 0) {
            if (parse_style_(v, &o.style)) return usage_();
            o.have_style = true;
        } else {
            return usage_();
        }
    }
    if (!o.dataset || !o.root || (!o.split && !o.n_lists)) return usage_();
    sg_dataset_kind kind;
    sg_list_style style;
    const char *mask_dir = NULL;
    if (strcmp(o.dataset, "voc") == 0) {
        kind = SG_DATASET_VOC;
        style = SG_LIST_VOC_IDS;
        /* Bare ids resolve as sg_dataset_open_voc does. */
        char aug[4200];
        struct stat st;
        snprintf(aug, sizeof aug, "%s/SegmentationClassAug", o.root);
        mask_dir = stat(aug, &st) == 0 && S_ISDIR(st.st_mode) ? "SegmentationClassAug" : "SegmentationClass";
    } else if (strcmp(o.dataset, "cityscapes") == 0) {
        kind = SG_DATASET_CITYSCAPES;
        style = SG_LIST_CITYSCAPES;
    } else if (strcmp(o.dataset, "list") == 0) {
        kind = SG_DATASET_LIST;
        style = SG_LIST_PAIRS;
        if (o.classes < 1) {
            fprintf(stderr, "sg-data: --dataset list needs --classes N\n");
            return 2;
        }
    } else {
        fprintf(stderr, "sg-data: --dataset %s: expected voc, cityscapes or list\n", o.dataset);
        return 2;
    }
    if (o.have_style) style = o.style;
    sg_problems p = {0};
    sg_err err;
    if (o.split) {
        sg_split s;
        if (sg_split_read(&s, o.split, style, mask_dir, &err)) {
            sg_problems_add(&p, "%s", err.msg);
        } else {
            /* Missing files are reported once, by the dataset check. */
            sg_split_check(&s, NULL, &p);
            check_list_(&o, kind, &s.labeled, &p);
            check_list_(&o, kind, &s.unlabeled, &p);
            sg_split_free(&s);
        }
    }
    for (int k = 0; k < o.n_lists; k++) {
        sg_list l;
        if (sg_list_read(&l, o.lists[k], style, mask_dir, &err)) {
            sg_problems_add(&p, "%s", err.msg);
            continue;
        }
        sg_list_check(&l, NULL, &p);
        check_list_(&o, kind, &l, &p);
        sg_list_free(&l);
    }
    sg_problems_print(&p, stdout);
    int n = p.n;
    fprintf(stderr, "sg-data check: %d problem%s\n", n, n == 1 ? "" : "s");
    sg_problems_free(&p);
    return n ? 1 : 0;
}

static int cmd_make_split_(int argc, char **argv)
{
    const char *train = NULL, *out = NULL;
    long long n_labeled = -1, seed = -1;
    sg_list_style style = SG_LIST_PAIRS;
    for (int i = 0; i + 1 < argc; i += 2) {
        const char *a = argv[i], *v = argv[i + 1];
        if (strcmp(a, "--train-list") == 0)
            train = v;
        else if (strcmp(a, "--out") == 0)
            out = v;
        else if (strcmp(a, "--labeled") == 0)
            n_labeled = parse_count_(v);
        else if (strcmp(a, "--seed") == 0)
            seed = parse_count_(v);
        else if (strcmp(a, "--style") == 0) {
            if (parse_style_(v, &style)) return usage_();
        } else
            return usage_();
    }
    if (argc % 2 || !train || !out || n_labeled < 0 || seed < 0) return usage_();
    sg_list l;
    sg_err err;
    if (sg_list_read(&l, train, style, NULL, &err)) {
        fprintf(stderr, "sg-data: %s\n", err.msg);
        return 1;
    }
    sg_problems p = {0};
    if (sg_list_check(&l, NULL, &p)) {
        sg_problems_print(&p, stderr);
        sg_problems_free(&p);
        sg_list_free(&l);
        return 1;
    }
    if (n_labeled < 1 || n_labeled >= l.n) {
        fprintf(stderr, "sg-data: --labeled %lld: must be in 1..%d for %s (%d entries)\n", n_labeled, l.n - 1,
                train, l.n);
        sg_list_free(&l);
        return 1;
    }
    if (mkdir(out, 0777) != 0 && errno != EEXIST) {
        fprintf(stderr, "sg-data: %s: cannot create: %s\n", out, strerror(errno));
        sg_list_free(&l);
        return 1;
    }
    sg_split s;
    sg_split_generate(&s, &l, (int)n_labeled, (uint64_t)seed);
    int rc = sg_split_write(out, &s, &err);
    if (rc)
        fprintf(stderr, "sg-data: %s\n", err.msg);
    else
        fprintf(stderr, "sg-data: %s: %d labeled + %d unlabeled (seed %lld)\n", out, s.labeled.n,
                s.unlabeled.n, seed);
    sg_split_free(&s);
    sg_list_free(&l);
    return rc ? 1 : 0;
}

static int cmd_seeds_(int argc, char **argv)
{
    if (argc != 1) return usage_();
    static uint64_t seeds[SG_MAX_SEEDS_];
    sg_err err;
    int n = sg_seeds_read(argv[0], seeds, SG_MAX_SEEDS_, &err);
    if (n < 0) {
        fprintf(stderr, "sg-data: %s\n", err.msg);
        return 1;
    }
    for (int i = 0; i < n; i++) printf("%llu\n", (unsigned long long)seeds[i]);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 2) return usage_();
    for (int i = 1; i < argc; i++)
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) return usage_to_(stdout, 0);
    const char *cmd = argv[1];
    if (strcmp(cmd, "count") == 0) return cmd_count_(argc - 2, argv + 2);
    if (strcmp(cmd, "check-split") == 0) return cmd_check_split_(argc - 2, argv + 2);
    if (strcmp(cmd, "check") == 0) return cmd_check_(argc - 2, argv + 2);
    if (strcmp(cmd, "make-split") == 0) return cmd_make_split_(argc - 2, argv + 2);
    if (strcmp(cmd, "seeds") == 0) return cmd_seeds_(argc - 2, argv + 2);
    return usage_();
}
