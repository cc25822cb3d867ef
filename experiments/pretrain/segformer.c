/*
 * segformer.c: supervised SegFormer (Xie et al., "SegFormer: Simple and
 * Efficient Design for Semantic Segmentation with Transformers", NeurIPS
 * 2021; NVlabs/SegFormer): MiT encoder + all-MLP head trained on
 *     L = CE(f(x), y)
 * over the labeled batches, as experiments/supervised/ trains the
 * DeepLabV3+. Its use here is the demo's pretraining stage for AllSpark's
 * encoder (experiments/pretrain/README.md); it is also AllSpark's supervised
 * baseline network. The network is the core's sg_segformer (mit.h), built
 * through the driver's net_build hook from [model] (sg_run_read_segformer);
 * data, SGD + poly, evaluation, checkpoints: the run driver's (run.h);
 * tools/sg-eval rebuilds it from its checkpoint's "arch=segformer" line.
 * Covered by tests/pretrain.sh.
 */
#include <stdlib.h>

#include "semiseg/run.h"

static int segformer_net_build_(sg_run *run, sg_run_net *net, sg_err *err)
{
    int variant;
    sg_segformer_config cfg;
    if (sg_run_read_segformer(run, &variant, &cfg, err)) return -1;
    sg_segformer *m = sg_xmalloc(sizeof *m);
    sg_segformer_init(m, &cfg, run->seed);
    *net = (sg_run_net){.params = &m->params,
                        .training = &m->training,
                        .self = m,
                        .logits = sg_segformer_eval_logits,
                        .load_pretrained = sg_pretrained_load_mit};
    sg_segformer_line_format(variant, &cfg, net->line, sizeof net->line);
    return 0;
}

static void segformer_net_free_(sg_run_net *net)
{
    sg_segformer_free(net->self);
    free(net->self);
}

static int segformer_init_(sg_run *run, void **state, sg_err *err)
{
    (void)run;
    (void)err;
    *state = NULL;
    return 0;
}

/* Drop-path and Dropout2d are keyed by (run seed, iteration), so --resume
 * repeats them. */
static int segformer_step_(sg_run *run, void *state, const sg_batch *lab, const sg_batch *unl,
                           sg_losses *out, sg_err *err)
{
    (void)state;
    (void)unl;
    (void)err;
    const sg_mit_noise noise = {.seed = run->seed, .a = (uint64_t)run->iter};
    sg_segformer_out o;
    sg_segformer_forward(&run->ctx, run->net.self, lab->img, &noise, &o);
    sg_tensor *loss = sg_run_sup_loss(run, o.logits, lab->mask);
    sg_backward(&run->ctx, loss);
    sg_losses_add(out, "loss", sg_tensor_item(loss));
    out->images = lab->n;
    return 0;
}

static void segformer_free_(void *state)
{
    (void)state;
}

static const sg_method method = {
    .name = "segformer",
    .unlabeled_loaders = 0,
    .init = segformer_init_,
    .step = segformer_step_,
    .free = segformer_free_,
    .net_build = segformer_net_build_,
    .net_free = segformer_net_free_,
};

int main(int argc, char **argv)
{
    return sg_run_main(argc, argv, &method);
}
