/*
 * class_queue.c: per-class FIFO queues of feature vectors as rings in the
 * buffers of a parameter set (include/semiseg/class_queue.h). A push or a
 * read touches at most two contiguous runs of a ring, copied with
 * sg_tensor_{read,write}_range so the buffers may be on any device. The
 * ring state is read from its buffer at every call rather than mirrored:
 * a checkpoint load (--resume) overwrites the buffer, and a mirror would go
 * stale.
 * Covered by tests/test_class_queue.c.
 */
#include "semiseg/class_queue.h"

#include <stdio.h>

#define SG_CLASS_QUEUE_MAX_CAP (1 << 24)

static void sg_cq_check_class_(const sg_class_queue *q, int c, const char *fn)
{
    SG_CHECK(c >= 0 && c < q->n_classes, "%s: class %d outside [0, %d)", fn, c, q->n_classes);
}

static void sg_cq_state_(const sg_class_queue *q, int c, int *size, int *head)
{
    float v[2];
    sg_tensor_read_range(q->state, (size_t)c * 2, 2, v);
    *size = (int)v[0];
    *head = (int)v[1];
}

void sg_class_queue_init(sg_class_queue *q, sg_param_set *set, const char *prefix, int n_classes,
                         const int *capacity, int dim)
{
    SG_CHECK(n_classes >= 1 && n_classes <= SG_CLASS_QUEUE_MAX && dim >= 1,
             "sg_class_queue_init: %d classes (1..%d) of dimension %d", n_classes, SG_CLASS_QUEUE_MAX, dim);
    q->n_classes = n_classes;
    q->dim = dim;
    char name[SG_PARAM_NAME_LEN];
    for (int c = 0; c < n_classes; c++) {
        SG_CHECK(capacity[c] >= 1 && capacity[c] <= SG_CLASS_QUEUE_MAX_CAP,
                 "sg_class_queue_init: class %d capacity %d outside [1, 2^24]", c, capacity[c]);
        q->capacity[c] = capacity[c];
        SG_CHECK(snprintf(name, sizeof name, "%s%d.rows", prefix, c) < (int)sizeof name,
                 "sg_class_queue_init: prefix \"%s\" too long", prefix);
        q->rows[c] = sg_buffer_add(set, name, 2, (const int[]){capacity[c], dim});
    }
    SG_CHECK(snprintf(name, sizeof name, "%sstate", prefix) < (int)sizeof name,
             "sg_class_queue_init: prefix \"%s\" too long", prefix);
    /* sg_buffer_add zeroes: every queue starts with size 0, head 0. */
    q->state = sg_buffer_add(set, name, 2, (const int[]){n_classes, 2});
}

int sg_class_queue_size(const sg_class_queue *q, int c)
{
    sg_cq_check_class_(q, c, "sg_class_queue_size");
    int size, head;
    sg_cq_state_(q, c, &size, &head);
    return size;
}

/* Rows [pos, pos + n) of the ring of class c, wrapping at the capacity:
 * at most two runs. */
static void sg_cq_write_ring_(sg_class_queue *q, int c, int pos, int n, const float *rows)
{
    const int cap = q->capacity[c], first = n < cap - pos ? n : cap - pos;
    const size_t d = (size_t)q->dim;
    sg_tensor_write_range(q->rows[c], (size_t)pos * d, (size_t)first * d, rows);
    if (n > first) sg_tensor_write_range(q->rows[c], 0, (size_t)(n - first) * d, rows + (size_t)first * d);
}

void sg_class_queue_push(sg_class_queue *q, int c, const float *rows, int n)
{
    sg_cq_check_class_(q, c, "sg_class_queue_push");
    SG_CHECK(n >= 0, "sg_class_queue_push: %d rows", n);
    const int cap = q->capacity[c];
    int size, head;
    sg_cq_state_(q, c, &size, &head);
    if (n >= cap) {
        /* Only the newest cap rows survive, the oldest of them first. */
        sg_tensor_write_range(q->rows[c], 0, (size_t)cap * (size_t)q->dim, rows + (size_t)(n - cap) * (size_t)q->dim);
        size = cap;
        head = 0;
    } else if (n > 0) {
        sg_cq_write_ring_(q, c, (head + size) % cap, n, rows);
        const int overflow = size + n - cap;
        if (overflow > 0) {
            head = (head + overflow) % cap;
            size = cap;
        } else {
            size += n;
        }
    }
    const float v[2] = {(float)size, (float)head};
    sg_tensor_write_range(q->state, (size_t)c * 2, 2, v);
}

void sg_class_queue_read(const sg_class_queue *q, int c, int first, int n, float *out)
{
    sg_cq_check_class_(q, c, "sg_class_queue_read");
    int size, head;
    sg_cq_state_(q, c, &size, &head);
    SG_CHECK(first >= 0 && n >= 0 && first <= size && n <= size - first,
             "sg_class_queue_read: rows [%d, %d) of class %d, which holds %d", first, first + n, c, size);
    const int cap = q->capacity[c], pos = (head + first) % cap, run = n < cap - pos ? n : cap - pos;
    const size_t d = (size_t)q->dim;
    sg_tensor_read_range(q->rows[c], (size_t)pos * d, (size_t)run * d, out);
    if (n > run) sg_tensor_read_range(q->rows[c], 0, (size_t)(n - run) * d, out + (size_t)run * d);
}
