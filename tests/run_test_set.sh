#!/bin/sh
# data.test, the held-out test set: a run with one evaluates, at the end,
# the final weights and the best-on-val weights (ckpt/best.safetensors,
# written when the validation mIoU improves) on it; result.json and the
# results.csv row hold both, and sg-eval on each checkpoint over the test
# list gives the same numbers (2 decimals: sg-eval's format). A test image
# that is also in the training or validation lists is refused before
# training, naming both lines; so is a test list with a missing file.
. "${top_srcdir:-.}/tests/setup.sh"
bin=${top_builddir:-.}
SG_NUM_THREADS=1; export SG_NUM_THREADS
sg_tiny_data
test_list="$SG_TMP/splits/test.txt"
[ "$(wc -l < "$test_list")" = 4 ] || { echo "sg-demo-data wrote no 4-image test.txt"; exit 1; }
d="$SG_TMP/runs/demo/12/supervised/seed0"
sg_tiny_train supervised --runs "$SG_TMP/runs" --set data.test="$test_list" --set train.iterations=8 \
    --set eval.interval=2 2> "$SG_TMP/log" || { cat "$SG_TMP/log"; exit 1; }
grep -q "test: final [0-9.]*, best-on-val [0-9.]*" "$SG_TMP/log" || { echo "no test line"; tail -n 3 "$SG_TMP/log"; exit 1; }
json() { sed -n "s/^  \"$1\": \(.*\),\$/\1/p" "$d/result.json"; }
tf=$(json test_final_miou)
tb=$(json test_best_miou)
bi=$(json best_iter)
case "$tf$tb" in *null* | "") echo "result.json: test values '$tf' '$tb'"; exit 1 ;; esac
[ -s "$d/ckpt/best.safetensors" ] || { echo "no ckpt/best.safetensors"; exit 1; }
row=$(sed -n 2p "$SG_TMP/reports/demo/results.csv")
[ "$(echo "$row" | cut -d, -f10)" = "$tf" ] && [ "$(echo "$row" | cut -d, -f11)" = "$tb" ] ||
    { echo "results.csv row '$row' vs result.json $tf $tb"; exit 1; }

evaluate() {
    "$bin/tools/sg-eval" --checkpoint "$1" --dataset list --root "$SG_TMP/data" --list "$test_list" --classes 7 |
        sed -n 's/^mIoU //p'
}
close() { awk -v a="$1" -v b="$2" 'BEGIN { d = a - b; if (d < 0) d = -d; exit !(d <= 0.005) }'; }
got=$(evaluate "$d/ckpt/last.safetensors")
close "$got" "$tf" || { echo "sg-eval of last on test: $got, result.json test_final_miou $tf"; exit 1; }
got=$(evaluate "$d/ckpt/best.safetensors")
close "$got" "$tb" || { echo "sg-eval of best on test: $got, result.json test_best_miou $tb (best_iter $bi)"; exit 1; }
# The best checkpoint is the one of best_iter.
sed -n 's/.*"best_iter":"\([0-9]*\)".*/\1/p' "$d/ckpt/best.safetensors" | grep -qx "$bi" ||
    { echo "best.safetensors is not iteration $bi"; exit 1; }

# Held out: a test list holding a labeled image is refused before training.
{ head -n 1 "$SG_TMP/splits/12/labeled.txt"; cat "$test_list"; } > "$SG_TMP/leaky.txt"
if sg_tiny_train supervised --runs "$SG_TMP/r2" --set data.test="$SG_TMP/leaky.txt" 2> "$SG_TMP/log2"; then
    echo "a test list with a training image was accepted"; exit 1
fi
grep -q "leaky.txt:1: .* is also in .*labeled.txt:1: the test set must be held out" "$SG_TMP/log2" ||
    { echo "leak not named"; cat "$SG_TMP/log2"; exit 1; }
[ ! -e "$SG_TMP/r2/demo/12/supervised/seed0/log.tsv" ] || { echo "trained despite the leak"; exit 1; }
{ cat "$test_list"; echo "JPEGImages/gone.jpg SegmentationClass/gone.png"; } > "$SG_TMP/gone.txt"
if sg_tiny_train supervised --runs "$SG_TMP/r3" --set data.test="$SG_TMP/gone.txt" 2> "$SG_TMP/log3"; then
    echo "a test list with a missing image was accepted"; exit 1
fi
grep -q "gone.jpg" "$SG_TMP/log3" || { echo "missing test image not named"; cat "$SG_TMP/log3"; exit 1; }
exit 0
