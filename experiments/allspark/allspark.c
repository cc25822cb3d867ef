/*
 * allspark.c: AllSpark (Wang, Zhang, Li, Li, "AllSpark: Reborn Labeled
 * Features from Unlabeled in Transformer for Semi-Supervised Semantic
 * Segmentation", CVPR 2024; xmed-lab/AllSpark@9da63e2:train_allspark.py):
 * SegFormer (MiT) with the AllSpark module on c4 (or, allspark.network =
 * deeplabv3plus, the suite's DeepLabV3+ with the module between c4 and the
 * ASPP), trained on
 *     L = (L_x + CE(pred_u, argmax of the eval-mode prediction)) / 2
 * with the Semantic Memory read from epoch allspark.warmup_epoch on. The
 * step is allspark_loss() (allspark_loss.c); the network is the core's
 * sg_allspark_net (include/semiseg/allspark.h), built here through the
 * driver's net_build hook since it is not the driver's DeepLabV3+ alone. Data,
 * SGD + poly, evaluation (the module's duplicated-input path), checkpoints:
 * the run driver's (run.h).
 *
 * experiments/allspark/README.md is the literate account. Covered by
 * tests/test_allspark.c and tests/trainer_allspark.sh.
 */
#include <stdlib.h>

#include "semiseg/method.h"
#include "semiseg/run.h"
#include "allspark_loss.h"

/* The network and the hyper-parameters of section [allspark] (defaults:
 * the released VOC configuration; sources in the README). */
typedef struct {
    long warmup_epoch;
    bool ignore_padding;
} as_state_;

/* allspark.network picks the network (allspark.h): "segformer", the
 * released one, whose [model] is the SegFormer of sg_run_read_segformer
 * (MiT-B<mit>, the head width, drop-path and the head's Dropout2d); or
 * "deeplabv3plus", the module between c4 and the ASPP of the DeepLabV3+
 * every other trainer builds from [model] (sg_run_read_deeplab), its
 * ResNet pretrained as theirs. [allspark] also holds the module's heads,
 * dropout and pooling. */
static const char *const networks_[] = {"segformer", "deeplabv3plus", NULL};

static int as_net_build_(sg_run *run, sg_run_net *net, sg_err *err)
{
    sg_config *c = run->cfg;
    long heads, pool;
    float drop;
    int network;
    sg_allspark_net_config cfg = {0};
    if (sg_config_choice(c, "allspark.network", networks_[0], networks_, &network, err)) return -1;
    if (network == 0) {
        cfg.tokens = sg_allspark_tokens(run->crop);
        if (sg_run_read_segformer(run, &cfg.variant, &cfg.seg, err)) return -1;
    } else {
        cfg.arch = SG_ALLSPARK_DEEPLAB;
        if (sg_run_read_deeplab(run, &cfg.deeplab, err)) return -1;
        cfg.tokens = sg_allspark_deeplab_tokens(&cfg.deeplab, run->crop);
    }
    if (sg_config_int(c, "allspark.heads", 2, 1, 64, &heads, err) ||
        sg_config_float(c, "allspark.dropout", 0.1f, 0, 0.99f, &drop, err) ||
        sg_config_int(c, "allspark.pool_size", 2, 0, 4096, &pool, err))
        return -1;
    cfg.heads = (int)heads;
    cfg.dropout = drop;
    cfg.pool_size = (int)pool;
    sg_allspark_net *m = sg_xmalloc(sizeof *m);
    sg_allspark_net_init(m, &cfg, run->seed);
    *net = (sg_run_net){.params = sg_allspark_net_params(m),
                        .training = sg_allspark_net_training(m),
                        .self = m,
                        .logits = sg_allspark_net_eval_logits,
                        .load_pretrained = network == 0 ? sg_pretrained_load_mit : sg_pretrained_load_resnet};
    sg_allspark_net_config_format(&cfg, net->line, sizeof net->line);
    return 0;
}

static void as_net_free_(sg_run_net *net)
{
    sg_allspark_net_free(net->self);
    free(net->self);
}

static int as_init_(sg_run *run, void **state, sg_err *err)
{
    as_state_ *st = sg_xcalloc(1, sizeof *st);
    *state = st;
    /* The groups of the labeled branch: as many labeled as unlabeled images
     * per group, so both batches split alike (2 + 2 per GPU as released). */
    const int pool = ((const sg_allspark_net *)run->net.self)->mod.cfg.pool_size;
    if (pool > 0 && (run->batch_size_u != run->batch_size || run->batch_size % pool))
        return sg_err_set(err, "allspark.pool_size = %d needs train.batch_size (%d) = train.batch_size_u (%d), "
                               "a multiple of it (0 pools the whole batch)", pool, run->batch_size,
                          run->batch_size_u);
    return sg_config_int(run->cfg, "allspark.warmup_epoch", 5, 0, 65535, &st->warmup_epoch, err) ||
                   sg_config_bool(run->cfg, "allspark.ignore_padding", false, &st->ignore_padding, err)
               ? -1
               : 0;
}

/* One iteration: the dropouts and drop-path are keyed by (run seed,
 * iteration), so --resume repeats them. */
static int as_step_(sg_run *run, void *state, const sg_batch *lab, const sg_batch *unl, sg_losses *out,
                    sg_err *err)
{
    (void)err;
    const as_state_ *st = state;
    /* set_SMem_status(epoch): using_SMem = epoch >= warmup_epoch */
    const allspark_params hp = {.use_memory = run->epoch >= st->warmup_epoch,
                                .ignore_padding = st->ignore_padding};
    const sg_mit_noise noise = {.seed = run->seed, .a = (uint64_t)run->iter};
    const sg_semi_sup sup = sg_semi_sup_of_run(run);
    sg_semi_terms terms;
    sg_tensor *loss = allspark_loss(&run->ctx, run->net.self, lab, unl, &hp, &noise, &sup, &terms);
    sg_backward(&run->ctx, loss);
    sg_semi_report(&terms, out);
    out->images = lab->n + unl->n;
    return 0;
}

static void as_free_(void *state)
{
    free(state);
}

static const sg_method method = {
    .name = "allspark",
    .unlabeled_loaders = 1,
    .unlabeled_views = SG_VIEWS_WEAK,   /* the pseudo-labels and the student both take u_w */
    .labeled_strong_view = true,
    .init = as_init_,
    .step = as_step_,
    .free = as_free_,
    .net_build = as_net_build_,
    .net_free = as_net_free_,
};

int main(int argc, char **argv)
{
    return sg_run_main(argc, argv, &method);
}
