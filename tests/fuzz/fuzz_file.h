/*
 * fuzz_file.h: the one helper the fuzz targets share. The readers under test
 * take a path (they stat, open and read the file themselves), so each input
 * is written to a private temporary file that is rewritten for every input;
 * no API exists only for the fuzzers.
 *
 * tests/test_fuzz_regressions.c includes every target's source into one
 * program (renaming LLVMFuzzerTestOneInput), so a target's file-scope names
 * carry its own prefix.
 */
#ifndef SEMISEG_FUZZ_FILE_H
#define SEMISEG_FUZZ_FILE_H

#include "semiseg/image.h"
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* A folder of this process's own (made once, removed at a normal exit;
 * libFuzzer ends a timed run with _Exit, so `make fuzz` points
 * SG_FUZZ_TMPDIR at a folder it removes itself). */
static char sg_fuzz_dir_[4096];

static inline void sg_fuzz_cleanup_(void)
{
    char cmd[4200];
    if (!sg_fuzz_dir_[0]) return;
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", sg_fuzz_dir_);
    if (system(cmd)) { /* best effort */
    }
}

static inline const char *sg_fuzz_dir(void)
{
    if (!sg_fuzz_dir_[0]) {
        /* tmpfs when there is one: rewriting a file on ext4 costs a flush
         * (auto_da_alloc), which cut the executions per second ~10 times. */
        const char *tmp = getenv("SG_FUZZ_TMPDIR");
        if (!tmp || !*tmp) tmp = access("/dev/shm", W_OK | X_OK) == 0 ? "/dev/shm" : getenv("TMPDIR");
        snprintf(sg_fuzz_dir_, sizeof sg_fuzz_dir_, "%s/sg-fuzz-XXXXXX", tmp && *tmp ? tmp : "/tmp");
        if (!mkdtemp(sg_fuzz_dir_)) {
            perror("mkdtemp");
            abort();
        }
        atexit(sg_fuzz_cleanup_);
    }
    return sg_fuzz_dir_;
}

/* Writes n bytes to dir/name (replacing it) and returns the path (static). */
static inline const char *sg_fuzz_write(const char *name, const uint8_t *data, size_t n)
{
    static char path[4200];
    snprintf(path, sizeof path, "%s/%s", sg_fuzz_dir(), name);
    FILE *fp = fopen(path, "wb");
    if (!fp || (n && fwrite(data, 1, n, fp) != n) || fclose(fp)) {
        perror(path);
        abort();
    }
    return path;
}

/* The image targets' body (fuzz_png.c, fuzz_jpeg.c): the input written as
 * file `name`, read with sg_image_read (to RGB) and sg_mask_read (palette or
 * gray indices); a decoded image must have sane dimensions and is freed. */
static inline int sg_fuzz_image(const char *name, const uint8_t *data, size_t size)
{
    const char *path = sg_fuzz_write(name, data, size);
    sg_image img;
    sg_err err;
    if (sg_image_read(path, &img, &err) == 0) {
        if (img.h < 1 || img.w < 1 || img.c != 3 || !img.data) abort();
        sg_image_free(&img);
    }
    if (sg_mask_read(path, &img, &err) == 0) {
        if (img.h < 1 || img.w < 1 || img.c != 1 || !img.data) abort();
        sg_image_free(&img);
    }
    return 0;
}

#endif
