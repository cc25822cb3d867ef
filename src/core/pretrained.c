/*
 * pretrained.c: ImageNet ResNet weights into a model's backbone (model.h).
 *
 * The name map of torchvision / timm / UniMatch ResNet state_dicts onto the
 * set's names is a prefix: "conv1.weight" -> "backbone.conv1.weight",
 * "layer1.0.downsample.1.running_var" -> "backbone.layer1.0.downsample.1.
 * running_var", and the deep stem's "conv1.0.weight", "conv1.1.bias",
 * "conv1.6.weight", "bn1.*" (timm resnet*d, mmcv resnet*_v1c, which UniMatch
 * loads with strict=False) alike; a "module." left by DataParallel is
 * dropped first. The ImageNet classifier fc.* is skipped and BN
 * num_batches_tracked counters are ignored (semiseg keeps none). Loading is
 * strict on the backbone, unlike UniMatch's strict=False, so that a file of
 * another stem or depth is an error naming the entries instead of a
 * silently half-initialised backbone. The file format, validation and
 * reporting are sg_weights_load's (checkpoint.h).
 *
 * Covered by tests/test_model.c: a torchvision-named narrow ResNet saved by
 * tests/ref/gen_model.py loads and reproduces PyTorch's features, and
 * missing / unexpected / mis-shaped names are reported.
 */
#include "semiseg/checkpoint.h"
#include "semiseg/model.h"

int sg_pretrained_load_resnet(sg_param_set *set, const char *prefix, const char *path,
                              sg_err *err)
{
    SG_CHECK(set && prefix && path, "sg_pretrained_load_resnet: NULL argument");
    const sg_name_rule rules[2] = {{"module.", prefix}, {"", prefix}};
    static const char *const skip[2] = {"fc.", "module.fc."};
    const sg_weights_opts opts = {.rules = rules,
                                  .n_rules = 2,
                                  .skip = skip,
                                  .n_skip = 2,
                                  .target_prefix = prefix,
                                  .strict = true};
    return sg_weights_load(set, path, &opts, NULL, err);
}
