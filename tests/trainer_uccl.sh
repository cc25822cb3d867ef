#!/bin/sh
# The UCCL trainer end to end on a tiny synthetic set (tools/sg-demo-data):
# a few iterations of experiments/uccl/demo.conf write every artefact of the
# run directory (config.resolved with [uccl], log.tsv with UCCL's loss
# columns and one row per iteration, eval.tsv, the checkpoint,
# result.json) and a results.csv row; every loss is finite and the SBU and
# CKR terms are positive (conf_thresh 0.95 leaves uncertain pixels). The
# released mix source (mix_source = same) is killed mid-way and resumed:
# the final checkpoint equals the uninterrupted run's byte for byte (the
# dropout masks, both loaders and the model are restored). The quirk
# switches flipped train too, and differently; conf_thresh = 0 (Cityscapes)
# gives SBU = 0; a bad switch value is refused naming the key.
. "${top_srcdir:-.}/tests/setup.sh"
bin=${top_builddir:-.}
SG_NUM_THREADS=1; export SG_NUM_THREADS
sg_tiny_data

sg_tiny_train uccl --runs "$SG_TMP/a" 2> "$SG_TMP/log_a" || { echo "uccl failed"; cat "$SG_TMP/log_a"; exit 1; }
d="$SG_TMP/a/demo/12/uccl/seed0"
for f in config.resolved log.tsv eval.tsv ckpt/last.safetensors result.json; do
    [ -s "$d/$f" ] || { echo "missing $d/$f"; exit 1; }
done
[ "$(wc -l < "$d/log.tsv")" = 7 ] || { echo "log.tsv: expected a header and 6 rows"; cat "$d/log.tsv"; exit 1; }
head -n 1 "$d/log.tsv" | grep -q "^iter	epoch	lr	loss	loss_x	loss_s1	loss_s2	loss_fp	loss_sbu	loss_ckr	mask_ratio	images_per_s$" ||
    { echo "log.tsv header"; head -n 1 "$d/log.tsv"; exit 1; }
awk -F'\t' 'NR > 1 { for (i = 4; i < NF; i++) if ($i !~ /^-?[0-9.e+-]+$/) { print "row " NR " column " i " = " $i; bad = 1 }
                    if (!($9 > 0 && $10 > 0)) { print "row " NR ": loss_sbu " $9 ", loss_ckr " $10; bad = 1 } }
            END { exit bad }' "$d/log.tsv" || exit 1
grep -q "^\[uccl\]$" "$d/config.resolved" || { echo "config.resolved lacks [uccl]"; exit 1; }
grep -q "^  \"method\": \"uccl\"," "$d/result.json" || { echo "result.json"; cat "$d/result.json"; exit 1; }
[ "$(wc -l < "$SG_TMP/reports/demo/results.csv")" = 2 ] || { echo "results.csv: expected a header and 1 row"; exit 1; }

# The released mix source, uninterrupted, then killed after iteration 5
# (checkpoint at 4) and resumed.
sg_tiny_train uccl --runs "$SG_TMP/s" --set uccl.mix_source=same 2> "$SG_TMP/log_s" ||
    { echo "mix_source=same failed"; cat "$SG_TMP/log_s"; exit 1; }
set +e
sg_tiny_train uccl --runs "$SG_TMP/k" --set uccl.mix_source=same --set debug.kill_at_iter=5 2> "$SG_TMP/log_k"
rc=$?
set -e
[ $rc = 137 ] || { echo "expected death by SIGKILL (137), got $rc"; cat "$SG_TMP/log_k"; exit 1; }
sg_tiny_train uccl --runs "$SG_TMP/k" --set uccl.mix_source=same --resume 2> "$SG_TMP/log_r" || { cat "$SG_TMP/log_r"; exit 1; }
grep -q "resuming .* at iteration 4 of 6" "$SG_TMP/log_r" || { cat "$SG_TMP/log_r"; exit 1; }
sg_ckpt_same "$SG_TMP/s/demo/12/uccl/seed0/ckpt/last.safetensors" "$SG_TMP/k/demo/12/uccl/seed0/ckpt/last.safetensors" ||
    { echo "resumed checkpoint differs from the uninterrupted run's"; exit 1; }

# Every quirk switch flipped: trains, and not like the default.
sg_tiny_train uccl --runs "$SG_TMP/q" --set uccl.bn_passes=false --set uccl.ignore_resize=nearest \
    --set uccl.sbu_softmax=uncertain --set uccl.ckr_weight_grad=false --set uccl.ckr_ignored_feature=pixel 2> "$SG_TMP/log_q" ||
    { echo "quirk switches flipped: failed"; cat "$SG_TMP/log_q"; exit 1; }
if sg_ckpt_same "$d/ckpt/last.safetensors" "$SG_TMP/q/demo/12/uccl/seed0/ckpt/last.safetensors"; then
    echo "flipping the quirk switches changed nothing"; exit 1
fi

# Cityscapes' conf_thresh = 0: no pixel is uncertain (c <= 0), so SBU is 0
# on every row while CKR is not.
sg_tiny_train uccl --runs "$SG_TMP/c" --set uccl.conf_thresh=0 2> "$SG_TMP/log_c" ||
    { echo "conf_thresh=0 failed"; cat "$SG_TMP/log_c"; exit 1; }
awk -F'\t' 'NR > 1 && !($9 == 0 && $10 > 0) { print "conf_thresh 0, row " NR ": loss_sbu " $9 ", loss_ckr " $10; bad = 1 }
            END { exit bad }' "$SG_TMP/c/demo/12/uccl/seed0/log.tsv" || exit 1

# A bad switch value names the key.
if sg_tiny_train uccl --runs "$SG_TMP/e" --set uccl.sbu_softmax=some 2> "$SG_TMP/log_e"; then
    echo "sbu_softmax=some accepted"; exit 1
fi
grep -q "uccl.sbu_softmax" "$SG_TMP/log_e" || { cat "$SG_TMP/log_e"; exit 1; }
exit 0
