#!/bin/sh
# The crash campaign: a tiny UniMatch run (its state: model, momentum, BN
# statistics, two loaders, the dropout masks keyed by iteration) is killed
# with SIGKILL (the hook debug.kill_at_iter=K: the same abrupt death as
# `kill -9`, at a deterministic point) at 10 points drawn from a fixed seed,
# checkpoints every 2 iterations so that kills land both right after a
# checkpoint and between two; each killed run is resumed once with --resume.
# Every resumed run must end with the uninterrupted run's checkpoint (byte
# for byte but for the cost metadata, sg_ckpt_same), its log.tsv loss columns
# and its results.csv row (time columns aside).
. "${top_srcdir:-.}/tests/setup.sh"
bin=${top_builddir:-.}
SG_NUM_THREADS=1; export SG_NUM_THREADS
sg_tiny_data
N=12
train() { sg_tiny_train unimatch --set train.iterations=$N --set output.checkpoint_interval=2 "$@"; }
run=demo/12/unimatch/seed0
# log.tsv without its last column (images_per_s, a time).
losses() { awk -F'\t' '{ NF--; print }' OFS='\t' "$1"; }
# The results row without wall_s, cpu_s, images_per_s and finished_utc.
row() {
    awk -F, 'NR == 1 { for (i = 1; i <= NF; i++) if ($i ~ /^(wall_s|cpu_s|images_per_s|finished_utc)$/) drop[i] = 1; next }
             { s = ""; for (i = 1; i <= NF; i++) if (!drop[i]) s = s $i ","; print s }' "$1"
}
train --runs "$SG_TMP/ref" --reports "$SG_TMP/ref_rep" 2> "$SG_TMP/log_ref" || { cat "$SG_TMP/log_ref"; exit 1; }

# Ten kill points in 1..N from a fixed seed (a 31-bit LCG: the same on every
# machine, unlike awk's rand).
x=20261204
points=""
i=0
while [ $i -lt 10 ]; do
    x=$(( (x * 1103515245 + 12345) % 2147483648 ))
    points="$points $(( x % N + 1 ))"
    i=$((i + 1))
done
echo "# kill points:$points"
n=0
for k in $points; do
    n=$((n + 1))
    r="$SG_TMP/k$n"
    set +e
    train --runs "$r" --reports "$r/rep" --set debug.kill_at_iter=$k 2> "$r.log1"
    rc=$?
    set -e
    [ $rc = 137 ] || { echo "kill at $k: exit $rc, expected 137 (SIGKILL)"; cat "$r.log1"; exit 1; }
    train --runs "$r" --reports "$r/rep" --resume 2> "$r.log2" || { echo "resume after a kill at $k"; cat "$r.log2"; exit 1; }
    sg_ckpt_same "$SG_TMP/ref/$run/ckpt/last.safetensors" "$r/$run/ckpt/last.safetensors" ||
        { echo "kill at $k: the final checkpoint differs from the uninterrupted run's"; exit 1; }
    [ "$(losses "$SG_TMP/ref/$run/log.tsv")" = "$(losses "$r/$run/log.tsv")" ] ||
        { echo "kill at $k: log.tsv differs"; diff "$SG_TMP/ref/$run/log.tsv" "$r/$run/log.tsv"; exit 1; }
    [ "$(row "$SG_TMP/ref_rep/demo/results.csv")" = "$(row "$r/rep/demo/results.csv")" ] ||
        { echo "kill at $k: the results row differs"; cat "$SG_TMP/ref_rep/demo/results.csv" "$r/rep/demo/results.csv"; exit 1; }
done
exit 0
