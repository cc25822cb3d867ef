#!/bin/sh
# The supervised trainer end to end on a tiny synthetic set: a few
# iterations of experiments/supervised/demo.conf write every artefact of the
# run directory (config.resolved, log.tsv with one row per iteration,
# eval.tsv, the checkpoint, result.json) and one complete results.csv row;
# two runs started together (different seeds) both append their row (the
# flock); tools/sg-eval on the final checkpoint reproduces the final mIoU
# of result.json; a finished run resumed again does nothing.
. "${top_srcdir:-.}/tests/setup.sh"
bin=${top_builddir:-.}
SG_NUM_THREADS=1; export SG_NUM_THREADS
"$bin/tools/sg-demo-data" --out "$SG_TMP/data" --splits "$SG_TMP/splits" --train 40 --val 6 --test 0 --labeled 16 >/dev/null
# ImageNet normalisation: the one tools/sg-eval applies.
train() {
    "$bin/experiments/supervised/supervised" --config "$top_srcdir/experiments/supervised/demo.conf" \
        --set data.root="$SG_TMP/data" --set data.split="$SG_TMP/splits/16" --set data.val="$SG_TMP/splits/val.txt" --set data.test= --set model.pretrained= \
        --set run.seeds="$top_srcdir/splits/seeds" --set train.iterations=6 --set train.batch_size=4 \
        --set data.crop=32 --set eval.interval=3 --set output.checkpoint_interval=4 \
        --set augment.mean=0.485,0.456,0.406 --set augment.std=0.229,0.224,0.225 \
        --runs "$SG_TMP/runs" --reports "$SG_TMP/reports" "$@"
}
train --seed 0 2> "$SG_TMP/log0" &
p0=$!
train --seed 1 2> "$SG_TMP/log1" &
p1=$!
wait $p0 || { echo "run seed 0 failed"; cat "$SG_TMP/log0"; exit 1; }
wait $p1 || { echo "run seed 1 failed"; cat "$SG_TMP/log1"; exit 1; }

d="$SG_TMP/runs/demo/16/supervised/seed0"
for f in config.resolved log.tsv eval.tsv ckpt/last.safetensors result.json; do
    [ -s "$d/$f" ] || { echo "missing $d/$f"; exit 1; }
done
[ "$(wc -l < "$d/log.tsv")" = 7 ] || { echo "log.tsv: expected a header and 6 rows"; cat "$d/log.tsv"; exit 1; }
head -n 1 "$d/log.tsv" | grep -q "^iter	epoch	lr	loss	mask_ratio	images_per_s$" || { echo "log.tsv header"; exit 1; }
[ "$(wc -l < "$d/eval.tsv")" = 3 ] || { echo "eval.tsv: expected a header and evaluations at 3 and 6"; exit 1; }
grep -q "^iterations = 6 ; --set$" "$d/config.resolved" || { echo "config.resolved lacks the override"; exit 1; }
grep -q "^lr = 0.03 ; .*demo.conf:[0-9]*$" "$d/config.resolved" || { echo "config.resolved lacks file:line"; exit 1; }
grep -q "^momentum = 0.9 ; " "$d/config.resolved" || { echo "config.resolved lacks a key"; exit 1; }
for k in method dataset protocol n_labeled seed iterations final_miou best_miou best_iter test_final_miou \
    test_best_miou class_iou config_hash \
    backend git_commit machine threads gflop_per_iter wall_s cpu_s images_per_s; do
    grep -q "^  \"$k\": " "$d/result.json" || { echo "result.json lacks $k"; cat "$d/result.json"; exit 1; }
done

csv="$SG_TMP/reports/demo/results.csv"
[ "$(wc -l < "$csv")" = 3 ] || { echo "results.csv: expected a header and 2 rows"; cat "$csv"; exit 1; }
# 21 columns, none empty but the two test columns (no data.test here), in
# every row.
awk -F, 'NF != 21 { print "row " NR ": " NF " columns"; bad = 1 }
         { for (i = 1; i <= NF; i++) if ($i == "" && !(NR > 1 && (i == 10 || i == 11))) { print "row " NR ": column " i " empty"; bad = 1 } }
         NR > 1 && ($10 != "" || $11 != "") { print "row " NR ": test columns without a test set"; bad = 1 }
         NR > 1 && split($12, iou, " ") != 7 { print "row " NR ": not 7 class IoUs"; bad = 1 }
         END { exit bad }' "$csv" || exit 1
cut -d, -f1-6 "$csv" | sort | grep -q "^supervised,demo,16,16,1,6$" || { echo "seed 1 row missing"; exit 1; }
# The cost columns: CPU seconds and GFLOP per iteration are positive; the
# FLOPs depend on the shapes only, so both seeds count the same; 1 thread.
awk -F, 'NR > 1 { if (!($14 > 0) || !($16 > 0) || $17 != 1) bad = 1; g[NR] = $16 }
         END { exit bad || g[2] != g[3] }' "$csv" || { echo "cost columns wrong"; cat "$csv"; exit 1; }

# The checkpoint evaluates to the reported final mIoU (2 decimals: sg-eval's format).
"$bin/tools/sg-eval" --checkpoint "$d/ckpt/last.safetensors" --dataset list --root "$SG_TMP/data" \
    --list "$SG_TMP/splits/val.txt" --classes 7 > "$SG_TMP/eval.txt"
got=$(sed -n 's/^mIoU //p' "$SG_TMP/eval.txt")
want=$(sed -n 's/^  "final_miou": \(.*\),$/\1/p' "$d/result.json")
awk -v a="$got" -v b="$want" 'BEGIN { d = a - b; if (d < 0) d = -d; exit !(d <= 0.005) }' ||
    { echo "sg-eval mIoU $got, result.json $want"; exit 1; }

# Resuming a finished run changes nothing and appends no row.
train --seed 0 --resume 2> "$SG_TMP/log2" || { cat "$SG_TMP/log2"; exit 1; }
grep -q "already finished" "$SG_TMP/log2" || { echo "finished run not recognised"; exit 1; }
[ "$(wc -l < "$csv")" = 3 ] || { echo "a finished run appended a row"; exit 1; }
# Without --resume an existing run is refused.
if train --seed 0 2> "$SG_TMP/log3"; then echo "existing run overwritten"; exit 1; fi
grep -q -- "--resume" "$SG_TMP/log3" || { cat "$SG_TMP/log3"; exit 1; }
exit 0
