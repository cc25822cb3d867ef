/*
 * test_splits.c: list files and splits (split.h, src/data/split.c).
 *
 * Both community formats (UniMatch pairs, U2PL/CPS bare ids and U2PL
 * Cityscapes leftImg8bit paths, CPS tab + leading '/'), CRLF endings, blank
 * lines and a missing final newline; malformed lines named by file:line;
 * every problem of a damaged split listed at once (empty list, duplicate,
 * labeled/unlabeled overlap, missing files); the generator's determinism,
 * disjointness and a pinned draw; the seed list reader.
 */
#include "semiseg.h"
#include "semiseg/split.h"
#include "tap.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* The first ten labeled entries of a 10-of-100 draw with seed 7. */
#define PINNED_DRAW "002 034 045 051 063 068 069 078 079 091 "

static char dir[256];

static const char *put(const char *name, const char *text)
{
    static char path[8][512];
    static int k;
    k = (k + 1) % 8;
    snprintf(path[k], sizeof path[k], "%s/%s", dir, name);
    FILE *fp = fopen(path[k], "wb");
    fputs(text, fp);
    fclose(fp);
    return path[k];
}

static int entry_is(const sg_list *l, int i, const char *image, const char *mask, int line)
{
    const sg_list_entry *e = &l->e[i];
    int ok = strcmp(e->image, image) == 0 && e->line == line &&
             (mask ? e->mask && strcmp(e->mask, mask) == 0 : e->mask == NULL);
    if (!ok) tap_diag("entry %d: '%s' '%s' line %d", i, e->image, e->mask ? e->mask : "(none)", e->line);
    return ok;
}

/* Number of problems whose text contains every one of the given strings. */
static int count_problems(const sg_problems *p, const char *a, const char *b)
{
    int n = 0;
    for (int i = 0; i < p->n; i++)
        if (strstr(p->msg[i], a) && (!b || strstr(p->msg[i], b))) n++;
    return n;
}

static void test_formats(void)
{
    sg_list l;
    sg_err err;
    /* UniMatch pairs with CRLF, a blank line, surrounding blanks, no final newline. */
    const char *p = put("pairs.txt", "JPEGImages/a.jpg SegmentationClass/a.png\r\n\r\n"
                                     "  JPEGImages/b.jpg   SegmentationClass/b.png  \r\n"
                                     "JPEGImages/c.jpg SegmentationClass/c.png");
    int rc = sg_list_read(&l, p, SG_LIST_PAIRS, NULL, &err);
    tap_ok(rc == 0 && l.n == 3, "pairs: CRLF, blank line and no final newline give 3 entries");
    tap_ok(rc == 0 && entry_is(&l, 0, "JPEGImages/a.jpg", "SegmentationClass/a.png", 1) &&
               entry_is(&l, 1, "JPEGImages/b.jpg", "SegmentationClass/b.png", 3) &&
               entry_is(&l, 2, "JPEGImages/c.jpg", "SegmentationClass/c.png", 4),
           "pairs: paths and line numbers");
    tap_ok(rc == 0 && strcmp(l.e[1].raw, "JPEGImages/b.jpg   SegmentationClass/b.png") == 0,
           "raw line kept without blanks and CR");
    sg_list_free(&l);

    /* U2PL/CPS VOC ids: mask folder by option, SegmentationClassAug default. */
    p = put("ids.txt", "2007_000033\n\n2007_000042\r\n");
    rc = sg_list_read(&l, p, SG_LIST_VOC_IDS, NULL, &err);
    tap_ok(rc == 0 && l.n == 2 && entry_is(&l, 0, "JPEGImages/2007_000033.jpg",
                                           "SegmentationClassAug/2007_000033.png", 1) &&
               entry_is(&l, 1, "JPEGImages/2007_000042.jpg", "SegmentationClassAug/2007_000042.png", 3),
           "VOC ids map to JPEGImages + SegmentationClassAug");
    sg_list_free(&l);
    rc = sg_list_read(&l, p, SG_LIST_VOC_IDS, "SegmentationClass", &err);
    tap_ok(rc == 0 && entry_is(&l, 0, "JPEGImages/2007_000033.jpg", "SegmentationClass/2007_000033.png", 1),
           "VOC ids with another mask folder");
    sg_list_free(&l);
    /* The same file as plain pairs: images without masks. */
    rc = sg_list_read(&l, p, SG_LIST_PAIRS, NULL, &err);
    tap_ok(rc == 0 && entry_is(&l, 0, "2007_000033", NULL, 1), "one field in pair style: image only");
    sg_list_free(&l);

    /* U2PL Cityscapes: the gtFine labelTrainIds file of the same frame. */
    p = put("city.txt", "leftImg8bit/train/jena/jena_000078_000019_leftImg8bit.png");
    rc = sg_list_read(&l, p, SG_LIST_CITYSCAPES, NULL, &err);
    tap_ok(rc == 0 && l.n == 1 &&
               entry_is(&l, 0, "leftImg8bit/train/jena/jena_000078_000019_leftImg8bit.png",
                        "gtFine/train/jena/jena_000078_000019_gtFine_labelTrainIds.png", 1),
           "U2PL Cityscapes path -> gtFine labelTrainIds");
    sg_list_free(&l);

    /* CPS Cityscapes: tab-separated, leading '/'. */
    p = put("cps.txt", "/images/train/jena_000078_000019.png\t/segmentation/train/jena_000078_000019_gtFine.png\n");
    rc = sg_list_read(&l, p, SG_LIST_PAIRS, NULL, &err);
    tap_ok(rc == 0 && l.n == 1 &&
               entry_is(&l, 0, "images/train/jena_000078_000019.png",
                        "segmentation/train/jena_000078_000019_gtFine.png", 1),
           "CPS tab-separated pair with leading '/'");
    sg_list_free(&l);

    /* Empty and blank-only files parse to zero entries. */
    p = put("blank.txt", "\n \r\n\n");
    rc = sg_list_read(&l, p, SG_LIST_PAIRS, NULL, &err);
    tap_ok(rc == 0 && l.n == 0, "blank-only file: zero entries");
    sg_list_free(&l);

    /* Malformed files: each error names file:line. */
    struct {
        const char *name, *text, *line, *what;
        sg_list_style style;
    } bad[] = {
        {"three.txt", "a b\nc d e\n", ":2:", "3 fields", SG_LIST_PAIRS},
        {"mixed.txt", "a b\nc d\ne\n", ":3:", "mixed", SG_LIST_PAIRS},
        {"badid.txt", "2007_000033\nJPEGImages/x.jpg\n", ":2:", "not a VOC id", SG_LIST_VOC_IDS},
        {"badcity.txt", "leftImg8bit/train/a/b.png\n", ":1:", "leftImg8bit", SG_LIST_CITYSCAPES},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        p = put(bad[i].name, bad[i].text);
        rc = sg_list_read(&l, p, bad[i].style, NULL, &err);
        int ok = rc == -1 && strstr(err.msg, p) && strstr(err.msg, bad[i].line) && strstr(err.msg, bad[i].what);
        tap_ok(ok, "%s rejected with file:line", bad[i].name);
        if (!ok) tap_diag("%s", rc ? err.msg : "accepted");
    }
    char missing[512];
    snprintf(missing, sizeof missing, "%s/none.txt", dir);
    rc = sg_list_read(&l, missing, SG_LIST_PAIRS, NULL, &err);
    tap_ok(rc == -1 && strstr(err.msg, missing), "missing list file named");
}

static void mkdirs(const char *rel)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, rel);
    for (char *s = path + strlen(dir) + 1; *s; s++)
        if (*s == '/') {
            *s = 0;
            mkdir(path, 0755);
            *s = '/';
        }
    mkdir(path, 0755);
}

static void test_check(void)
{
    sg_err err;
    sg_split s;
    mkdirs("root/JPEGImages");
    mkdirs("root/SegmentationClass");
    mkdirs("sp");
    const char *ids[] = {"a", "b", "c", "d"};
    for (int i = 0; i < 4; i++) {
        char rel[64];
        snprintf(rel, sizeof rel, "root/JPEGImages/%s.jpg", ids[i]);
        put(rel, "x");
        snprintf(rel, sizeof rel, "root/SegmentationClass/%s.png", ids[i]);
        if (i != 3) put(rel, "x"); /* d has no mask */
    }
    /* labeled: a, b, a (duplicate), e (no files); unlabeled: c, b (overlap), d. */
    put("sp/labeled.txt", "a\nb\na\ne\n");
    put("sp/unlabeled.txt", "c\r\nb\r\nd");
    char spdir[512], root[512];
    snprintf(spdir, sizeof spdir, "%s/sp", dir);
    snprintf(root, sizeof root, "%s/root", dir);
    int rc = sg_split_read(&s, spdir, SG_LIST_VOC_IDS, "SegmentationClass", &err);
    tap_ok(rc == 0 && s.labeled.n == 4 && s.unlabeled.n == 3, "split read");
    sg_problems p = {0};
    int n = sg_split_check(&s, root, &p);
    tap_ok(n == 5 && p.n == 5, "five problems found at once (got %d)", n);
    tap_ok(count_problems(&p, "labeled.txt:3:", "listed again (first at line 1)") == 1, "duplicate named");
    tap_ok(count_problems(&p, "labeled.txt:2:", "unlabeled.txt:2") == 1, "overlap names both lines");
    tap_ok(count_problems(&p, "labeled.txt:4:", "JPEGImages/e.jpg not found") == 1 &&
               count_problems(&p, "labeled.txt:4:", "SegmentationClass/e.png not found") == 1,
           "missing image and mask of one line both listed");
    tap_ok(count_problems(&p, "unlabeled.txt:3:", "SegmentationClass/d.png not found") == 1,
           "missing mask in the unlabeled list (no final newline) named");
    sg_problems_free(&p);
    /* Without a root only the list checks run. */
    n = sg_split_check(&s, NULL, &p);
    tap_ok(n == 2, "without root: duplicate and overlap only (%d)", n);
    sg_problems_free(&p);
    sg_split_free(&s);

    /* An empty labeled list. */
    put("sp/labeled.txt", "\r\n");
    rc = sg_split_read(&s, spdir, SG_LIST_VOC_IDS, NULL, &err);
    n = sg_split_check(&s, NULL, &p);
    tap_ok(rc == 0 && n == 1 && count_problems(&p, "labeled.txt", "empty list") == 1, "empty split reported");
    sg_problems_free(&p);
    sg_split_free(&s);
}

static int lists_equal(const sg_list *a, const sg_list *b)
{
    if (a->n != b->n) return 0;
    for (int i = 0; i < a->n; i++)
        if (strcmp(a->e[i].raw, b->e[i].raw) != 0) return 0;
    return 1;
}

static void test_generate(void)
{
    sg_err err;
    char text[100 * 32] = "", line[32];
    for (int i = 0; i < 100; i++) {
        snprintf(line, sizeof line, "JPEGImages/%03d.jpg M/%03d.png\n", i, i);
        strcat(text, line);
    }
    const char *p = put("train.txt", text);
    sg_list train;
    sg_list_read(&train, p, SG_LIST_PAIRS, NULL, &err);
    sg_split a, b, c;
    sg_split_generate(&a, &train, 10, 7);
    sg_split_generate(&b, &train, 10, 7);
    sg_split_generate(&c, &train, 10, 8);
    tap_ok(a.labeled.n == 10 && a.unlabeled.n == 90, "generated sizes 10 + 90");
    tap_ok(lists_equal(&a.labeled, &b.labeled) && lists_equal(&a.unlabeled, &b.unlabeled),
           "same seed, same split");
    tap_ok(!lists_equal(&a.labeled, &c.labeled), "another seed, another split");
    sg_problems pr = {0};
    tap_ok(sg_split_check(&a, NULL, &pr) == 0, "generated split is disjoint and has no duplicates");
    sg_problems_free(&pr);
    /* Order kept: the union in train order is train itself. */
    int i = 0, j = 0, ok = 1;
    for (int k = 0; k < 100 && ok; k++) {
        const char *want = train.e[k].raw;
        if (i < 10 && strcmp(a.labeled.e[i].raw, want) == 0)
            i++;
        else if (j < 90 && strcmp(a.unlabeled.e[j].raw, want) == 0)
            j++;
        else
            ok = 0;
    }
    tap_ok(ok && i == 10 && j == 90, "labeled + unlabeled = train, both in train order");
    /* Pinned draw: guards the Philox stream and the shuffle against silent
     * changes, which would change every generated split. */
    char got[256] = "";
    for (int k = 0; k < 10; k++) {
        snprintf(line, sizeof line, "%.3s ", a.labeled.e[k].raw + 11);
        strcat(got, line);
    }
    tap_ok(strcmp(got, PINNED_DRAW) == 0, "pinned draw for seed 7: %s", got);
    /* Written and read back. */
    char out[512];
    snprintf(out, sizeof out, "%s/gen", dir);
    mkdir(out, 0755);
    sg_split r;
    int rc = sg_split_write(out, &a, &err) || sg_split_read(&r, out, SG_LIST_PAIRS, NULL, &err);
    tap_ok(rc == 0 && lists_equal(&a.labeled, &r.labeled) && lists_equal(&a.unlabeled, &r.unlabeled),
           "written split reads back identical");
    if (!rc) sg_split_free(&r);
    sg_split_free(&a);
    sg_split_free(&b);
    sg_split_free(&c);
    sg_list_free(&train);
}

static void test_seeds(void)
{
    sg_err err;
    uint64_t s[8];
    const char *p = put("seeds", "# the suite's seeds\n0\n\n1  # second\n 2\n");
    tap_ok(sg_seeds_read(p, s, 8, &err) == 3 && s[0] == 0 && s[1] == 1 && s[2] == 2, "seeds read");
    p = put("seeds_bad", "0\nx1\n");
    tap_ok(sg_seeds_read(p, s, 8, &err) == -1 && strstr(err.msg, ":2:"), "bad seed line named");
    p = put("seeds_neg", "-3\n");
    tap_ok(sg_seeds_read(p, s, 8, &err) == -1, "negative seed rejected");
    p = put("seeds_none", "# nothing\n");
    tap_ok(sg_seeds_read(p, s, 8, &err) == -1 && strstr(err.msg, "no seeds"), "empty seed list rejected");
    p = put("seeds_many", "1\n2\n3\n");
    tap_ok(sg_seeds_read(p, s, 2, &err) == -1 && strstr(err.msg, "more than 2"), "too many seeds rejected");
}

int main(void)
{
    snprintf(dir, sizeof dir, "%s/semiseg-splits.XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    if (!mkdtemp(dir)) tap_skip_all("cannot create a temp dir");
    test_formats();
    test_check();
    test_generate();
    test_seeds();
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) tap_diag("could not remove %s", dir);
    return tap_done();
}
