#!/bin/sh
# U2PL end to end on a tiny synthetic set (tools/sg-demo-data; 28 unlabeled
# images in batches of 3: 9 iterations per epoch), 12 iterations of
# experiments/u2pl/demo.conf with small queues:
#  - sup_only_epoch = 0: epoch 0 with the teacher equal to the student, then
#    the EMA teacher; sup_only_epoch = 1: supervised epoch 0, then the copy;
#  - every artefact (config.resolved with [u2pl], log.tsv with U2PL's loss
#    columns and one row per iteration, eval.tsv, result.json, the
#    checkpoint with the teacher (ema/), the representation heads (rep/,
#    rep_ema/) and the queues (queue/)); all losses finite; the supervised
#    epoch logs zero loss_u and loss_c, the semi-supervised one a kept ratio;
#  - killed after iteration 10 and resumed from the checkpoint of iteration
#    8: the final checkpoint equals the uninterrupted run's byte for byte
#    (student, teacher, heads, queues, momentum);
#  - stopped by SIGTERM at the last iteration and resumed (no step left):
#    the final evaluation is the teacher's, as the uninterrupted run's;
#  - tools/sg-eval evaluates the teacher of a checkpoint that also holds the
#    heads and queues: the run's final mIoU;
#  - the auxiliary head and a contra_world_size below 1 are refused by name.
. "${top_srcdir:-.}/tests/setup.sh"
bin=${top_builddir:-.}
SG_NUM_THREADS=1; export SG_NUM_THREADS
sg_tiny_data
train() {
    sg_tiny_train u2pl --set train.iterations=12 --set u2pl.queue_size=100 --set u2pl.queue_size_bg=150 \
        --set u2pl.num_queries=32 --set u2pl.num_negatives=8 "$@"
}

for sup in 0 1; do
    train --runs "$SG_TMP/s$sup" --set u2pl.sup_only_epoch=$sup 2> "$SG_TMP/log$sup" ||
        { echo "sup_only_epoch=$sup failed"; cat "$SG_TMP/log$sup"; exit 1; }
    d="$SG_TMP/s$sup/demo/12/u2pl/seed0"
    for f in config.resolved log.tsv eval.tsv ckpt/last.safetensors result.json; do
        [ -s "$d/$f" ] || { echo "missing $d/$f"; exit 1; }
    done
    [ "$(wc -l < "$d/log.tsv")" = 13 ] || { echo "log.tsv: expected a header and 12 rows"; cat "$d/log.tsv"; exit 1; }
    head -n 1 "$d/log.tsv" | grep -q "^iter	epoch	lr	loss	loss_x	loss_u	loss_c	mask_ratio	images_per_s$" ||
        { echo "log.tsv header"; head -n 1 "$d/log.tsv"; exit 1; }
    # Losses finite; in the supervised epoch loss_u = loss_c = 0 and no ratio.
    awk -F'\t' -v sup=$sup 'NR > 1 {
            for (i = 4; i <= 7; i++) if ($i !~ /^-?[0-9.e+-]+$/) { print "row " NR " column " i " = " $i; bad = 1 }
            if (sup && $2 == 0 && ($6 != 0 || $7 != 0 || $8 != "nan")) { print "supervised row " NR ": " $0; bad = 1 }
            if ((!sup || $2 > 0) && $8 !~ /^0\.[0-9]+$/) { print "semi row " NR " ratio " $8; bad = 1 } }
        END { exit bad }' "$d/log.tsv" || { cat "$d/log.tsv"; exit 1; }
    grep -q "^\[u2pl\]$" "$d/config.resolved" || { echo "config.resolved lacks [u2pl]"; exit 1; }
    grep -q "^  \"method\": \"u2pl\"," "$d/result.json" || { cat "$d/result.json"; exit 1; }
    for p in ema/ rep/ rep_ema/ queue/; do
        grep -a -q "\"$p" "$d/ckpt/last.safetensors" || { echo "the checkpoint lacks $p"; exit 1; }
    done
done
# The contrastive term is active once keys are queued.
awk -F'\t' 'NR > 2 && $7 > 0 { found = 1 } END { exit !found }' "$SG_TMP/s0/demo/12/u2pl/seed0/log.tsv" ||
    { echo "loss_c stayed 0"; exit 1; }

# Kill after iteration 10 (checkpoint at 8) and resume: the same final checkpoint.
sg_kill_resume "$SG_TMP/k" 10 8 12 "$SG_TMP/s0/demo/12/u2pl/seed0/ckpt/last.safetensors" --set u2pl.sup_only_epoch=0

# Stopped by a signal at the last iteration (its checkpoint written, no
# evaluation) and resumed, sup_only_epoch = 1: the resumed run runs no step
# and must still evaluate the teacher, as the uninterrupted run does.
set +e
train --runs "$SG_TMP/t" --set u2pl.sup_only_epoch=1 --set debug.term_at_iter=12 2> "$SG_TMP/logt"
rc=$?
set -e
[ $rc = 143 ] || { echo "expected a stop by SIGTERM (143), got $rc"; cat "$SG_TMP/logt"; exit 1; }
train --runs "$SG_TMP/t" --set u2pl.sup_only_epoch=1 --resume 2> "$SG_TMP/logt2" || { cat "$SG_TMP/logt2"; exit 1; }
miou() { sed -n 's/^  "final_miou": \(.*\),$/\1/p' "$1/demo/12/u2pl/seed0/result.json"; }
[ "$(miou "$SG_TMP/t")" = "$(miou "$SG_TMP/s1")" ] ||
    { echo "resumed at the end: final mIoU $(miou "$SG_TMP/t"), uninterrupted $(miou "$SG_TMP/s1")"; exit 1; }

# sg-eval on a checkpoint with the method's own sets (queue/, rep/, rep_ema/):
# the teacher it evaluates, the run's final mIoU.
sg_eval_same "$SG_TMP/s1/demo/12/u2pl/seed0" ema
sg_refused u2pl.aux_loss_weight=0.4 "u2pl.aux_loss_weight"
sg_refused u2pl.contra_world_size=0 "u2pl.contra_world_size"
exit 0
