/*
 * test_class_queue.c: sg_class_queue (include/semiseg/class_queue.h).
 * (a) 400 pushes of 0..13 rows (some larger than the capacity) to 3 classes
 *     of capacities 5, 8 and 1 behave exactly as U2PL's update written
 *     plainly: concatenate the new keys and keep the last `capacity`
 *     (Haochen-Wang409/U2PL@ab3d2be:u2pl/utils/utils.py
 *     dequeue_and_enqueue); after every push the size and every row, read
 *     whole and in pieces that straddle the ring's end, match;
 * (b) the queue saved in a checkpoint as an extra set and loaded into a
 *     fresh one continues identically;
 * (c) a bad class, a read past the size and a bad capacity abort naming
 *     the function.
 * All comparisons are exact (rows are copied, never computed).
 */
#include "expect_abort.h"
#include "tap.h"

#include "semiseg/checkpoint.h"
#include "semiseg/class_queue.h"
#include "semiseg/rng.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define NC 3
#define DIM 4
static const int caps[NC] = {5, 8, 1};

/* The plain model: all keys ever pushed per class; the queue is the tail. */
typedef struct {
    float *rows;
    int n;
} model_t;

static void model_push(model_t *m, const float *rows, int n)
{
    m->rows = realloc(m->rows, (size_t)(m->n + n + 1) * DIM * sizeof(float));
    if (n) memcpy(m->rows + (size_t)m->n * DIM, rows, (size_t)n * DIM * sizeof(float));
    m->n += n;
}

static bool same_as_model(const sg_class_queue *q, int c, const model_t *m)
{
    const int want = m->n < caps[c] ? m->n : caps[c];
    if (sg_class_queue_size(q, c) != want) return false;
    if (want == 0) return true; /* nothing pushed yet: m->rows may be NULL */
    float out[16 * DIM];
    const float *tail = m->rows + (size_t)(m->n - want) * DIM;
    sg_class_queue_read(q, c, 0, want, out);
    if (memcmp(out, tail, (size_t)want * DIM * sizeof(float))) return false;
    /* Every (first, n) piece, so that reads across the ring's end count. */
    for (int first = 0; first <= want; first++)
        for (int n = 0; n <= want - first; n++) {
            sg_class_queue_read(q, c, first, n, out);
            if (memcmp(out, tail + (size_t)first * DIM, (size_t)n * DIM * sizeof(float))) return false;
        }
    return true;
}

static void push_random(sg_class_queue *q, model_t *m, sg_rng *r, float *counter)
{
    const int c = (int)sg_rng_below(r, NC), n = (int)sg_rng_below(r, 14);
    float rows[13 * DIM];
    for (int i = 0; i < n * DIM; i++) rows[i] = (*counter)++;
    sg_class_queue_push(q, c, rows, n);
    model_push(&m[c], rows, n);
}

static void bad_class_(void *arg) { sg_class_queue_size(arg, NC); }
static void bad_read_(void *arg)
{
    float out[DIM * 9];
    sg_class_queue_read(arg, 1, 1, 8, out);
}
static void bad_capacity_(void *arg)
{
    (void)arg;
    sg_param_set s;
    sg_param_set_init(&s);
    sg_class_queue q;
    sg_class_queue_init(&q, &s, "q.", 1, (const int[]){0}, 2);
}

int main(void)
{
    sg_param_set set;
    sg_param_set_init(&set);
    sg_class_queue q;
    sg_class_queue_init(&q, &set, "queue.", NC, caps, DIM);
    tap_ok(set.n_buffers == NC + 1 && sg_buffer_find(&set, "queue.1.rows") && sg_buffer_find(&set, "queue.state") &&
               sg_class_queue_size(&q, 0) == 0 && sg_class_queue_size(&q, 2) == 0,
           "the buffers are registered in the set and the queues start empty");

    model_t m[NC] = {{0}};
    sg_rng r;
    sg_rng_init(&r, 7, 0);
    float counter = 1;
    bool ok = true;
    int first_bad = -1;
    for (int it = 0; it < 400 && ok; it++) {
        push_random(&q, m, &r, &counter);
        for (int c = 0; c < NC; c++) ok = ok && same_as_model(&q, c, &m[c]);
        if (!ok) first_bad = it;
    }
    tap_ok(ok, "400 random pushes keep the last `capacity` keys of each class, oldest first (first bad push %d)",
           first_bad);

    /* (b) save, load into a fresh queue, and continue both alike. */
    char dir[256], path[300];
    snprintf(dir, sizeof dir, "%s/semiseg-cq.XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    if (!mkdtemp(dir)) tap_skip_all("cannot create a temp dir");
    snprintf(path, sizeof path, "%s/q.safetensors", dir);
    sg_param_set model, set2;
    sg_param_set_init(&model);
    sg_param_add(&model, "w", 0, 1, (const int[]){2});
    sg_param_set_init(&set2);
    sg_class_queue q2;
    sg_class_queue_init(&q2, &set2, "queue.", NC, caps, DIM);
    sg_err err;
    sg_checkpoint ck = {.model = &model, .n_extra = 1};
    ck.extra[0] = (sg_ckpt_part){"state/", &set, NULL};
    int rc = sg_checkpoint_save(&ck, path, &err);
    ck.extra[0].set = &set2;
    rc = rc || sg_checkpoint_load(&ck, path, &err);
    ok = rc == 0;
    for (int c = 0; c < NC; c++) ok = ok && same_as_model(&q2, c, &m[c]);
    tap_ok(ok, "a checkpoint round trip restores every queue%s%s", rc ? ": " : "", rc ? err.msg : "");
    sg_rng r2 = r;
    model_t m2[NC] = {{0}};
    for (int c = 0; c < NC; c++) model_push(&m2[c], m[c].rows, m[c].n);
    float counter2 = counter;
    for (int it = 0; it < 50; it++) {
        push_random(&q, m, &r, &counter);
        push_random(&q2, m2, &r2, &counter2);
    }
    ok = true;
    for (int c = 0; c < NC; c++) ok = ok && same_as_model(&q, c, &m[c]) && same_as_model(&q2, c, &m2[c]);
    tap_ok(ok, "and the restored queue continues as the original");
    unlink(path);
    rmdir(dir);

    const char *const want_class[] = {"sg_class_queue_size", "class 3"};
    tap_ok(sg_expect_abort(bad_class_, &q, want_class, 2), "a class out of range aborts");
    const char *const want_read[] = {"sg_class_queue_read", "rows [1, 9)"};
    tap_ok(sg_expect_abort(bad_read_, &q, want_read, 2), "a read past the size aborts");
    const char *const want_cap[] = {"sg_class_queue_init", "capacity 0"};
    tap_ok(sg_expect_abort(bad_capacity_, NULL, want_cap, 2), "a capacity of 0 aborts");

    for (int c = 0; c < NC; c++) {
        free(m[c].rows);
        free(m2[c].rows);
    }
    sg_param_set_free(&set);
    sg_param_set_free(&set2);
    sg_param_set_free(&model);
    return tap_done();
}
