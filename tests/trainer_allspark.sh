#!/bin/sh
# AllSpark end to end on a tiny synthetic set (tools/sg-demo-data; 28
# unlabeled images in batches of 4: 7 iterations per epoch), 12 iterations
# of experiments/allspark/demo.conf (MiT-B0, pool_size 2: two groups of
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
. "${top_srcdir:-.}/tests/setup.sh"
bin=${top_builddir:-.}
SG_NUM_THREADS=1; export SG_NUM_THREADS
sg_tiny_data
train() {
    sg_tiny_train allspark --set train.iterations=12 --set data.crop=64 --set allspark.warmup_epoch=1 \
        --set train.batch_size=4 --set train.batch_size_u=4 "$@"
}

train --runs "$SG_TMP/a" 2> "$SG_TMP/loga" || { echo "the run failed"; cat "$SG_TMP/loga"; exit 1; }
d="$SG_TMP/a/demo/12/allspark/seed0"
for f in config.resolved log.tsv eval.tsv ckpt/last.safetensors result.json; do
    [ -s "$d/$f" ] || { echo "missing $d/$f"; exit 1; }
done
[ "$(wc -l < "$d/log.tsv")" = 13 ] || { echo "log.tsv: expected a header and 12 rows"; cat "$d/log.tsv"; exit 1; }
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
exit 0
