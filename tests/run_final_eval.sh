#!/bin/sh
# The final checkpoint is written before the final evaluation: a validation
# image that exists (the start-up check passes) but does not decode fails
# that evaluation after all the training, and once it is repaired --resume
# only evaluates and records (resuming at the last iteration), instead of
# training again from the start (no checkpoint was due before: interval 0).
. "${top_srcdir:-.}/tests/setup.sh"
bin=${top_builddir:-.}
SG_NUM_THREADS=1; export SG_NUM_THREADS
sg_tiny_data
img="$SG_TMP/data/$(head -n 1 "$SG_TMP/splits/val.txt" | cut -d' ' -f1)"
cp "$img" "$SG_TMP/good.jpg"
echo "not an image" > "$img"
run() { sg_tiny_train supervised --runs "$SG_TMP/runs" --set output.checkpoint_interval=0 --set eval.interval=0 "$@"; }
set +e
run 2> "$SG_TMP/log"
rc=$?
set -e
[ $rc = 1 ] || { echo "undecodable val image: exit $rc"; cat "$SG_TMP/log"; exit 1; }
cp "$SG_TMP/good.jpg" "$img"
run --resume 2> "$SG_TMP/log2" || { cat "$SG_TMP/log2"; exit 1; }
grep -q "resuming .* at iteration 6 of 6" "$SG_TMP/log2" ||
    { echo "the final checkpoint was not written before the final evaluation"; cat "$SG_TMP/log2"; exit 1; }
exit 0
