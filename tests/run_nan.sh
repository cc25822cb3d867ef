#!/bin/sh
# A non-finite loss stops the run: the test hook debug.nan_at_iter=K (a
# documented test hook: the driver replaces the first loss term of
# iteration K by NaN, as a diverging run would produce it) must end the run
# with exit status 1 and a message naming the iteration and every loss
# term, without updating the weights, leaving the last good checkpoint
# (iteration 4, written before the NaN) untouched and no result: resumed
# without the hook it ends as a clean run.
. "${top_srcdir:-.}/tests/setup.sh"
bin=${top_builddir:-.}
SG_NUM_THREADS=1; export SG_NUM_THREADS
"$bin/tools/sg-demo-data" --out "$SG_TMP/data" --splits "$SG_TMP/splits" --train 24 --val 4 --test 2 --labeled 8 >/dev/null
train() {
    "$bin/experiments/supervised/supervised" --config "$top_srcdir/experiments/supervised/demo.conf" \
        --set data.root="$SG_TMP/data" --set data.split="$SG_TMP/splits/8" --set data.val="$SG_TMP/splits/val.txt" --set data.test="$SG_TMP/splits/test.txt" --set model.pretrained= \
        --set run.seeds="$top_srcdir/splits/seeds" --set train.iterations=10 --set train.batch_size=4 \
        --set data.crop=32 --set eval.interval=0 --set output.checkpoint_interval=4 \
        --reports "$SG_TMP/reports" "$@"
}
train --runs "$SG_TMP/ok" 2> "$SG_TMP/log_ok" || { cat "$SG_TMP/log_ok"; exit 1; }

set +e
train --runs "$SG_TMP/r" --set debug.nan_at_iter=6 2> "$SG_TMP/log"
rc=$?
set -e
[ $rc = 1 ] || { echo "expected exit status 1, got $rc"; cat "$SG_TMP/log"; exit 1; }
grep -q "iteration 6: non-finite loss (loss = nan)" "$SG_TMP/log" || { echo "message:"; cat "$SG_TMP/log"; exit 1; }
d="$SG_TMP/r/demo/8/supervised/seed0"
grep -q "last good checkpoint is $d/ckpt/last.safetensors" "$SG_TMP/log" || { cat "$SG_TMP/log"; exit 1; }
[ ! -e "$d/result.json" ] || { echo "a failed run wrote result.json"; exit 1; }
[ "$(tail -n 1 "$d/log.tsv" | cut -f1)" = 5 ] || { echo "log.tsv should end at iteration 5"; exit 1; }
[ "$(wc -l < "$SG_TMP/reports/demo/results.csv")" = 2 ] || { echo "the failed run appended a results.csv row"; exit 1; }
# The kept checkpoint is the good one of iteration 4: resumed without the
# hook, the run ends exactly as the clean run did.
train --runs "$SG_TMP/r" --resume 2> "$SG_TMP/log2" || { cat "$SG_TMP/log2"; exit 1; }
grep -q "resuming .* at iteration 4 of 10" "$SG_TMP/log2" || { cat "$SG_TMP/log2"; exit 1; }
sg_ckpt_same "$d/ckpt/last.safetensors" "$SG_TMP/ok/demo/8/supervised/seed0/ckpt/last.safetensors" ||
    { echo "resumed from the kept checkpoint, the run does not end as the clean one"; exit 1; }
exit 0
