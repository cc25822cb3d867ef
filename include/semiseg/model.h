/*
 * model.h: segmentation models: ResNet-18/34/50/101 backbones and
 * DeepLabV3+ as UniMatch builds it (LiheYoung/UniMatch
 * model/backbone/resnet.py, model/semseg/deeplabv3plus.py), the
 * conv+BN building block they share, parameter initialisation, a
 * parameter/multiply-add counter, and pretrained-weight loading.
 *
 * Names. Every parameter and buffer is registered in one sg_param_set under
 * the name of UniMatch's state_dict, in PyTorch's registration order:
 * backbone.conv1.0.weight (deep stem) or backbone.conv1.weight (torchvision
 * stem), backbone.bn1.*, backbone.layer1.0.conv1.weight, ...downsample.0/1...,
 * head.b0..b3 (ASPP conv branches), head.b4.gap.1/2 (image pooling),
 * head.project.0/1, reduce.0/1, fuse.0/1/3/4, classifier.weight/bias. BN
 * buffers are running_mean and running_var (num_batches_tracked is not
 * stored: momentum is fixed at 0.1, so PyTorch never reads it).
 * Group 0 = backbone, group 1 = everything else (UniMatch's lr_multi group).
 *
 * Architecture (LiheYoung/UniMatch@0324f3d:model/semseg/deeplabv3plus.py,
 * model/backbone/resnet.py). Stems: torchvision (7x7 s2 conv, BN,
 * ReLU, 3x3 s2 max-pool) or the deep "v1c" stem (3x3 s2 3->w, BN, ReLU,
 * 3x3 w->w, BN, ReLU, 3x3 w->2w, BN, ReLU, max-pool), w = widths[0]; the
 * paper model has w = 64, so layer1 sees 128 channels as in UniMatch.
 * Output stride 16 / 8 replaces the stride of layer4 / layer3+layer4 by
 * dilation exactly as torchvision's replace_stride_with_dilation ([F,F,T] /
 * [F,T,T]): the first block of a dilated stage keeps the previous dilation,
 * the others use the new one. multi_grid multiplies layer4's block
 * dilations by (2, 2, 4) (UniMatch's multi_grid, U2PL's 4/8/16 at OS8).
 * torchvision's BasicBlock refuses dilation; here both 3x3 convs of a
 * dilated BasicBlock use it (padding = dilation), which keeps the
 * receptive field of the strided network, as Bottleneck's single 3x3 does.
 *
 * Initialisation follows torchvision/PyTorch in distribution: backbone convs
 * kaiming_normal_(mode='fan_out', nonlinearity='relu'), i.e. N(0, 2/fan_out);
 * head convs PyTorch's default (kaiming_uniform_(a=sqrt(5)) = U(+-1/sqrt(fan_in)),
 * bias U(+-1/sqrt(fan_in))); BN weight 1, bias 0, running stats 0 / 1. The
 * draws come from sg_rng (Philox) stream sg_rng_stream(SG_RNG_INIT, 0, i) for
 * the parameter of index i in the set, so the VALUES differ from PyTorch's
 * generator (same distributions); tests/ref/philox.py rebuilds them exactly.
 *
 * Covered by tests/test_model.c (PyTorch parity of logits, loss and every
 * gradient from tests/ref/gen_model.py, counts, misuse aborts, pretrained
 * loading).
 */
#ifndef SEMISEG_MODEL_H
#define SEMISEG_MODEL_H

#include "semiseg/ops.h"
#include "semiseg/optim.h"

/* BatchNorm2d defaults of PyTorch (UniMatch does not change them). */
#define SG_BN_MOMENTUM 0.1f
#define SG_BN_EPS 1e-5f

/* ---- conv (no bias) + BatchNorm2d: the unit every layer here is made of ----- */
typedef struct sg_convbn {
    sg_tensor *w;             /* (Cout, Cin, k, k) */
    sg_tensor *gamma, *beta;  /* (Cout) BN affine parameters */
    sg_tensor *mean, *var;    /* (Cout) BN running statistics (buffers) */
    sg_conv2d_params p;
} sg_convbn;

/* How a builder initialises the conv weights it creates. */
typedef enum sg_init_rule {
    SG_INIT_KAIMING_FAN_OUT = 0,   /* torchvision ResNet: N(0, 2 / (Cout k k)) */
    SG_INIT_TORCH_DEFAULT = 1      /* nn.Conv2d.reset_parameters: U(+-1/sqrt(Cin k k)) */
} sg_init_rule;

/* Adds named, initialised parameters to a set; each parameter draws from
 * the init stream of its index in the set (see the header comment). */
typedef struct sg_builder {
    sg_param_set *set;
    uint64_t seed;
    int group;                /* optimizer group of the parameters added */
    sg_init_rule conv_init;
} sg_builder;

/* Conv weight `name` (cout, cin, k, k), initialised by b->conv_init. */
sg_tensor *sg_builder_conv(sg_builder *b, const char *name, int cout, int cin, int k);
/* Bias `name` (n) with PyTorch's default U(+-1/sqrt(fan_in)). */
sg_tensor *sg_builder_bias(sg_builder *b, const char *name, int n, int fan_in);
/* conv `conv_name`.weight + BN `bn_name`.{weight, bias, running_mean,
 * running_var}; padding = dilation * (k - 1) / 2 as every conv here uses. */
sg_convbn sg_builder_convbn(sg_builder *b, const char *conv_name, const char *bn_name, int cin,
                            int cout, int k, int stride, int dilation);

/* bn(conv(x)), then ReLU when relu. training: batch statistics (and the
 * running statistics are updated), else the running statistics. */
sg_tensor *sg_convbn_forward(sg_ctx *ctx, const sg_convbn *cb, sg_tensor *x, bool training,
                             bool relu);

/* ---- initialisers (init.c): stream-keyed Philox draws, torch distributions ---- */
/* w ~ N(0, 2 / fan_out), fan_out = shape[0] * prod(shape[2:]):
 * torch.nn.init.kaiming_normal_(w, mode='fan_out', nonlinearity='relu'). */
void sg_init_kaiming_normal_fan_out(sg_tensor *w, uint64_t seed, uint64_t stream);
/* t ~ U(-bound, bound). kaiming_uniform_(w, a=sqrt(5)) is bound = 1/sqrt(fan_in). */
void sg_init_uniform(sg_tensor *t, float bound, uint64_t seed, uint64_t stream);
void sg_init_constant(sg_tensor *t, float value);

/* ---- ResNet ------------------------------------------------------------------- */
typedef enum sg_resnet_stem {
    SG_STEM_TORCHVISION = 0,  /* conv1 7x7 s2 (3 -> w), bn1 */
    SG_STEM_DEEP = 1          /* conv1.{0,3,6} 3x3 (3 -> w -> w -> 2w), BNs conv1.{1,4}, bn1 */
} sg_resnet_stem;

typedef struct sg_resnet_config {
    int depth;                /* 18, 34 (BasicBlock) or 50, 101 (Bottleneck) */
    int widths[4];            /* planes of layer1..4: torchvision 64, 128, 256, 512 */
    sg_resnet_stem stem;
    int output_stride;        /* 8 or 16 */
    bool multi_grid;          /* layer4 block dilations x (2, 2, 4) */
} sg_resnet_config;

typedef struct sg_resnet_block {
    sg_convbn conv[3];        /* conv1..conv2 (BasicBlock) or conv1..conv3 (Bottleneck) */
    sg_convbn down;           /* downsample.0/1; down.w == NULL: identity shortcut */
} sg_resnet_block;

typedef struct sg_resnet {
    sg_resnet_config cfg;
    int n_conv;               /* convs per block: 2 or 3 */
    int n_stem;               /* 1 (torchvision) or 3 (deep) */
    sg_convbn stem[3];
    int n_blocks[4];
    sg_resnet_block *blocks[4];
    int channels[4];          /* channels of c1..c4 */
} sg_resnet;

/* torchvision layout: 64-128-256-512, torchvision stem, output stride 16. */
sg_resnet_config sg_resnet_config_default(int depth);
/* Aborts on a bad configuration (depth, widths, output stride). */
void sg_resnet_config_check(const sg_resnet_config *cfg);
/* Registers the backbone under `prefix` (e.g. "backbone.") through b, with
 * the torchvision initialisation whatever b->conv_init says. */
void sg_resnet_build(sg_resnet *net, const sg_resnet_config *cfg, sg_builder *b,
                     const char *prefix);
/* Frees the block arrays; the tensors belong to the parameter set. */
void sg_resnet_free(sg_resnet *net);
/* x (N, 3, H, W) -> c1..c4 (layer1..layer4 outputs; strides 4, 8, 8|16, 8|16). */
void sg_resnet_forward(sg_ctx *ctx, const sg_resnet *net, sg_tensor *x, bool training,
                       sg_tensor *feats[4]);

/* ---- DeepLabV3+ ---------------------------------------------------------------- */
typedef struct sg_deeplab_config {
    sg_resnet_config backbone;
    int aspp_channels;        /* each ASPP branch and the projection: UniMatch c4 / 8 = 256 */
    int aspp_rates[3];        /* dilations of b1..b3: 6, 12, 18 */
    int reduce_channels;      /* low-level projection of c1: 48 */
    int decoder_channels;     /* the two fuse convs: 256 */
    int num_classes;
} sg_deeplab_config;

/* The paper model: deep stem, widths 64-128-256-512, OS16, ASPP c4/8
 * channels with rates 6/12/18, reduce 48, decoder 256. */
sg_deeplab_config sg_deeplab_config_default(int depth, int num_classes);

typedef struct sg_deeplab {
    sg_deeplab_config cfg;
    sg_param_set params;      /* owned: group 0 backbone, group 1 head */
    bool training;            /* BN mode: batch statistics (true) or running (false) */
    sg_resnet backbone;
    sg_convbn aspp[4];        /* head.b0 (1x1), head.b1..b3 (dilated 3x3) */
    sg_convbn pool;           /* head.b4.gap.1/2 */
    sg_convbn project;        /* head.project.0/1 */
    sg_convbn reduce;         /* reduce.0/1 */
    sg_convbn fuse[2];        /* fuse.0/1, fuse.3/4 */
    sg_tensor *cls_w, *cls_b; /* classifier.weight (K, D, 1, 1), classifier.bias (K) */
} sg_deeplab;

/* Builds and initialises from `seed`; aborts on a bad configuration.
 * The model starts in training mode. */
void sg_deeplab_init(sg_deeplab *m, const sg_deeplab_config *cfg, uint64_t seed);
void sg_deeplab_free(sg_deeplab *m);

/* Feature perturbation (UniMatch need_fp): Dropout2d(p) on c1 and on c4,
 * masks from sg_dropout2d(seed, stream_c1) and (seed, stream_c4). As in
 * UniMatch the dropout is applied in eval mode too (a fresh nn.Dropout2d).
 * `second` adds DSSN's second perturbed copy
 * (kunzhan/DSSN@efaee86:voc/model/semseg/deeplabv3plus2fp.py): independent
 * masks (seed, stream2_c1) and (seed, stream2_c4) on the same c1 and c4. */
typedef struct sg_deeplab_fp {
    float p;                  /* UniMatch: 0.5 */
    uint64_t seed;
    uint64_t stream_c1, stream_c4;
    bool second;              /* false (UniMatch): one perturbed copy */
    uint64_t stream2_c1, stream2_c4;
} sg_deeplab_fp;

typedef struct sg_deeplab_out {
    sg_tensor *logits;        /* (N, K, H, W): bilinear, align_corners=True, to the input size */
    sg_tensor *logits_fp;     /* (N, K, H, W) of the perturbed features; NULL without fp */
    sg_tensor *logits_fp2;    /* (N, K, H, W) of the second perturbed copy; NULL without fp->second */
    sg_tensor *feats[4];      /* c1..c4 of the encoder */
    sg_tensor *feature;       /* (N, D, H1, W1) decoder feature before the classifier (clean) */
    /* (N, R + A, H1, W1) what the decoder classifies: cat(reduce(c1), upsampled
     * ASPP), the fuse convs' input (clean); U2PL's representation head reads it. */
    sg_tensor *decoder_in;
    sg_tensor *logits_lo;     /* (N, K, H1, W1) classifier output before the upsampling (clean):
                               * UCCL's pre_logit (YUKEKEJAN/UCCL@804ce93:model/semseg/deeplabv3plus.py) */
} sg_deeplab_out;

/* x (N, 3, H, W). With fp, the decoder runs once on cat(clean, dropped)
 * along the batch (its BN sees both halves, as in UniMatch) and the
 * upsampled logits are split into logits and logits_fp; with fp->second on
 * cat(clean, dropped, dropped2) (its BN sees the three thirds, as in DSSN),
 * the third part going to logits_fp2. */
void sg_deeplab_forward(sg_ctx *ctx, sg_deeplab *m, sg_tensor *x, const sg_deeplab_fp *fp,
                        sg_deeplab_out *out);
/* The head alone, as sg_deeplab_forward runs it after the encoder: ASPP on
 * c4 (N, C4, h4, w4), the fusion with c1 (N, C1, h1, w1), the classifier,
 * and the logits (N, K, out_h, out_w) (bilinear, align_corners=True) it
 * returns; parts, when not NULL, receives logits, feature, decoder_in and
 * logits_lo (the rest NULL). AllSpark's DeepLabV3+ (allspark.h) runs it on
 * the module's output in place of c4. */
sg_tensor *sg_deeplab_decode(sg_ctx *ctx, const sg_deeplab *m, sg_tensor *c1, sg_tensor *c4, int out_h,
                             int out_w, sg_deeplab_out *parts);

/* The configuration as one line of `key=value` words, e.g. "depth=18
 * widths=32,64,128,256 stem=torchvision os=16 multi_grid=0 aspp=128
 * rates=6,12,18 reduce=48 decoder=128 classes=21": checkpoints store it
 * (metadata "model") so that tools such as sg-eval can rebuild the model. */
void sg_deeplab_config_format(const sg_deeplab_config *cfg, char *buf, size_t len);
/* The forward as a logits callback (metrics.h sg_eval_image): model is an
 * sg_deeplab, run in its current mode, no feature perturbation. */
sg_tensor *sg_deeplab_logits(sg_ctx *ctx, void *model, sg_tensor *image);
/* Parses that line; every key is required once; returns -1 with err naming
 * the offending word. The result passes the configuration checks. */
int sg_deeplab_config_parse(const char *line, sg_deeplab_config *cfg, sg_err *err);
/* The words of such a line: a copy of line in buf (len bytes), values[k]
 * pointing at the value of keys[k] inside it; -1 with err naming the word
 * for a word without '=', an unknown or repeated key, a missing one. */
int sg_kv_line_split(const char *line, const char *const *keys, int n_keys, char *buf, size_t len,
                     const char **values, sg_err *err);
/* The integer value of `key` in lo..hi; -1 with err naming the value and the range. */
int sg_kv_line_long(const char *key, const char *value, long lo, long hi, long *out, sg_err *err);

/* ---- cost: parameters and multiply-adds, from the configuration alone ---------- */
typedef struct sg_model_cost {
    size_t params;            /* trainable elements (= sg_param_count of the built model) */
    size_t buffers;           /* BN running-statistic elements */
    double macs_backbone;     /* conv multiply-adds of one image through the encoder */
    double macs_head;         /* ASPP, reduce, fuse and classifier, one image, no fp */
} sg_model_cost;

/* Counts without building. MACs cover convolutions only (BN, ReLU, pooling
 * and resizing are O(elements) and excluded, as FLOP counters for CNNs do),
 * nominal: dilated taps that only read padding count too. One h x w image;
 * with fp the head runs on twice the batch; a training step costs about 3x
 * the forward MACs. */
sg_model_cost sg_deeplab_cost(const sg_deeplab_config *cfg, int h, int w);
/* The backbone alone (macs_head = 0); feat_hw, when not NULL, receives the
 * (height, width) of c1..c4. */
sg_model_cost sg_resnet_cost(const sg_resnet_config *cfg, int h, int w, int feat_hw[4][2]);

/* ---- pretrained weights (pretrained.c) ------------------------------------------- */
/* Load ImageNet ResNet weights in torchvision/timm/UniMatch naming from a
 * safetensors file (F32, F16 or BF16) into the backbone entries of `set`
 * (names prefixed by `prefix`, e.g. "backbone."): "conv1.weight" ->
 * "backbone.conv1.weight", deep-stem "conv1.0.weight", "conv1.1.running_mean"
 * ... likewise; a leading "module." (DataParallel) is stripped; fc.* and
 * *.num_batches_tracked are skipped. Every backbone entry must be loaded and
 * every other file tensor must map to an entry of the same shape: otherwise
 * returns -1, the error lists the missing, unexpected and mis-shaped names,
 * and the set is left unchanged. tools/pth2safetensors.py converts a .pth. */
int sg_pretrained_load_resnet(sg_param_set *set, const char *prefix, const char *path,
                              sg_err *err);

#endif
