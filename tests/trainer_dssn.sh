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
