/*
 * fuzz_safetensors.c: libFuzzer target for the safetensors reader
 * (src/core/safetensors.c, include/semiseg/checkpoint.h).
 *
 * Input: the bytes of a .safetensors file, written as is to a temporary file
 * and opened with sg_st_open (header length, JSON header, dtypes, shapes,
 * offsets, tiling, metadata). When it opens, every tensor is looked up with
 * sg_st_find and copied out with both sg_st_read_f32 and sg_st_read_i64 (one
 * of them is the dtype error path), every metadata key is read back with
 * sg_st_meta, and sg_st_file_digest runs over all tensors; then sg_st_close.
 * Seeds: tests/fuzz/corpus/safetensors/.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "semiseg/checkpoint.h"
#include "fuzz_file.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = sg_fuzz_write("in.safetensors", data, size);
    sg_st_file f;
    sg_err err;
    if (sg_st_open(&f, path, &err)) return 0;
    for (int i = 0; i < f.n_tensors; i++) {
        const sg_st_tensor *t = sg_st_find(&f, f.tensors[i].name);
        if (t != &f.tensors[i]) abort(); /* names are unique and sorted */
        size_t n = t->numel ? t->numel : 1;
        float *x = malloc(n * sizeof *x);
        int64_t *y = malloc(n * sizeof *y);
        if (!x || !y) abort();
        int rf = sg_st_read_f32(&f, t, x, &err);
        int ri = sg_st_read_i64(&f, t, y, &err);
        if ((rf == 0) == (ri == 0)) abort(); /* exactly one of the two applies */
        free(x);
        free(y);
    }
    for (int i = 0; i < f.n_meta; i++)
        if (sg_st_meta(&f, f.meta_keys[i]) == NULL) abort();
    (void)sg_st_file_digest(&f);
    (void)sg_st_find(&f, "absent");
    sg_st_close(&f);
    return 0;
}
