/*
 * config.h: run configuration files and command-line overrides.
 *
 * A file holds `[section]` headers and `key = value` lines (inih syntax:
 * '#' or ';' starts a comment line, " ;" an inline comment). Keys are
 * addressed as "section.key". `--set section.key=value` overrides a file
 * value (or supplies one). Values are read through typed getters, each with
 * a default; every key read is recorded with its value and where it came
 * from (file:line, --set, or default), and sg_config_write_resolved writes
 * that record as a config file that reproduces the run. A key present in a
 * file or a --set that no getter read is an error (sg_config_check_unused),
 * so a misspelt key never silently falls back to a default.
 *
 * Every runtime error names its origin: "demo.conf:12: train.lr = abc: not a
 * number", "--set train.lr=abc: ...", "demo.conf:7: unknown key train.lrr".
 *
 * Layers: before its first [section], a file may hold one line
 * `include = PATH` (PATH relative to the including file's folder, or
 * absolute; included files may include in turn, up to 16 deep). The included
 * file is read at that point, so its keys come first; the including file's
 * own keys then replace included values (a deliberate exception to "a key
 * given twice is an error"; the origin reads "top.conf:9 (over
 * base.conf:56)"). Lines `unset = section.key, ...` (after the include,
 * repeatable) remove included keys, which then take their defaults; unsetting
 * a key no included file gives is an error. A key given twice within one
 * file, or by two separate sg_config_load calls, stays an error; --set beats
 * every file. config.resolved holds only the resolved keys, no include, so it
 * is self-contained, and the hash ignores origins: a layered config and the
 * flat one with the same values hash equal. experiments/<method>/<dataset>.conf
 * include experiments/<dataset>.conf this way (experiments/README.md).
 *
 * Implemented in src/core/config.c; covered by tests/test_config.c and
 * tests/run_config_errors.sh.
 */
#ifndef SEMISEG_CONFIG_H
#define SEMISEG_CONFIG_H

#include <stdbool.h>
#include <stdint.h>

#include "semiseg/base.h"

typedef struct sg_config sg_config;

sg_config *sg_config_new(void);
void sg_config_free(sg_config *c);

/* Reads a file and the files it includes ("Layers" above); a key given
 * twice (within one file, or by two calls) is an error naming both lines.
 * Returns 0, or -1 with err = "path:line: what" (or "path: reason" when it
 * cannot be opened). */
int sg_config_load(sg_config *c, const char *path, sg_err *err);
/* Parses the same syntax from a string; `origin` names it in messages and
 * its folder part is where an include's relative path starts. */
int sg_config_load_string(sg_config *c, const char *text, const char *origin, sg_err *err);
/* One override "section.key=value"; replaces a file value. A second --set of
 * the same key replaces the first. */
int sg_config_set(sg_config *c, const char *assignment, sg_err *err);

/* Whether the key has a value from a file or --set. */
bool sg_config_has(const sg_config *c, const char *key);
/* Where the key's value comes from ("path:line" or "--set"), for messages
 * about values a caller checks itself; NULL when the key has no value. */
const char *sg_config_origin(const sg_config *c, const char *key);
/* Error when the key has no value ("<key> is required"). */
int sg_config_require(sg_config *c, const char *key, sg_err *err);

/* Typed getters. key = "section.key". Absent: *out = def. A present value
 * that does not parse or lies outside [lo, hi] is an error naming its
 * origin. */
int sg_config_int(sg_config *c, const char *key, long def, long lo, long hi, long *out, sg_err *err);
int sg_config_double(sg_config *c, const char *key, double def, double lo, double hi, double *out,
                     sg_err *err);
int sg_config_float(sg_config *c, const char *key, float def, float lo, float hi, float *out,
                    sg_err *err);
/* true/false, yes/no, on/off, 1/0. */
int sg_config_bool(sg_config *c, const char *key, bool def, bool *out, sg_err *err);
/* def NULL: required. The string lives as long as the config, or until the
 * key is read again with another result (another default for an absent
 * key); reading it again alike keeps it. */
int sg_config_string(sg_config *c, const char *key, const char *def, const char **out, sg_err *err);
/* One of `choices` (NULL-terminated); *out = its index. */
int sg_config_choice(sg_config *c, const char *key, const char *def, const char *const *choices, int *out,
                     sg_err *err);
/* Exactly n comma-separated numbers (def: n values). */
int sg_config_ints(sg_config *c, const char *key, const int *def, int n, long lo, long hi, int *out,
                   sg_err *err);
int sg_config_floats(sg_config *c, const char *key, const float *def, int n, float *out, sg_err *err);

/* Error for the first key (in file order, then --set order) that was given
 * but never read: "path:line: unknown key section.key". */
int sg_config_check_unused(const sg_config *c, sg_err *err);
/* Error for the first key given (same order) that `known` does not list:
 * "path:line: unknown section [train2] (train2.lr)" when no entry names its
 * section,
 * else "path:line: unknown key train.lrr". known: NULL-terminated
 * "section.key" entries, or "section.*" for every key of a section. Unlike
 * sg_config_check_unused it needs no getter to have run, so a caller can
 * report a misspelt name before the consequences of its absence (a missing
 * required key, a combination of defaults). */
int sg_config_check_known(const sg_config *c, const char *const *known, sg_err *err);

/* The keys read so far, sorted by section then key, one `key = value ;
 * origin` line each under its [section] header. Atomic. */
int sg_config_write_resolved(const sg_config *c, const char *path, sg_err *err);
/* FNV-1a 64: folds n bytes (or the characters of the string s) into h;
 * start from SG_FNV1A_BASIS. */
#define SG_FNV1A_BASIS 0xcbf29ce484222325ull
uint64_t sg_fnv1a_bytes(uint64_t h, const void *data, size_t n);
uint64_t sg_fnv1a(uint64_t h, const char *s);
/* FNV-1a 64 of the resolved "section.key=value" lines (origins excluded),
 * leaving out those matched by skip (NULL-terminated, may be NULL): an entry
 * "section" skips the whole section, "section.key" one key. Identical
 * experiments hash equal wherever their values came from. */
uint64_t sg_config_hash(const sg_config *c, const char *const *skip);

#endif
