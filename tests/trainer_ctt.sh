#!/bin/sh
# Cross teacher training end to end on a tiny synthetic set
# (tools/sg-demo-data): 6 iterations of experiments/ctt/demo.conf write every
# artefact of the run directory (config.resolved with [ctt], log.tsv with
# both students' loss columns and one row per iteration, eval.tsv, the
# checkpoint, result.json); every logged term is finite; the checkpoint
# carries teacher L (ema/), student R with its SGD momentum (student_r/),
# teacher R (teacher_r/) and both memory banks (bank/). The contrastive
# terms start once every class of both banks is full: with two entries per
# class and every correctly predicted labeled pixel admitted, untrained
# networks on 48-pixel crops with 6 labeled images per step fill them in
# the first iterations, so the later ones run both terms (their anchors in
# chunks of 64). Killed after iteration 5 (checkpoint at 4, banks full) and
# resumed, the final checkpoint equals the uninterrupted run's byte for
# byte (student R, its momentum, both teachers, the banks and the ClassMix
# draws restored, the contrastive terms on). Evaluating student R changes
# the evaluation, not the training. Options without an implementation are
# refused.
. "${top_srcdir:-.}/tests/setup.sh"
bin=${top_builddir:-.}
SG_NUM_THREADS=1; export SG_NUM_THREADS
sg_tiny_data
# conf_uniform 0.3: the untrained networks' confidences reach it, so the
# cross-teacher terms are not weighted to 0. bank_size 2, bank_logit -1e6
# (any logit), crop 48, 6 labeled images: the banks fill by iteration 3
# (with 32-pixel crops and 3 images some class stayed empty for 300
# iterations, even with one entry per class). contr_chunk 64: up to 1296
# anchors per term, so a class's anchors take several chunks.
train() {
    sg_tiny_train ctt --set ctt.conf_uniform=0.3 --set ctt.bank_size=2 --set ctt.bank_logit=-1e6 \
        --set ctt.contr_chunk=64 --set data.crop=48 --set train.batch_size=6 "$@"
}
cols="loss	loss_l	loss_x_l	loss_u_l	loss_high_l	loss_low_l	loss_r	loss_x_r	loss_u_r	loss_high_r	loss_low_r	lambda_l	lambda_r	contr	mask_ratio"

train --runs "$SG_TMP/a" 2> "$SG_TMP/log_a" || { echo "ctt failed"; cat "$SG_TMP/log_a"; exit 1; }
d="$SG_TMP/a/demo/12/ctt/seed0"
for f in config.resolved log.tsv eval.tsv ckpt/last.safetensors result.json; do
    [ -s "$d/$f" ] || { echo "missing $d/$f"; exit 1; }
done
[ "$(wc -l < "$d/log.tsv")" = 7 ] || { echo "log.tsv: expected a header and 6 rows"; cat "$d/log.tsv"; exit 1; }
head -n 1 "$d/log.tsv" | grep -q "^iter	epoch	lr	$cols	images_per_s$" ||
    { echo "log.tsv header"; head -n 1 "$d/log.tsv"; exit 1; }
awk -F'\t' 'NR > 1 { for (i = 4; i <= NF; i++) if ($i !~ /^-?[0-9.e+-]+$/) { print "row " NR " column " i " = " $i; bad = 1 } }
            END { exit bad }' "$d/log.tsv" || exit 1
# some uniform weight above 0 (lambda_l, lambda_r: columns 15, 16)
awk -F'\t' 'NR > 1 && ($15 > 0 || $16 > 0) { seen = 1 } END { exit !seen }' "$d/log.tsv" ||
    { echo "every lambda 0: the cross-teacher terms never ran"; cat "$d/log.tsv"; exit 1; }
# the students differ (R has its own initialisation): loss_x_l != loss_x_r at iteration 1
awk -F'\t' 'NR == 2 && $6 == $11 { print "students L and R identical: " $0; exit 1 }' "$d/log.tsv" || exit 1
# contr (column 17) goes from 0 to 1 and stays; with it the four contrastive
# terms (loss_high_l, loss_low_l, loss_high_r, loss_low_r: columns 8, 9, 13, 14)
# are positive, before it 0; iterations 5 and 6 (the resumed ones) have it.
awk -F'\t' 'NR > 1 { on = $17 == 1; if (was && !on) bad = "contr went back to 0";
                     for (i = 8; i <= 14; i += (i == 9 ? 4 : 1)) if (on ? !($i > 0) : $i != 0) bad = "column " i " = " $i;
                     if (bad) { print "row " NR ": " bad; exit 1 } was = on; n += on }
             END { if (n < 2 || !was) { print n " rows with the contrastive terms"; exit 1 } }' "$d/log.tsv" ||
    { cat "$d/log.tsv"; exit 1; }
grep -q "^\[ctt\]$" "$d/config.resolved" || { echo "config.resolved lacks [ctt]"; exit 1; }
for part in '"ema/' '"student_r/' '"teacher_r/' '"bank/'; do
    grep -a -q "$part" "$d/ckpt/last.safetensors" || { echo "the checkpoint lacks $part"; exit 1; }
done

# Kill after iteration 5 (checkpoint at 4) and resume: the same final checkpoint.
sg_kill_resume "$SG_TMP/b" 5 4 6 "$d/ckpt/last.safetensors"

# Student R evaluated: the same training (every log.tsv column but the
# throughput), another evaluation (eval.tsv).
train --runs "$SG_TMP/c" --set ctt.eval_student=r 2> "$SG_TMP/log_c" || { cat "$SG_TMP/log_c"; exit 1; }
dc="$SG_TMP/c/demo/12/ctt/seed0"
cut -f 1-18 "$d/log.tsv" > "$SG_TMP/train_l"
cut -f 1-18 "$dc/log.tsv" > "$SG_TMP/train_r"
cmp -s "$SG_TMP/train_l" "$SG_TMP/train_r" || { echo "eval_student = r changed the training"; exit 1; }
if cmp -s "$d/eval.tsv" "$dc/eval.tsv"; then echo "eval_student = r: the same evaluation as L's"; exit 1; fi

# ctt.pretrained_r counts in config_hash by content (sg_run_hash_file_key):
# the weights moved elsewhere give the same hash, one changed value another.
# tests/data/resnet_tv.safetensors is a torchvision ResNet-18 of widths
# 4-8-8-16 (tests/ref/gen_model.py).
mkdir -p "$SG_TMP/w/moved"
cp "$top_srcdir/tests/data/resnet_tv.safetensors" "$SG_TMP/w/r.safetensors"
hash_of() { # RUNS WEIGHTS
    train --runs "$1" --set train.iterations=2 --set model.widths=4,8,8,16 --set model.output_stride=16 \
        --set ctt.pretrained_r="$2" \
        2> "$1.log" || { cat "$1.log" >&2; exit 1; }
    sed -n 's/^  "config_hash": "\(.*\)",$/\1/p' "$1/demo/12/ctt/seed0/result.json"
}
h1=$(hash_of "$SG_TMP/h1" "$SG_TMP/w/r.safetensors")
mv "$SG_TMP/w/r.safetensors" "$SG_TMP/w/moved/r.safetensors"
h2=$(hash_of "$SG_TMP/h2" "$SG_TMP/w/moved/r.safetensors")
# The last 4 bytes are the last float of the last tensor: one weight changes.
n=$(wc -c < "$SG_TMP/w/moved/r.safetensors")
{ head -c $((n - 4)) "$SG_TMP/w/moved/r.safetensors"; printf '\000\000\200\077'; } > "$SG_TMP/w/r2.safetensors"
h3=$(hash_of "$SG_TMP/h3" "$SG_TMP/w/r2.safetensors")
[ -n "$h1" ] && [ "$h1" = "$h2" ] || { echo "pretrained_r moved: config_hash $h1 vs $h2"; exit 1; }
[ "$h3" != "$h1" ] || { echo "pretrained_r with another weight: the same config_hash $h1"; exit 1; }

# Refused: options without an implementation, values out of range.
if train --runs "$SG_TMP/e" --set ctt.color_jitter=true 2> "$SG_TMP/loge"; then
    echo "color_jitter accepted"; exit 1
fi
grep -q "ctt.color_jitter" "$SG_TMP/loge" || { cat "$SG_TMP/loge"; exit 1; }
if train --runs "$SG_TMP/e" --set ctt.conf_uniform=1.5 2> "$SG_TMP/loge"; then
    echo "conf_uniform 1.5 accepted"; exit 1
fi
grep -q "ctt.conf_uniform" "$SG_TMP/loge" || { cat "$SG_TMP/loge"; exit 1; }
exit 0
