/*
 * cuda_backend.cu: the CUDA backend's kernel table (sg_backend_cuda,
 * include/semiseg/backend.h): one table per device index, each entry the
 * sg_cuda_<entry> function of the same name (cuda_kernels.h), implemented in
 * cuda_device.cu (memory), cuda_dnn.cu (convolution, batch norm, linear,
 * matmul), cuda_pointwise.cu, cuda_layout.cu, cuda_softmax_loss.cu,
 * cuda_gather.cu, cuda_normalize.cu and cuda_transformer.cu.
 * Model: ggml's per-backend function tables (ggml-backend.h).
 * Covered by tests/test_backend_ops.c, which runs every entry against the
 * reference CPU backend when a CUDA device is present.
 */
#include "semiseg/base.h"
#include "semiseg/cuda.h"
#include "cuda_check.h"
#include "cuda_kernels.h"

#include <pthread.h>
#include <stddef.h>

/* Every function-pointer member of sg_backend, in declaration order. */
#define SG_CUDA_ENTRIES(X) \
    X(alloc) X(free) X(memset_zero) X(copy) X(to_device) X(to_host) X(synchronize) \
    X(conv2d_forward) X(conv2d_backward) X(conv2d_crop_weight) X(batchnorm_forward) \
    X(batchnorm_backward) X(layernorm_forward) X(layernorm_backward) X(maxpool2d_forward) \
    X(maxpool2d_backward) X(global_avgpool_forward) X(global_avgpool_backward) X(relu_forward) \
    X(relu_backward) X(gelu_forward) X(gelu_backward) X(add_forward) X(add_backward) \
    X(sub_forward) X(sub_backward) X(mul_forward) X(mul_backward) X(scale_forward) \
    X(scale_backward) X(dropout2d_forward) X(dropout2d_backward) X(resize_bilinear_forward) \
    X(resize_bilinear_backward) X(resize_nearest_forward) X(resize_nearest_backward) \
    X(resize_nearest_labels) X(concat_forward) X(concat_backward) X(narrow_forward) \
    X(narrow_backward) X(softmax_forward) X(softmax_backward) X(log_softmax_forward) \
    X(log_softmax_backward) X(sum_forward) X(mean_forward) X(sum_backward) X(mean_backward) \
    X(linear_forward) X(linear_backward) X(matmul_forward) X(matmul_backward) \
    X(cross_entropy_forward) X(cross_entropy_backward) X(cross_entropy_check_targets) \
    X(ohem_target_prob) X(ohem_select) \
    X(weighted_sum) X(mse_forward) X(mse_backward) X(kl_div_forward) X(kl_div_backward) \
    X(entropy_forward) X(entropy_backward) X(sgd_update) X(ema_blend) X(pseudo_label) X(paste) \
    X(count_confident) X(valid_from_ignore) X(masked_target) X(confidence_indicator) \
    X(cons_weight_map) X(argmax_u8) X(index_select_forward) X(index_select_backward) \
    X(permute_forward) X(permute_backward) X(normalize_forward) X(normalize_backward) \
    X(cosine_similarity_forward) X(cosine_similarity_backward) X(standardize_forward) \
    X(standardize_backward) \
    X(layernorm_channels_forward) X(layernorm_channels_backward) X(attention_forward) \
    X(attention_backward)

/* A member added to sg_backend without an entry here would stay NULL, and
 * the op would stop with "not implemented" on CUDA only: count them. */
#define SG_COUNT_ENTRY(e) +1
static_assert(sizeof(sg_backend) - offsetof(sg_backend, alloc) ==
                  (0 SG_CUDA_ENTRIES(SG_COUNT_ENTRY)) * sizeof(void (*)(void)),
              "SG_CUDA_ENTRIES does not list every sg_backend entry");

static sg_backend sg_cuda_tables_[SG_CUDA_MAX_DEVICES];
static bool sg_cuda_tables_made_[SG_CUDA_MAX_DEVICES];
static pthread_mutex_t sg_cuda_tables_lock_ = PTHREAD_MUTEX_INITIALIZER;

const sg_backend *sg_backend_cuda(int index, sg_err *err)
{
    const int count = sg_cuda_device_count();
    if (index < 0 || index >= count) {
        sg_err_set(err, "cuda:%d: no such device (this machine has %d CUDA device%s)", index,
                   count, count == 1 ? "" : "s");
        return NULL;
    }
    if (index >= SG_CUDA_MAX_DEVICES) {
        sg_err_set(err, "cuda:%d: the CUDA backend supports devices 0..%d", index,
                   SG_CUDA_MAX_DEVICES - 1);
        return NULL;
    }
    pthread_mutex_lock(&sg_cuda_tables_lock_);
    if (!sg_cuda_tables_made_[index]) {
        /* The kernels run on the current device: make it this one, so that a
         * program using one device gets it without a cudaSetDevice of its own. */
        CUDA_CHECK(cudaSetDevice(index));
        sg_backend *t = &sg_cuda_tables_[index];
        t->name = "cuda";
        t->device.type = SG_DEVICE_CUDA;
        t->device.index = index;
        /* sg_cuda_set_deterministic keeps it current (below). */
        t->deterministic = sg_cuda_get_deterministic();
        t->set_deterministic = sg_cuda_set_deterministic;
        t->set_tf32 = sg_cuda_set_tf32;
        t->device_name = sg_cuda_device_name;
#define SG_SET_ENTRY(e) t->e = sg_cuda_##e;
        SG_CUDA_ENTRIES(SG_SET_ENTRY)
#undef SG_SET_ENTRY
        sg_cuda_tables_made_[index] = true;
    }
    pthread_mutex_unlock(&sg_cuda_tables_lock_);
    return &sg_cuda_tables_[index];
}

void sg_cuda_tables_set_deterministic(bool on)
{
    pthread_mutex_lock(&sg_cuda_tables_lock_);
    for (int i = 0; i < SG_CUDA_MAX_DEVICES; i++)
        if (sg_cuda_tables_made_[i]) sg_cuda_tables_[i].deterministic = on;
    pthread_mutex_unlock(&sg_cuda_tables_lock_);
}
