/* tiny_net.c: see tiny_net.h. */
#include "tiny_net.h"

sg_tensor *tiny_net_entry(sg_param_set *s, const char *name)
{
    sg_param *p = sg_param_find(s, name);
    if (!p) p = sg_buffer_find(s, name);
    SG_CHECK(p != NULL, "tiny net has no entry named %s", name);
    return p->t;
}

sg_tensor *tiny_net_loss(sg_ctx *ctx, sg_param_set *s, sg_tensor *x, const sg_tensor *y)
{
    sg_tensor *h = sg_conv2d(ctx, x, tiny_net_entry(s, "conv1.weight"),
                             tiny_net_entry(s, "conv1.bias"), sg_conv2d_params_make(1, 1, 1, 1));
    h = sg_batchnorm2d(ctx, h, tiny_net_entry(s, "bn1.weight"), tiny_net_entry(s, "bn1.bias"),
                       tiny_net_entry(s, "bn1.running_mean"), tiny_net_entry(s, "bn1.running_var"),
                       true, 0.1f, 1e-5f);
    h = sg_relu(ctx, h);
    h = sg_conv2d(ctx, h, tiny_net_entry(s, "conv2.weight"), NULL, sg_conv2d_params_make(2, 2, 2, 1));
    h = sg_batchnorm2d(ctx, h, tiny_net_entry(s, "bn2.weight"), tiny_net_entry(s, "bn2.bias"),
                       tiny_net_entry(s, "bn2.running_mean"), tiny_net_entry(s, "bn2.running_var"),
                       true, 0.1f, 1e-5f);
    h = sg_relu(ctx, h);
    h = sg_conv2d(ctx, h, tiny_net_entry(s, "cls.weight"), tiny_net_entry(s, "cls.bias"),
                  sg_conv2d_params_make(1, 0, 1, 1));
    h = sg_resize_bilinear(ctx, h, x->shape[2], x->shape[3], true);
    return sg_cross_entropy(ctx, h, y, NULL, 255, SG_REDUCE_MEAN);
}
