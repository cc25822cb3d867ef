#!/bin/sh
# AllSpark end to end on a tiny synthetic set (tools/sg-demo-data; 28
# unlabeled images in batches of 4: 7 iterations per epoch), 12 iterations
# of experiments/allspark/demo-segformer.conf (the released network, MiT-B0,
# pool_size 2: two groups of
# 2 + 2) on 64-pixel crops (c4 2x2: a 4-token memory) with the memory read
# from epoch 1 (iteration 8):
#  - every artefact (config.resolved with [allspark] and the SegFormer's
#    [model], log.tsv with loss, loss_x, loss_u, eval.tsv, result.json, the
#    checkpoint with the module's memory and pointers); all losses finite,
#    loss = (loss_x + loss_u) / 2 on every row;
#  - killed after iteration 6 and resumed from the checkpoint of iteration
#    4 (the warm-up ends after it): the final checkpoint equals the
#    uninterrupted run's byte for byte (weights, memory, momentum);
#  - tools/sg-eval rebuilds the network from the checkpoint's model line and
#    gives the run's final validation mIoU;
#  - a DeepLabV3+ key is refused by name (the trainer reads a SegFormer),
#    and so is a pool_size that does not divide the batch.
# Then the second network, allspark.network = deeplabv3plus, on
# experiments/allspark/demo.conf (the demo's: experiments/demo.conf's
# [model], the shared DeepLabV3+): 8 iterations on 64-pixel crops (c4 8 x 8
# at output stride 8: a 64-token memory of c4's 128 channels), the memory
# read from iteration 7:
#  - the artefacts, the config line "arch=allspark_deeplab ... tokens=64"
#    and the memory's shape in the checkpoint; loss = (loss_x + loss_u) / 2;
#  - killed after iteration 6 and resumed from 4: the same final checkpoint;
#  - tools/sg-eval rebuilds it and gives the run's final validation mIoU;
#  - model.pretrained loads a ResNet (tests/data/resnet_tv.safetensors,
#    widths 4/8/8/16 at output stride 16) through the DeepLabV3+'s loader
#    and refuses a MiT file;
#  - a SegFormer key and an unknown allspark.network are refused by name.
. "${top_srcdir:-.}/tests/setup.sh"
bin=${top_builddir:-.}
SG_NUM_THREADS=1; export SG_NUM_THREADS
sg_tiny_data
sg_tiny_config=$top_srcdir/experiments/allspark/demo-segformer.conf
# artifacts RUN N: RUN has every artefact and a log.tsv of a header and N rows.
artifacts() {
    for f in config.resolved log.tsv eval.tsv ckpt/last.safetensors result.json; do
        [ -s "$1/$f" ] || { echo "missing $1/$f"; exit 1; }
    done
    [ "$(wc -l < "$1/log.tsv")" = $(($2 + 1)) ] || { echo "log.tsv: expected a header and $2 rows"; cat "$1/log.tsv"; exit 1; }
}
# train ARGS: $iters iterations (12 on the SegFormer, 8 on the DeepLabV3+).
train() {
    sg_tiny_train allspark --set train.iterations=$iters --set data.crop=64 --set allspark.warmup_epoch=1 \
        --set train.batch_size=4 --set train.batch_size_u=4 "$@"
}
iters=12

train --runs "$SG_TMP/a" 2> "$SG_TMP/loga" || { echo "the run failed"; cat "$SG_TMP/loga"; exit 1; }
d="$SG_TMP/a/demo/12/allspark/seed0"
artifacts "$d" 12
head -n 1 "$d/log.tsv" | grep -q "^iter	epoch	lr	loss	loss_x	loss_u	mask_ratio	images_per_s$" ||
    { echo "log.tsv header"; head -n 1 "$d/log.tsv"; exit 1; }
awk -F'\t' 'NR > 1 {
        for (i = 4; i <= 6; i++) if ($i !~ /^-?[0-9.e+-]+$/) { print "row " NR " column " i " = " $i; bad = 1 }
        d = $4 - ($5 + $6) / 2; if (d < -1e-5 || d > 1e-5) { print "row " NR ": loss is not (loss_x + loss_u) / 2"; bad = 1 } }
    END { exit bad }' "$d/log.tsv" || { cat "$d/log.tsv"; exit 1; }
grep -q "^\[allspark\]$" "$d/config.resolved" || { echo "config.resolved lacks [allspark]"; exit 1; }
grep -q "^mit = 0" "$d/config.resolved" || { echo "config.resolved lacks model.mit"; exit 1; }
grep -q "^  \"method\": \"allspark\"," "$d/result.json" || { cat "$d/result.json"; exit 1; }
for t in allspark.attn.kv_queue allspark.attn.queue_ptr decode_head.linear_pred.weight backbone.block1.0.attn.q.weight; do
    grep -a -q "\"model/$t\"" "$d/ckpt/last.safetensors" || { echo "the checkpoint lacks model/$t"; exit 1; }
done

# Kill after iteration 6 (checkpoint at 4) and resume: the same final checkpoint.
sg_kill_resume "$SG_TMP/k" 6 4 12 "$d/ckpt/last.safetensors"

# sg-eval: the architecture from the checkpoint alone, the run's final mIoU.
sg_eval_same "$d" model

sg_refused model.depth=18 "model.depth"
sg_refused allspark.pool_size=3 "allspark.pool_size = 3"

# ---- the DeepLabV3+ network ----
sg_tiny_config=
iters=8
train --runs "$SG_TMP/dl" 2> "$SG_TMP/logdl" || { echo "the DeepLabV3+ run failed"; cat "$SG_TMP/logdl"; exit 1; }
d="$SG_TMP/dl/demo/12/allspark/seed0"
artifacts "$d" 8
awk -F'\t' 'NR > 1 { d = $4 - ($5 + $6) / 2; if (!($4 == $4 + 0) || d < -1e-5 || d > 1e-5) { print "row " NR; bad = 1 } }
    END { exit bad }' "$d/log.tsv" || { cat "$d/log.tsv"; exit 1; }
grep -q "^network = deeplabv3plus" "$d/config.resolved" || { echo "config.resolved lacks allspark.network"; exit 1; }
grep -q "^depth = 18" "$d/config.resolved" || { echo "config.resolved lacks model.depth"; exit 1; }
grep -a -q '"model":"arch=allspark_deeplab depth=18 widths=16,32,64,128 [^"]* heads=2 tokens=64"' \
    "$d/ckpt/last.safetensors" || { echo "the checkpoint lacks the DeepLabV3+ model line"; exit 1; }
grep -a -q '"model/allspark.attn.kv_queue":{"data_offsets":\[[0-9,]*\],"dtype":"F32","shape":\[7,128,64\]' \
    "$d/ckpt/last.safetensors" ||
    { echo "the checkpoint lacks the (7, 128, 64) memory"; exit 1; }
for t in allspark.attn.queue_ptr head.b0.0.weight classifier.weight backbone.layer4.1.conv2.weight; do
    grep -a -q "\"model/$t\"" "$d/ckpt/last.safetensors" || { echo "the checkpoint lacks model/$t"; exit 1; }
done
sg_kill_resume "$SG_TMP/dlk" 6 4 8 "$d/ckpt/last.safetensors"
sg_eval_same "$d" model

# model.pretrained: a ResNet through the DeepLabV3+'s loader, not a MiT.
train --runs "$SG_TMP/dlp" --set train.iterations=1 --set eval.interval=0 --set model.widths=4,8,8,16 --set model.output_stride=16 \
    --set model.pretrained="$top_srcdir/tests/data/resnet_tv.safetensors" 2> "$SG_TMP/logdlp" ||
    { echo "the DeepLabV3+ network did not load a ResNet"; cat "$SG_TMP/logdlp"; exit 1; }
if train --runs "$SG_TMP/dlm" --set train.iterations=1 --set eval.interval=0 \
    --set model.pretrained="$top_srcdir/tests/data/mit_imagenet_tiny.safetensors" 2> "$SG_TMP/logdlm"; then
    echo "the DeepLabV3+ network loaded a MiT file"; exit 1
fi
grep -q "mit_imagenet_tiny.safetensors" "$SG_TMP/logdlm" || { echo "the refusal does not name the file"; cat "$SG_TMP/logdlm"; exit 1; }

sg_refused model.mit=0 "model.mit"
sg_refused allspark.network=pspnet "allspark.network = pspnet"
exit 0
