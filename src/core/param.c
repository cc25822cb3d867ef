/*
 * param.c: named parameter sets (optim.h): a model's trainable parameters,
 * each with a gradient buffer and an optimizer group, and its buffers (BN
 * running statistics), all long-lived float tensors owned by the set.
 *
 * Names follow torch's state_dict keys ("layer1.0.conv1.weight") and are
 * unique across parameters and buffers, as state_dict keys are, so that
 * checkpoints and the teacher/student pairing can match entries by name.
 * Two sets built by the same code list their entries in the same order;
 * sg_param_set_copy pairs entries by position and checks that names and
 * shapes agree.
 *
 * Covered by tests/test_optim.c.
 */
#include "semiseg/optim.h"

#include <stdlib.h>
#include <string.h>

void sg_param_set_init(sg_param_set *s) { memset(s, 0, sizeof *s); }

void sg_param_set_free(sg_param_set *s)
{
    for (int i = 0; i < s->n_params; i++) sg_tensor_free(s->params[i].t);
    for (int i = 0; i < s->n_buffers; i++) sg_tensor_free(s->buffers[i].t);
    free(s->params);
    free(s->buffers);
    memset(s, 0, sizeof *s);
}

static sg_param *sg_find_in_(sg_param *list, int n, const char *name)
{
    for (int i = 0; i < n; i++)
        if (strcmp(list[i].name, name) == 0) return &list[i];
    return NULL;
}

sg_param *sg_param_find(sg_param_set *s, const char *name)
{
    return sg_find_in_(s->params, s->n_params, name);
}

sg_param *sg_buffer_find(sg_param_set *s, const char *name)
{
    return sg_find_in_(s->buffers, s->n_buffers, name);
}

/* Appends an entry to one of the two lists after checking the name against both. */
static sg_tensor *sg_entry_add_(sg_param_set *s, sg_param **list, int *n, int *cap,
                                const char *func, const char *name, int group, int ndim,
                                const int *shape, bool requires_grad)
{
    SG_CHECK(name && name[0], "%s: empty parameter name", func);
    SG_CHECK(strlen(name) < SG_PARAM_NAME_LEN, "%s: name \"%s\" is longer than %d characters",
             func, name, SG_PARAM_NAME_LEN - 1);
    SG_CHECK(!sg_param_find(s, name) && !sg_buffer_find(s, name),
             "%s: duplicate parameter name \"%s\"", func, name);
    if (*n == *cap) {
        *cap = *cap ? *cap * 2 : 16;
        sg_param *grown = realloc(*list, (size_t)*cap * sizeof **list);
        SG_CHECK(grown != NULL, "%s: out of memory growing the set to %d entries", func, *cap);
        *list = grown;
    }
    sg_param *p = &(*list)[(*n)++];
    memset(p, 0, sizeof *p);
    memcpy(p->name, name, strlen(name) + 1);
    p->group = group;
    p->t = sg_tensor_alloc(SG_F32, ndim, shape, requires_grad);
    return p->t;
}

sg_tensor *sg_param_add(sg_param_set *s, const char *name, int group, int ndim, const int *shape)
{
    SG_CHECK(group >= 0 && group < SG_MAX_PARAM_GROUPS,
             "sg_param_add: group %d of \"%s\" is outside [0, %d)", group, name ? name : "",
             SG_MAX_PARAM_GROUPS);
    return sg_entry_add_(s, &s->params, &s->n_params, &s->cap_params, "sg_param_add", name,
                         group, ndim, shape, true);
}

sg_tensor *sg_buffer_add(sg_param_set *s, const char *name, int ndim, const int *shape)
{
    return sg_entry_add_(s, &s->buffers, &s->n_buffers, &s->cap_buffers, "sg_buffer_add", name, 0,
                         ndim, shape, false);
}

void sg_param_zero_grad(sg_param_set *s)
{
    for (int i = 0; i < s->n_params; i++) sg_tensor_zero_grad(s->params[i].t);
}

size_t sg_param_count(const sg_param_set *s)
{
    size_t n = 0;
    for (int i = 0; i < s->n_params; i++) n += sg_numel(s->params[i].t);
    return n;
}

/* Entry i of dst and src must be the same named tensor of the same shape. */
static void sg_check_pair_(const char *func, const sg_param *d, const sg_param *s)
{
    char a[SG_SHAPE_STR_LEN], b[SG_SHAPE_STR_LEN];
    SG_CHECK(strcmp(d->name, s->name) == 0, "%s: entry \"%s\" paired with \"%s\"", func, d->name,
             s->name);
    SG_CHECK(sg_same_shape(d->t, s->t), "%s: \"%s\" has shape %s vs %s", func, d->name,
             sg_shape_str(d->t, a, sizeof a), sg_shape_str(s->t, b, sizeof b));
}

/* Copies n bytes of data between two tensors on one device. */
static void sg_param_copy_data_(sg_tensor *dst, const sg_tensor *src, size_t n)
{
    char a[SG_DEVICE_STR_LEN], b[SG_DEVICE_STR_LEN];
    SG_CHECK(sg_device_equal(dst->device, src->device),
             "sg_param_set_copy: from %s to %s: move the sets to one device first",
             sg_device_str(src->device, a, sizeof a), sg_device_str(dst->device, b, sizeof b));
    sg_backend_of_device(dst->device)->copy(dst->data, src->data, n);
}

void sg_param_set_move(sg_param_set *s, const sg_backend *be)
{
    for (int i = 0; i < s->n_params; i++) sg_tensor_move(s->params[i].t, be);
    for (int i = 0; i < s->n_buffers; i++) sg_tensor_move(s->buffers[i].t, be);
}

void sg_param_set_copy(sg_param_set *dst, const sg_param_set *src)
{
    SG_CHECK(dst->n_params == src->n_params && dst->n_buffers == src->n_buffers,
             "sg_param_set_copy: %d parameters and %d buffers vs %d and %d", dst->n_params,
             dst->n_buffers, src->n_params, src->n_buffers);
    for (int i = 0; i < src->n_params; i++) {
        sg_check_pair_("sg_param_set_copy", &dst->params[i], &src->params[i]);
        sg_param_copy_data_(dst->params[i].t, src->params[i].t,
                            sg_numel(src->params[i].t) * sizeof(float));
    }
    for (int i = 0; i < src->n_buffers; i++) {
        sg_check_pair_("sg_param_set_copy", &dst->buffers[i], &src->buffers[i]);
        sg_param_copy_data_(dst->buffers[i].t, src->buffers[i].t,
                            sg_numel(src->buffers[i].t) * sizeof(float));
    }
}
