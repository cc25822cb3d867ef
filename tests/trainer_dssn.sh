#!/bin/sh
# The DSSN trainer end to end on a tiny synthetic set (tools/sg-demo-data): a
# few iterations of experiments/dssn/demo.conf write every artefact of the run
# directory (config.resolved with [dssn], log.tsv with DSSN's eight loss
# columns and one row per iteration, eval.tsv, the checkpoint with the EMA
# teacher as ema/, result.json) and one results.csv row, all losses finite.
# The Cityscapes switches (fixed threshold, Siamese terms outside the 1/2,
# warm-up in epochs, teacher in eval mode) and the second unlabeled batch
# (mix_source = same) run too. Killed mid-way and resumed (roll, and same
# with the teacher's BN in train mode), the final checkpoint (student,
# teacher, momentum) equals the uninterrupted run's byte for byte: the
# teacher, its BN statistics and both copies' dropout masks are restored.
# The teacher's wiring, read from checkpoints by tests/ckpt_helper: the
# warm-up iteration makes it the student (keep 0); in epoch 0 its BN
# statistics move by its own train-mode passes besides the EMA blend, from
# epoch 1 on by the blend alone (mutating either in dssn.c fails here).
# Bad values are refused naming the key.
. "${top_srcdir:-.}/tests/setup.sh"
bin=${top_builddir:-.}
SG_NUM_THREADS=1; export SG_NUM_THREADS
sg_tiny_data
train() { sg_tiny_train dssn "$@"; }
city="--set dssn.select=fixed --set dssn.conf_thresh=0 --set dssn.siamese_inside=false --set dssn.weight_siamese=0.005 --set dssn.warmup_iters=0 --set dssn.warmup_epochs=1 --set dssn.teacher_train_bn_epochs=0"

check_run() {  # RUNS-DIR NAME
    d="$1/demo/12/dssn/seed0"
    for f in config.resolved log.tsv eval.tsv ckpt/last.safetensors result.json; do
        [ -s "$d/$f" ] || { echo "$2: missing $d/$f"; exit 1; }
    done
    [ "$(wc -l < "$d/log.tsv")" = 7 ] || { echo "$2: log.tsv: expected a header and 6 rows"; cat "$d/log.tsv"; exit 1; }
    head -n 1 "$d/log.tsv" |
        grep -q "^iter	epoch	lr	loss	loss_x	loss_s1	loss_s2	loss_fp	loss_Fp	loss_img	loss_feat	mask_ratio	images_per_s$" ||
        { echo "$2: log.tsv header"; head -n 1 "$d/log.tsv"; exit 1; }
    awk -F'\t' -v m="$2" 'NR > 1 { for (i = 4; i < NF; i++) if ($i !~ /^-?[0-9.e+-]+$/) { print m ": row " NR " column " i " = " $i; bad = 1 } }
                          END { exit bad }' "$d/log.tsv" || exit 1
    grep -q "^\[dssn\]$" "$d/config.resolved" || { echo "$2: config.resolved lacks [dssn]"; exit 1; }
    grep -a -q '"ema/' "$d/ckpt/last.safetensors" || { echo "$2: the checkpoint lacks the teacher (ema/)"; exit 1; }
}

train --runs "$SG_TMP/a" 2> "$SG_TMP/log_a" || { echo "dssn failed"; cat "$SG_TMP/log_a"; exit 1; }
check_run "$SG_TMP/a" voc
grep -q '^  "method": "dssn",' "$SG_TMP/a/demo/12/dssn/seed0/result.json" || { echo "result.json"; exit 1; }
[ "$(wc -l < "$SG_TMP/reports/demo/results.csv")" = 2 ] || { echo "results.csv: expected a header and 1 row"; exit 1; }
# The first iteration leaves the strong terms out: its total is
# (L_x + 0.25 (L_fp + L_Fp) + 0.01 (L_img + L_feat)) / 2.
awk -F'\t' 'NR == 2 { t = ($5 + 0.25 * ($8 + $9) + 0.01 * ($10 + $11)) / 2; d = t - $4; if (d < 0) d = -d
                      if (d > 1e-5 * (1 + $4)) { print "iteration 1: loss " $4 " vs " t; exit 1 } }' \
    "$SG_TMP/a/demo/12/dssn/seed0/log.tsv" || exit 1

# The Cityscapes switches, and the teacher evaluated.
train --runs "$SG_TMP/c" $city --set dssn.eval_model=teacher 2> "$SG_TMP/log_c" ||
    { echo "dssn (Cityscapes switches) failed"; cat "$SG_TMP/log_c"; exit 1; }
check_run "$SG_TMP/c" city
# All 6 iterations are in the first epoch (9 iterations): strong terms out,
# (L_x + 0.25 (L_fp + L_Fp)) / 2 + 0.005 (L_img + L_feat); conf >= 0 keeps every pixel.
awk -F'\t' 'NR > 1 { t = ($5 + 0.25 * ($8 + $9)) / 2 + 0.005 * ($10 + $11); d = t - $4; if (d < 0) d = -d
                     if (d > 1e-5 * (1 + $4) || $12 != 1) { print "row " NR ": loss " $4 " vs " t ", mask ratio " $12; exit 1 } }' \
    "$SG_TMP/c/demo/12/dssn/seed0/log.tsv" || exit 1

# Kill after iteration 5 (checkpoint at 4) and resume: the same final checkpoint.
for v in roll same; do
    set +e
    train --runs "$SG_TMP/k_$v" --set dssn.mix_source=$v --set debug.kill_at_iter=5 2> "$SG_TMP/logk_$v"
    rc=$?
    set -e
    [ $rc = 137 ] || { echo "$v: expected death by SIGKILL (137), got $rc"; cat "$SG_TMP/logk_$v"; exit 1; }
    train --runs "$SG_TMP/k_$v" --set dssn.mix_source=$v --resume 2> "$SG_TMP/logr_$v" || { cat "$SG_TMP/logr_$v"; exit 1; }
    grep -q "resuming .* at iteration 4 of 6" "$SG_TMP/logr_$v" || { cat "$SG_TMP/logr_$v"; exit 1; }
    if [ $v = roll ]; then ref="$SG_TMP/a"; else
        train --runs "$SG_TMP/u_$v" --set dssn.mix_source=$v 2> "$SG_TMP/logu_$v" || { cat "$SG_TMP/logu_$v"; exit 1; }
        check_run "$SG_TMP/u_$v" same
        ref="$SG_TMP/u_$v"
    fi
    sg_ckpt_same "$ref/demo/12/dssn/seed0/ckpt/last.safetensors" "$SG_TMP/k_$v/demo/12/dssn/seed0/ckpt/last.safetensors" ||
        { echo "$v: resumed checkpoint differs from the uninterrupted run's"; exit 1; }
done

# The teacher's wiring (tests/ckpt_helper reads the checkpoints), on the VOC
# switches with 4 iterations an epoch (batch_size_u 7 of the 28 unlabeled
# images): checkpoints of iterations 1, 2, 3 (epoch 0) and 5, 6 (epoch 1),
# each written by SIGTERM and resumed from. (a) The warm-up iteration sets
# the teacher to the student (keep 0): ema/ equals model/ tensor for tensor.
# (b) In epoch 0 the teacher's passes run its BN in train mode, so its
# running statistics move by more than the EMA blend
# keep * teacher + (1 - keep) * student of the student after the step, while
# every parameter moves by exactly that blend; from epoch 1 on the teacher
# runs in eval mode and the statistics too change by the blend alone.
w="$SG_TMP/w/demo/12/dssn/seed0/ckpt/last.safetensors"
for i in 1 2 3 5 6; do
    r=; [ $i = 1 ] || r=--resume
    set +e
    train --runs "$SG_TMP/w" --set train.iterations=8 --set train.batch_size_u=7 --set eval.interval=0 \
        --set debug.term_at_iter=$i $r 2> "$SG_TMP/logw"
    rc=$?
    set -e
    [ $rc = 143 ] || { echo "teacher run to iteration $i: expected SIGTERM (143), got $rc"; cat "$SG_TMP/logw"; exit 1; }
    cp "$w" "$SG_TMP/w$i.safetensors"
done
"$bin/tests/ckpt_helper" same "$SG_TMP/w1.safetensors" > /dev/null || { echo "after the warm-up iteration the teacher is not the student"; exit 1; }
"$bin/tests/ckpt_helper" same "$SG_TMP/w2.safetensors" > /dev/null 2>&1 && { echo "after iteration 2 the teacher still equals the student (keep 0 past the warm-up)"; exit 1; }
b=$("$bin/tests/ckpt_helper" blend "$SG_TMP/w2.safetensors" "$SG_TMP/w3.safetensors" 0.996) || exit 1
echo "$b" | grep -q "^parameters \([0-9]*\)/\1 statistics 0/[1-9]" ||
    { echo "epoch 0, iteration 3: the teacher's parameters must move by the EMA blend alone, its BN statistics by more: $b"; exit 1; }
b=$("$bin/tests/ckpt_helper" blend "$SG_TMP/w5.safetensors" "$SG_TMP/w6.safetensors" 0.996) || exit 1
echo "$b" | grep -q "^parameters \([0-9]*\)/\1 statistics \([0-9]*\)/\2$" ||
    { echo "epoch 1, iteration 6: the teacher must move by the EMA blend alone: $b"; exit 1; }

# Config errors name the key.
if train --runs "$SG_TMP/e" --set dssn.gate=0.6 --set dssn.factor=0.8 2> "$SG_TMP/loge"; then
    echo "gate * factor < 0.5 accepted"; exit 1
fi
grep -q "dssn.gate \* dssn.factor" "$SG_TMP/loge" || { cat "$SG_TMP/loge"; exit 1; }
if train --runs "$SG_TMP/e" --set dssn.select=adaptive 2> "$SG_TMP/loge"; then
    echo "select adaptive accepted"; exit 1
fi
grep -q "dssn.select" "$SG_TMP/loge" || { cat "$SG_TMP/loge"; exit 1; }
if train --runs "$SG_TMP/e" --set dssn.ema_keep=1.5 2> "$SG_TMP/loge"; then
    echo "ema_keep 1.5 accepted"; exit 1
fi
grep -q "dssn.ema_keep" "$SG_TMP/loge" || { cat "$SG_TMP/loge"; exit 1; }
exit 0
