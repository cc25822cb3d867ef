/*
 * backend.c: devices, the choice of a backend and the list of kernel-table
 * entries (backend.h). The tables themselves live with their kernels:
 * src/cpu/backend_reference.c, src/cpu/backend_dnnl.c (oneDNN builds) and
 * src/cuda/cuda_backend.cu (CUDA builds); this file is where a build's
 * backends are known by name, so the op wrappers never ask which exist.
 * Covered by tests/test_backend_ops.c (every entry of every backend) and
 * tests/test_tensor.c (devices, names, missing entries).
 */
#include "config.h"
#include "semiseg/backend.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

bool sg_device_equal(sg_device a, sg_device b) { return a.type == b.type && a.index == b.index; }

const char *sg_device_str(sg_device d, char *buf, size_t len)
{
    if (d.type == SG_DEVICE_CPU)
        snprintf(buf, len, "cpu");
    else
        snprintf(buf, len, "cuda:%d", d.index);
    return buf;
}

int sg_device_parse(const char *s, sg_device *out, sg_err *err)
{
    if (strcmp(s, "cpu") == 0) {
        *out = (sg_device){SG_DEVICE_CPU, 0};
        return 0;
    }
    if (strcmp(s, "cuda") == 0) {
        *out = (sg_device){SG_DEVICE_CUDA, 0};
        return 0;
    }
    if (strncmp(s, "cuda:", 5) == 0 && s[5] >= '0' && s[5] <= '9') {
        char *end;
        long v = strtol(s + 5, &end, 10);
        if (*end == '\0' && v >= 0 && v < 1024) {
            *out = (sg_device){SG_DEVICE_CUDA, (int)v};
            return 0;
        }
    }
    return sg_err_set(err, "device \"%s\": expected cpu, cuda or cuda:N", s);
}

#ifndef SG_HAVE_DNNL
const sg_backend *sg_backend_cpu_dnnl(void) { return NULL; }
#endif

#ifndef SG_HAVE_CUDA
const sg_backend *sg_backend_cuda(int index, sg_err *err)
{
    sg_err_set(err, "cuda:%d requested, but semiseg was built without CUDA "
                    "(./configure --with-cuda on a machine with nvcc, cuBLAS and cuDNN)",
               index);
    return NULL;
}
#endif

static const sg_backend *sg_cpu_default_;
static pthread_once_t sg_cpu_default_once_ = PTHREAD_ONCE_INIT;

static void sg_cpu_default_choose_(void)
{
    const char *env = getenv("SG_CPU_PATH");
    if (env && strcmp(env, "reference") == 0) {
        sg_cpu_default_ = sg_backend_cpu_reference();
    } else if (env && strcmp(env, "fast") == 0) {
        sg_cpu_default_ = sg_backend_cpu_dnnl();
        SG_CHECK(sg_cpu_default_, "SG_CPU_PATH=fast needs oneDNN: reconfigure after installing "
                                  "libdnnl-dev");
    } else {
        SG_CHECK(!env || !*env, "SG_CPU_PATH=%s: expected reference or fast", env);
        sg_cpu_default_ =
            sg_backend_cpu_dnnl() ? sg_backend_cpu_dnnl() : sg_backend_cpu_reference();
    }
}

const sg_backend *sg_backend_cpu_default(void)
{
    pthread_once(&sg_cpu_default_once_, sg_cpu_default_choose_);
    return sg_cpu_default_;
}

const sg_backend *sg_backend_by_name(const char *name, sg_err *err)
{
    if (strcmp(name, "reference") == 0 || strcmp(name, "cpu-reference") == 0)
        return sg_backend_cpu_reference();
    if (strcmp(name, "fast") == 0 || strcmp(name, "cpu-dnnl") == 0) {
        const sg_backend *be = sg_backend_cpu_dnnl();
        if (!be)
            sg_err_set(err, "backend %s: semiseg was built without oneDNN (install libdnnl-dev "
                            "and reconfigure)", name);
        return be;
    }
    if (strcmp(name, "cpu") == 0) return sg_backend_cpu_default();
    sg_device d;
    if (strncmp(name, "cuda", 4) == 0 && sg_device_parse(name, &d, NULL) == 0)
        return sg_backend_cuda(d.index, err);
    sg_err_set(err, "backend \"%s\": expected reference, fast, cpu, cuda or cuda:N", name);
    return NULL;
}

const sg_backend *sg_backend_of_device(sg_device d)
{
    if (d.type == SG_DEVICE_CPU) return sg_backend_cpu_default();
    sg_err err;
    const sg_backend *be = sg_backend_cuda(d.index, &err);
    SG_CHECK(be, "%s", err.msg);
    return be;
}

void sg_backend_missing_(const sg_backend *be, const char *entry, const char *file, int line)
{
    sg_die_(file, line, entry, "backend %s has no kernel %s", be->name, entry);
}

#define SG_ENTRY_(n) {#n, offsetof(sg_backend, n)}
const sg_backend_entry sg_backend_entries[] = {
    SG_ENTRY_(alloc),
    SG_ENTRY_(free),
    SG_ENTRY_(memset_zero),
    SG_ENTRY_(copy),
    SG_ENTRY_(to_device),
    SG_ENTRY_(to_host),
    SG_ENTRY_(synchronize),
    SG_ENTRY_(conv2d_forward),
    SG_ENTRY_(conv2d_backward),
    SG_ENTRY_(conv2d_crop_weight),
    SG_ENTRY_(batchnorm_forward),
    SG_ENTRY_(batchnorm_backward),
    SG_ENTRY_(layernorm_forward),
    SG_ENTRY_(layernorm_backward),
    SG_ENTRY_(maxpool2d_forward),
    SG_ENTRY_(maxpool2d_backward),
    SG_ENTRY_(global_avgpool_forward),
    SG_ENTRY_(global_avgpool_backward),
    SG_ENTRY_(relu_forward),
    SG_ENTRY_(relu_backward),
    SG_ENTRY_(gelu_forward),
    SG_ENTRY_(gelu_backward),
    SG_ENTRY_(add_forward),
    SG_ENTRY_(add_backward),
    SG_ENTRY_(sub_forward),
    SG_ENTRY_(sub_backward),
    SG_ENTRY_(mul_forward),
    SG_ENTRY_(mul_backward),
    SG_ENTRY_(scale_forward),
    SG_ENTRY_(scale_backward),
    SG_ENTRY_(dropout2d_forward),
    SG_ENTRY_(dropout2d_backward),
    SG_ENTRY_(resize_bilinear_forward),
    SG_ENTRY_(resize_bilinear_backward),
    SG_ENTRY_(resize_nearest_forward),
    SG_ENTRY_(resize_nearest_backward),
    SG_ENTRY_(resize_nearest_labels),
    SG_ENTRY_(concat_forward),
    SG_ENTRY_(concat_backward),
    SG_ENTRY_(narrow_forward),
    SG_ENTRY_(narrow_backward),
    SG_ENTRY_(softmax_forward),
    SG_ENTRY_(softmax_backward),
    SG_ENTRY_(log_softmax_forward),
    SG_ENTRY_(log_softmax_backward),
    SG_ENTRY_(sum_forward),
    SG_ENTRY_(mean_forward),
    SG_ENTRY_(sum_backward),
    SG_ENTRY_(mean_backward),
    SG_ENTRY_(linear_forward),
    SG_ENTRY_(linear_backward),
    SG_ENTRY_(matmul_forward),
    SG_ENTRY_(matmul_backward),
    SG_ENTRY_(cross_entropy_forward),
    SG_ENTRY_(cross_entropy_backward),
    SG_ENTRY_(cross_entropy_check_targets),
    SG_ENTRY_(ohem_target_prob),
    SG_ENTRY_(ohem_select),
    SG_ENTRY_(weighted_sum),
    SG_ENTRY_(mse_forward),
    SG_ENTRY_(mse_backward),
    SG_ENTRY_(kl_div_forward),
    SG_ENTRY_(kl_div_backward),
    SG_ENTRY_(entropy_forward),
    SG_ENTRY_(entropy_backward),
    SG_ENTRY_(sgd_update),
    SG_ENTRY_(ema_blend),
    SG_ENTRY_(pseudo_label),
    SG_ENTRY_(paste),
    SG_ENTRY_(count_confident),
    SG_ENTRY_(valid_from_ignore),
    SG_ENTRY_(masked_target),
    SG_ENTRY_(confidence_indicator),
    SG_ENTRY_(cons_weight_map),
    SG_ENTRY_(argmax_u8),
    SG_ENTRY_(index_select_forward),
    SG_ENTRY_(index_select_backward),
    SG_ENTRY_(permute_forward),
    SG_ENTRY_(permute_backward),
    SG_ENTRY_(normalize_forward),
    SG_ENTRY_(normalize_backward),
    SG_ENTRY_(cosine_similarity_forward),
    SG_ENTRY_(cosine_similarity_backward),
    SG_ENTRY_(standardize_forward),
    SG_ENTRY_(standardize_backward),
    SG_ENTRY_(layernorm_channels_forward),
    SG_ENTRY_(layernorm_channels_backward),
    SG_ENTRY_(attention_forward),
    SG_ENTRY_(attention_backward),
};
#undef SG_ENTRY_
const int sg_backend_n_entries = (int)(sizeof sg_backend_entries / sizeof sg_backend_entries[0]);

bool sg_backend_has(const sg_backend *be, int entry)
{
    SG_CHECK(entry >= 0 && entry < sg_backend_n_entries, "sg_backend_has: entry %d of %d", entry,
             sg_backend_n_entries);
    void (*fn)(void);
    memcpy(&fn, (const char *)be + sg_backend_entries[entry].offset, sizeof fn);
    return fn != NULL;
}
