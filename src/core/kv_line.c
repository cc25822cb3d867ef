/*
 * kv_line.c: the words of a model configuration line ("key=value ..."),
 * the form checkpoints store in their "model" metadata
 * (sg_deeplab_config_format, sg_allspark_net_config_format,
 * sg_segformer_line_format): every key of a fixed list exactly once,
 * nothing else, and their integer values. The parsers of the lines
 * interpret the values. Covered by tests/test_model.c, tests/test_mit.c and
 * tests/test_allspark.c (their parse errors).
 */
#include "semiseg/model.h"

#include <stdlib.h>
#include <string.h>

int sg_kv_line_split(const char *line, const char *const *keys, int n_keys, char *buf, size_t len,
                     const char **values, sg_err *err)
{
    if (strlen(line) >= len) return sg_err_set(err, "model configuration too long");
    strcpy(buf, line);
    for (int k = 0; k < n_keys; k++) values[k] = NULL;
    char *save = NULL;
    for (char *w = strtok_r(buf, " \t", &save); w; w = strtok_r(NULL, " \t", &save)) {
        char *eq = strchr(w, '=');
        if (!eq) return sg_err_set(err, "model configuration: '%s' is not key=value", w);
        *eq = 0;
        int k = 0;
        while (k < n_keys && strcmp(w, keys[k]) != 0) k++;
        if (k == n_keys) return sg_err_set(err, "model configuration: unknown key '%s'", w);
        if (values[k]) return sg_err_set(err, "model configuration: '%s' given twice", w);
        values[k] = eq + 1;
    }
    for (int k = 0; k < n_keys; k++)
        if (!values[k]) return sg_err_set(err, "model configuration: '%s' is missing", keys[k]);
    return 0;
}

int sg_kv_line_long(const char *key, const char *value, long lo, long hi, long *out, sg_err *err)
{
    char *end;
    *out = strtol(value, &end, 10);
    if (end == value || *end || *out < lo || *out > hi)
        return sg_err_set(err, "model configuration: bad value '%s' for %s (want %ld..%ld)", value, key, lo, hi);
    return 0;
}
