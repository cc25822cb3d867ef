/*
 * class_queue.h: per-class FIFO queues of feature vectors, the memory of
 * the contrastive methods: U2PL's banks of negative keys (one queue per
 * class that keeps the LAST capacity[c] keys pushed, oldest first:
 * Haochen-Wang409/U2PL@ab3d2be:u2pl/utils/utils.py dequeue_and_enqueue,
 * torch.cat then keep the tail), CTT's banks of labeled features
 * (1181110317/SSL_CTT@33d7e3c:cross_teacher_contr.py, a fixed number of
 * entries per class, the oldest dropped first).
 *
 * The rows are buffers of a parameter set under a prefix, so that a
 * checkpoint of that set (sg_run_add_state) saves and restores the queues
 * exactly: "<prefix><c>.rows" (capacity[c], dim) float, a ring, and
 * "<prefix>state" (n_classes, 2) float holding each class's [size, head]
 * (exact integers: capacities are limited to 2^24). Every access goes
 * through sg_tensor_read_range / sg_tensor_write_range, so the queues work
 * wherever the set lives; the caller reads and pushes host arrays.
 *
 * Implemented in src/core/class_queue.c; covered by tests/test_class_queue.c
 * (against a plain "concatenate and keep the tail" model of U2PL's
 * update, and a checkpoint round trip).
 */
#ifndef SEMISEG_CLASS_QUEUE_H
#define SEMISEG_CLASS_QUEUE_H

#include "semiseg/optim.h"

#define SG_CLASS_QUEUE_MAX 256

typedef struct sg_class_queue {
    int n_classes, dim;
    int capacity[SG_CLASS_QUEUE_MAX];
    sg_tensor *rows[SG_CLASS_QUEUE_MAX];  /* (capacity[c], dim): a ring */
    sg_tensor *state;                     /* (n_classes, 2): size, head (index of the oldest row) */
} sg_class_queue;

/* Registers the buffers in set under prefix (e.g. "queue."); capacity holds
 * n_classes values in [1, 2^24]; the queues start empty. */
void sg_class_queue_init(sg_class_queue *q, sg_param_set *set, const char *prefix, int n_classes,
                         const int *capacity, int dim);
/* Appends n rows (n x dim floats, host) to class c in order; past the
 * capacity the oldest rows go (with n > capacity only the last capacity of
 * the new rows stay). */
void sg_class_queue_push(sg_class_queue *q, int c, const float *rows, int n);
int sg_class_queue_size(const sg_class_queue *q, int c);
/* Copies rows [first, first + n) of class c, counted from the oldest, into
 * out (n x dim floats, host). */
void sg_class_queue_read(const sg_class_queue *q, int c, int first, int n, float *out);

#endif
