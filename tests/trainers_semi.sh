#!/bin/sh
# The four semi-supervised trainers end to end on a tiny synthetic set
# (tools/sg-demo-data): a few iterations of each experiments/<m>/demo.conf
# write every artefact of the run directory (config.resolved with the
# method's section, log.tsv with the method's loss columns and one row per
# iteration, eval.tsv, the checkpoint, with the teacher as ema/ for Mean
# Teacher and CutMix-Seg, result.json) and one results.csv row; all losses
# are finite. UniMatch also runs with the second unlabeled batch
# (mix_source = batch) and with the same images augmented again
# (mix_source = same, also killed and resumed). Mean Teacher and UniMatch are killed mid-way and
# resumed: the final checkpoint (student, teacher, momentum) equals the
# uninterrupted run's byte for byte, which checks that the teacher and the
# per-iteration dropout masks are restored. A bad method value is refused
# naming the file and line.
. "${top_srcdir:-.}/tests/setup.sh"
bin=${top_builddir:-.}
SG_NUM_THREADS=1; export SG_NUM_THREADS
sg_tiny_data
train() { sg_tiny_train "$@"; }
header() {
    case $1 in
    unimatch) echo "loss	loss_x	loss_s1	loss_s2	loss_fp	mask_ratio" ;;
    fixmatch) echo "loss	loss_x	loss_s	mask_ratio" ;;
    meanteacher) echo "loss	loss_x	loss_cons	cons_weight	mask_ratio" ;;
    cutmixseg) echo "loss	loss_x	loss_cons	mask_ratio" ;;
    esac
}

for m in unimatch fixmatch meanteacher cutmixseg; do
    train $m --runs "$SG_TMP/a" 2> "$SG_TMP/log_$m" || { echo "$m failed"; cat "$SG_TMP/log_$m"; exit 1; }
    d="$SG_TMP/a/demo/12/$m/seed0"
    for f in config.resolved log.tsv eval.tsv ckpt/last.safetensors result.json; do
        [ -s "$d/$f" ] || { echo "$m: missing $d/$f"; exit 1; }
    done
    [ "$(wc -l < "$d/log.tsv")" = 7 ] || { echo "$m: log.tsv: expected a header and 6 rows"; cat "$d/log.tsv"; exit 1; }
    head -n 1 "$d/log.tsv" | grep -q "^iter	epoch	lr	$(header $m)	images_per_s$" ||
        { echo "$m: log.tsv header"; head -n 1 "$d/log.tsv"; exit 1; }
    # Every loss column finite (mask_ratio is nan for Mean Teacher by design).
    awk -F'\t' -v m=$m 'NR > 1 { for (i = 4; i < NF - 1; i++) if ($i !~ /^-?[0-9.e+-]+$/) { print m ": row " NR " column " i " = " $i; bad = 1 } }
                        END { exit bad }' "$d/log.tsv" || exit 1
    grep -q "^\[$m\]$" "$d/config.resolved" || { echo "$m: config.resolved lacks [$m]"; exit 1; }
    grep -q "^  \"method\": \"$m\"," "$d/result.json" || { echo "$m: result.json"; cat "$d/result.json"; exit 1; }
    case $m in meanteacher | cutmixseg)
        grep -a -q '"ema/' "$d/ckpt/last.safetensors" || { echo "$m: the checkpoint lacks the teacher (ema/)"; exit 1; } ;;
    esac
done
[ "$(wc -l < "$SG_TMP/reports/demo/results.csv")" = 5 ] || { echo "results.csv: expected a header and 4 rows"; exit 1; }

# UniMatch with a second unlabeled batch as the CutMix partner.
train unimatch --runs "$SG_TMP/mix" --set unimatch.mix_source=batch 2> "$SG_TMP/log_mix" ||
    { echo "unimatch mix_source=batch failed"; cat "$SG_TMP/log_mix"; exit 1; }
grep -q "^mix_source = batch ; --set$" "$SG_TMP/mix/demo/12/unimatch/seed0/config.resolved" ||
    { echo "mix_source not in config.resolved"; exit 1; }

# mix_source = same: the second batch holds the unlabeled batch's images (the
# driver checks the ids every iteration and aborts otherwise), augmented again,
# so the run differs from the batch run; killed and resumed, the two loaders
# stay in step and the result is the uninterrupted run's.
train unimatch --runs "$SG_TMP/same" --set unimatch.mix_source=same 2> "$SG_TMP/log_same" ||
    { echo "unimatch mix_source=same failed"; cat "$SG_TMP/log_same"; exit 1; }
same="$SG_TMP/same/demo/12/unimatch/seed0/ckpt/last.safetensors"
if sg_ckpt_same "$same" "$SG_TMP/mix/demo/12/unimatch/seed0/ckpt/last.safetensors"; then
    echo "mix_source same and batch trained identically"; exit 1
fi
set +e
train unimatch --runs "$SG_TMP/same_k" --set unimatch.mix_source=same --set debug.kill_at_iter=5 2> "$SG_TMP/log_same_k"
rc=$?
set -e
[ $rc = 137 ] || { echo "same: expected death by SIGKILL (137), got $rc"; cat "$SG_TMP/log_same_k"; exit 1; }
train unimatch --runs "$SG_TMP/same_k" --set unimatch.mix_source=same --resume 2> "$SG_TMP/log_same_r" ||
    { cat "$SG_TMP/log_same_r"; exit 1; }
sg_ckpt_same "$same" "$SG_TMP/same_k/demo/12/unimatch/seed0/ckpt/last.safetensors" ||
    { echo "mix_source=same: resumed checkpoint differs from the uninterrupted run's"; exit 1; }

# Kill after iteration 5 (checkpoint at 4) and resume: same final checkpoint.
for m in meanteacher unimatch; do
    set +e
    train $m --runs "$SG_TMP/b" --set debug.kill_at_iter=5 2> "$SG_TMP/logk_$m"
    rc=$?
    set -e
    [ $rc = 137 ] || { echo "$m: expected death by SIGKILL (137), got $rc"; cat "$SG_TMP/logk_$m"; exit 1; }
    train $m --runs "$SG_TMP/b" --resume 2> "$SG_TMP/logr_$m" || { cat "$SG_TMP/logr_$m"; exit 1; }
    grep -q "resuming .* at iteration 4 of 6" "$SG_TMP/logr_$m" || { cat "$SG_TMP/logr_$m"; exit 1; }
    sg_ckpt_same "$SG_TMP/a/demo/12/$m/seed0/ckpt/last.safetensors" "$SG_TMP/b/demo/12/$m/seed0/ckpt/last.safetensors" ||
        { echo "$m: resumed checkpoint differs from the uninterrupted run's"; exit 1; }
done

# Config errors: a value out of range and an unknown method key, with file:line or --set.
if train fixmatch --runs "$SG_TMP/e" --set fixmatch.conf_thresh=1.5 2> "$SG_TMP/loge"; then
    echo "conf_thresh 1.5 accepted"; exit 1
fi
grep -q "fixmatch.conf_thresh" "$SG_TMP/loge" || { cat "$SG_TMP/loge"; exit 1; }
if train unimatch --runs "$SG_TMP/e" --set unimatch.mix_source=shuffle 2> "$SG_TMP/loge"; then
    echo "mix_source shuffle accepted"; exit 1
fi
grep -q "unimatch.mix_source" "$SG_TMP/loge" || { cat "$SG_TMP/loge"; exit 1; }
if train cutmixseg --runs "$SG_TMP/e" --set cutmixseg.conf_treshold=0.9 2> "$SG_TMP/loge"; then
    echo "a misspelt key accepted"; exit 1
fi
grep -q "unknown key cutmixseg.conf_treshold" "$SG_TMP/loge" || { cat "$SG_TMP/loge"; exit 1; }
exit 0
