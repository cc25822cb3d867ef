/*
 * io.h: writing files atomically. Results, checkpoints and images are written
 * to a temporary file in the destination's directory, flushed, fsync'ed and
 * renamed over the destination, so a crash, a kill or a full disk leaves
 * either the old file or the new one, never half of one.
 *
 * Also sg_mkdirs (mkdir -p), which every writer of run directories uses.
 *
 * Covered by tests/test_io.c (including a write that fails for lack of space).
 */
#ifndef SEMISEG_IO_H
#define SEMISEG_IO_H

#include <stdio.h>

#include "semiseg/base.h"

typedef struct sg_atomic_file {
    FILE *fp;             /* write here */
    char path[4096];      /* destination */
    char tmp[4096 + 32];  /* <path>.tmp.<pid>.<n> */
} sg_atomic_file;

/* Open a temporary file beside path. Returns 0, or -1 with err set. */
int sg_atomic_open(sg_atomic_file *af, const char *path, sg_err *err);
/* Flush, fsync, close and rename over the destination, then fsync the
 * directory. On any failure the temporary file is removed, the destination
 * is untouched, and err names the path and the reason (e.g. "No space left
 * on device"). */
int sg_atomic_commit(sg_atomic_file *af, sg_err *err);
/* Give up: close and remove the temporary file. */
void sg_atomic_abort(sg_atomic_file *af);

/* mkdir -p: create path and its missing parents. A component that exists
 * but is not a directory is an error naming it. */
int sg_mkdirs(const char *path, sg_err *err);

/* Removes the temporaries that sg_atomic_open made in dir ("NAME.tmp.PID.N")
 * for processes that no longer exist (a kill -9 mid-write leaves one as large
 * as the file); a live process's are kept. Returns the number removed, or -1
 * with err set when dir cannot be read. */
int sg_atomic_clean_stale(const char *dir, sg_err *err);

/* fopen(path, "rb") for an input file; NULL with "path: cannot open: why"
 * or "path: not a regular file" in err. A FIFO or device is refused before
 * it is opened, where opening it could block the program forever. */
FILE *sg_fopen_read(const char *path, sg_err *err);

#endif
