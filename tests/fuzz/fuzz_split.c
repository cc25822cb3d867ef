/*
 * fuzz_split.c: libFuzzer target for the split, list and seed readers
 * (src/data/split.c, include/semiseg/split.h).
 *
 * Input: byte 0 picks the list style (its value mod 3: pairs, VOC ids,
 * Cityscapes) and, by bit 2, the id mask folder (NULL or
 * "SegmentationClass"); byte 1 is the split generator's size; the rest, up
 * to the first NUL byte, is labeled.txt and what follows the NUL is
 * unlabeled.txt (without a NUL, unlabeled.txt is empty). Both are written
 * to a temporary folder and read with sg_list_read, then sg_split_read and
 * sg_split_check (root NULL: no file look-ups), sg_split_generate on the
 * labeled list when it has two or more entries, and sg_seeds_read of each
 * file (max 8 seeds). Seeds: tests/fuzz/corpus/split/ (splits/demo lists in
 * each style, splits/seeds, CRLF, blanks, bad lines).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "semiseg/split.h"
#include "fuzz_file.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2) return 0;
    sg_list_style style = (sg_list_style)(data[0] % 3);
    const char *mask_dir = data[0] & 4 ? "SegmentationClass" : NULL;
    int gen = data[1];
    data += 2;
    size -= 2;
    const uint8_t *nul = memchr(data, 0, size);
    size_t n1 = nul ? (size_t)(nul - data) : size;
    const uint8_t *rest = nul ? nul + 1 : data + size;
    size_t n2 = nul ? size - n1 - 1 : 0;
    char labeled[4200], unlabeled[4200];
    snprintf(labeled, sizeof labeled, "%s", sg_fuzz_write("labeled.txt", data, n1));
    snprintf(unlabeled, sizeof unlabeled, "%s", sg_fuzz_write("unlabeled.txt", rest, n2));
    sg_err err;
    sg_list l;
    if (sg_list_read(&l, labeled, style, mask_dir, &err) == 0) {
        sg_problems p = {0};
        sg_list_check(&l, NULL, &p);
        if (l.n >= 2) {
            sg_split s;
            sg_split_generate(&s, &l, 1 + gen % (l.n - 1), (uint64_t)gen);
            sg_split_check(&s, NULL, &p);
            sg_split_free(&s);
        }
        sg_problems_free(&p);
        sg_list_free(&l);
    }
    sg_split s;
    if (sg_split_read(&s, sg_fuzz_dir(), style, mask_dir, &err) == 0) {
        sg_problems p = {0};
        sg_split_check(&s, NULL, &p);
        sg_problems_free(&p);
        sg_split_free(&s);
    }
    uint64_t seeds[8];
    (void)sg_seeds_read(labeled, seeds, 8, &err);
    (void)sg_seeds_read(unlabeled, seeds, 8, &err);
    return 0;
}
