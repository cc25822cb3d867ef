/*
 * supervised.c: the supervised-only baseline
 * (LiheYoung/UniMatch@0324f3d:supervised.py): cross-entropy (ignore 255; or OHEM when
 * train.loss = ohem) on labeled batches, epochs = passes over the labeled
 * list. Everything else (data, model, SGD + poly, evaluation, checkpoints)
 * is the run driver's (run.h). experiments/supervised/README.md is the
 * literate account; covered by tests/trainer_supervised.sh and the driver
 * tests (tests/run_*.sh), which train this method.
 */
#include "semiseg/run.h"

/* The method has no hyper-parameters of its own and no state. */
static int sup_init_(sg_run *run, void **state, sg_err *err)
{
    (void)run;
    (void)err;
    *state = NULL;
    return 0;
}

/* L = CE(f(x), y) (sg_run_sup_loss): forward in train mode, backward. */
static int sup_step_(sg_run *run, void *state, const sg_batch *lab, const sg_batch *unl, sg_losses *out,
                     sg_err *err)
{
    (void)state;
    (void)unl;
    (void)err;
    sg_deeplab_out o;
    sg_deeplab_forward(&run->ctx, &run->model, lab->img, NULL, &o);
    sg_tensor *loss = sg_run_sup_loss(run, o.logits, lab->mask);
    sg_backward(&run->ctx, loss);
    sg_losses_add(out, "loss", sg_tensor_item(loss));
    out->images = lab->n;
    return 0;
}

static void sup_free_(void *state)
{
    (void)state;
}

static const sg_method method = {
    .name = "supervised",
    .unlabeled_loaders = 0,
    .init = sup_init_,
    .step = sup_step_,
    .after_step = NULL,
    .eval_model = NULL,
    .free = sup_free_,
};

int main(int argc, char **argv)
{
    return sg_run_main(argc, argv, &method);
}
