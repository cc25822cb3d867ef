/*
 * fixture.h: reader for the binary fixtures written by tests/ref/fixture.py
 * (PyTorch reference values), and the comparison helpers the op tests share.
 */
#ifndef SEMISEG_TEST_FIXTURE_H
#define SEMISEG_TEST_FIXTURE_H

#include "semiseg.h"

typedef struct sg_fixture sg_fixture;

/* Open $top_srcdir/tests/data/<name>; a bad magic/version names `generator`. */
sg_fixture *sg_fixture_open(const char *name, const char *generator);
/* $top_srcdir/tests/data/<name> (top_srcdir unset: the current directory). */
void sg_fixture_path(char *buf, size_t len, const char *name);
/* The safetensors file tests/data/<name> into `set` strictly by name: every
 * entry of the set from the file, no other name in it (a PyTorch
 * state_dict under semiseg's names). */
int sg_fixture_load_weights(sg_param_set *set, const char *name, sg_err *err);
/* The tiny SegFormer of the records cfg.embed, cfg.heads, cfg.depths,
 * cfg.sr (one value per stage) and cfg.misc (mlp ratio, drop_path_rate,
 * head width E, classes K, head dropout; more entries are the test's), as
 * tests/ref/gen_mit.py and gen_allspark.py write them. */
sg_segformer_config sg_fixture_segformer_config(const sg_fixture *f);
void sg_fixture_close(sg_fixture *f);
bool sg_fixture_has(const sg_fixture *f, const char *key);
/* A new long-lived tensor holding the record (f32 or i32); requires_grad for
 * f32 records when asked. Aborts naming the key when it is missing. */
sg_tensor *sg_fixture_tensor(const sg_fixture *f, const char *key, bool requires_grad);
/* The record as doubles (f32/i32/f64) with its element count. */
const double *sg_fixture_doubles(const sg_fixture *f, const char *key, size_t *n);
double sg_fixture_scalar(const sg_fixture *f, const char *key);

/* Elementwise |a - b| <= atol + rtol |b|; on failure prints the worst element
 * as a TAP diagnostic. Returns 1 when all match. */
int sg_allclose(const float *a, const float *b, size_t n, double atol, double rtol, const char *what);
/* The same against a fixture record. */
int sg_check_close(const sg_fixture *f, const char *key, const float *got, size_t n,
                   double atol, double rtol);

/* The record named prefix + name (a case's records share a prefix, e.g.
 * "ln.small." + "dx"): the tensor, or NULL when the case has no such record;
 * the comparison; the scalar. */
sg_tensor *sg_fixture_tensor_opt_at(const sg_fixture *f, const char *prefix, const char *name,
                                    bool requires_grad);
int sg_check_close_at(const sg_fixture *f, const char *prefix, const char *name, const float *got, size_t n,
                      double atol, double rtol);
double sg_fixture_scalar_at(const sg_fixture *f, const char *prefix, const char *name);

#endif
