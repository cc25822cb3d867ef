/*
 * fuzz_config.c: libFuzzer target for the configuration parser
 * (src/core/config.c, include/semiseg/config.h).
 *
 * Input: text up to the first NUL byte is a config file, parsed with
 * sg_config_load_string under the origin <tmp>/in.conf; each further
 * NUL-separated piece is one --set assignment (sg_config_set). The origin's
 * folder holds base.conf (a few keys), loop.conf (includes itself, for the
 * depth limit) and sub/up.conf (includes ../base.conf), so `include =` and
 * `unset =` lines reach real layering. Then every typed getter runs on a
 * fixed set of keys (demo-config keys and short ones, each key through
 * every getter, so type mismatches and re-reads are exercised), followed by
 * sg_config_has/origin/require, sg_config_check_unused and sg_config_hash.
 * Seeds: tests/fuzz/corpus/config/ (the experiments/ configs and edge cases).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "semiseg/config.h"
#include "fuzz_file.h"

static char cfg_origin_[4200];

static void cfg_setup_(void)
{
    if (cfg_origin_[0]) return;
    static const char base[] = "[train]\nlr = 0.01\niters = 100\n[data]\ncrop = 321\nsplit = splits/x\n"
                               "[model]\nbackbone = resnet50\n";
    static const char loop[] = "include = loop.conf\n[a]\nb = 1\n";
    static const char up[] = "include = ../base.conf\n[train]\nlr = 0.02\n";
    sg_fuzz_write("base.conf", (const uint8_t *)base, sizeof base - 1);
    sg_fuzz_write("loop.conf", (const uint8_t *)loop, sizeof loop - 1);
    char sub[4200];
    snprintf(sub, sizeof sub, "%s/sub", sg_fuzz_dir());
    mkdir(sub, 0700);
    sg_fuzz_write("sub/up.conf", (const uint8_t *)up, sizeof up - 1);
    snprintf(cfg_origin_, sizeof cfg_origin_, "%s/in.conf", sg_fuzz_dir());
}

static const char *const cfg_keys_[] = {"train.lr", "train.iters", "data.crop", "data.split", "model.backbone",
                                    "a.b", "a.c", "s.k", "x.y", NULL};
static const char *const cfg_choices_[] = {"resnet50", "resnet101", "a", "1", "true", NULL};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    cfg_setup_();
    char *buf = malloc(size + 1);
    if (!buf) abort();
    memcpy(buf, data, size);
    buf[size] = 0;
    sg_config *c = sg_config_new();
    sg_err err;
    sg_config_load_string(c, buf, cfg_origin_, &err);
    for (size_t off = strlen(buf) + 1; off <= size; off += strlen(buf + off) + 1)
        sg_config_set(c, buf + off, &err);
    for (int i = 0; cfg_keys_[i]; i++) {
        const char *k = cfg_keys_[i];
        long l;
        double d;
        float f;
        bool b;
        const char *s;
        int ch, iv[3];
        float fv[3];
        static const int idef[3] = {1, 2, 3};
        static const float fdef[3] = {0.5f, 1.5f, 2.5f};
        (void)sg_config_has(c, k);
        (void)sg_config_origin(c, k);
        (void)sg_config_require(c, k, &err);
        sg_config_int(c, k, 7, -1000000, 1000000, &l, &err);
        sg_config_double(c, k, 0.5, -1e300, 1e300, &d, &err);
        sg_config_float(c, k, 0.25f, -1e30f, 1e30f, &f, &err);
        sg_config_bool(c, k, true, &b, &err);
        sg_config_string(c, k, "dflt", &s, &err);
        sg_config_string(c, k, NULL, &s, &err);
        sg_config_choice(c, k, "a", cfg_choices_, &ch, &err);
        sg_config_ints(c, k, idef, 2, -100000, 100000, iv, &err);
        sg_config_ints(c, k, idef, 3, -2147483647L - 1, 2147483647L, iv, &err);
        sg_config_floats(c, k, fdef, 3, fv, &err);
    }
    sg_config_check_unused(c, &err);
    static const char *const skip[] = {"train", "data.crop", NULL};
    (void)sg_config_hash(c, skip);
    (void)sg_config_hash(c, NULL);
    sg_config_free(c);
    free(buf);
    return 0;
}
