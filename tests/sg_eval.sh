#!/bin/sh
# sg-eval end to end: a checkpoint whose model predicts one class everywhere
# (tests/eval_helper) is evaluated on a few synthetic images; the reported
# mIoU and accuracy must equal what that prediction scores on the masks,
# counted independently; predictions are written as palette PNGs; the
# sliding-window mode agrees; --class-names names the per-class lines; bad
# inputs are clear errors.
. "${top_srcdir:-.}/tests/setup.sh"
bin=${top_builddir:-.}
"$bin/tools/sg-demo-data" --out "$SG_TMP/demo" --train 1 --val 5 >/dev/null
head -n 5 "$top_srcdir/splits/demo/val.txt" > "$SG_TMP/val.txt"
"$bin/tests/eval_helper" checkpoint "$SG_TMP/ck.safetensors" 7 0

run() {
    "$bin/tools/sg-eval" --checkpoint "$SG_TMP/ck.safetensors" --dataset list --root "$SG_TMP/demo" \
        --list "$SG_TMP/val.txt" --classes 7 "$@"
}
run --pred-dir "$SG_TMP/pred" > "$SG_TMP/out.txt"
"$bin/tests/eval_helper" expect "$SG_TMP/demo" "$SG_TMP/val.txt" 7 0 > "$SG_TMP/want.txt"
got=$(grep -E '^(mIoU|accuracy) ' "$SG_TMP/out.txt")
want=$(cat "$SG_TMP/want.txt")
[ "$got" = "$want" ] || { echo "sg-eval reported:"; echo "$got"; echo "expected:"; echo "$want"; exit 1; }
[ "$(grep -c '^class ' "$SG_TMP/out.txt")" = 7 ] || { echo "per-class lines missing"; exit 1; }
[ "$(ls "$SG_TMP/pred" | wc -l)" = 5 ] || { echo "expected 5 prediction PNGs"; exit 1; }

run --mode sliding --crop 40 > "$SG_TMP/sliding.txt"
[ "$(grep -E '^(mIoU|accuracy) ' "$SG_TMP/sliding.txt")" = "$want" ] || { echo "sliding mode disagrees"; exit 1; }

run --class-names bg,c1,c2,c3,c4,c5,c6 > "$SG_TMP/named.txt"
grep -q '^class 6 c6 IoU ' "$SG_TMP/named.txt" || { echo "--class-names not used:"; cat "$SG_TMP/named.txt"; exit 1; }

# Bad input: each a non-zero exit with a message naming the culprit.
if run --checkpoint "$SG_TMP/missing.st" 2> "$SG_TMP/err.txt"; then echo "missing checkpoint accepted"; exit 1; fi
grep -q "missing.st" "$SG_TMP/err.txt" || { echo "error does not name the checkpoint"; cat "$SG_TMP/err.txt"; exit 1; }
if "$bin/tools/sg-eval" --checkpoint "$SG_TMP/ck.safetensors" --dataset list --root "$SG_TMP/demo" \
    --list "$SG_TMP/val.txt" --classes 5 2> "$SG_TMP/err.txt"; then echo "class mismatch accepted"; exit 1; fi
grep -q "7 classes, the dataset has 5" "$SG_TMP/err.txt" || { cat "$SG_TMP/err.txt"; exit 1; }
set +e
run --colour red 2> /dev/null
[ $? = 2 ] || { echo "an unknown option must exit 2"; exit 1; }
run --mode sliding --crop 1 2> "$SG_TMP/err.txt"
[ $? = 2 ] && grep -q -- "--mode sliding needs 1 <= --stride <= --crop" "$SG_TMP/err.txt" ||
    { echo "a sliding window that cannot advance must exit 2"; cat "$SG_TMP/err.txt"; exit 1; }
run --mode sliding --crop 16 --stride 17 2> /dev/null
[ $? = 2 ] || { echo "a stride above the crop must exit 2"; exit 1; }
run --device tpu 2> "$SG_TMP/err.txt"
[ $? = 2 ] && grep -q 'device "tpu": expected cpu, cuda or cuda:N' "$SG_TMP/err.txt" ||
    { echo "an unknown device must exit 2 and say so"; cat "$SG_TMP/err.txt"; exit 1; }
# No GPU here (CI): a CUDA build has no cuda:999, a CPU build no CUDA at all.
run --device cuda:999 2> "$SG_TMP/err.txt"
[ $? = 1 ] && grep -q 'cuda:999' "$SG_TMP/err.txt" ||
    { echo "an absent CUDA device must exit 1 naming it"; cat "$SG_TMP/err.txt"; exit 1; }
run --class-names a,b 2> "$SG_TMP/err.txt"
[ $? = 2 ] && grep -q -- "--class-names a,b: 2 class names for 7 classes" "$SG_TMP/err.txt" ||
    { echo "a wrong class-name count must exit 2 and say so"; cat "$SG_TMP/err.txt"; exit 1; }
"$bin/tools/sg-eval" --checkpoint "$SG_TMP/ck.safetensors" --dataset voc --root "$SG_TMP/demo" \
    --list "$SG_TMP/val.txt" --class-names a 2> "$SG_TMP/err.txt"
[ $? = 2 ] && grep -q -- "--class-names is only for --dataset list" "$SG_TMP/err.txt" ||
    { echo "--class-names with voc must exit 2"; cat "$SG_TMP/err.txt"; exit 1; }
# --help prints the usage on stdout and succeeds.
"$bin/tools/sg-eval" --help > "$SG_TMP/out.txt" 2>&1
[ $? = 0 ] && grep -q '^usage: sg-eval' "$SG_TMP/out.txt" || { echo "sg-eval --help"; cat "$SG_TMP/out.txt"; exit 1; }
# Thread counts: whole numbers in 1..1024, on the command line and in
# SG_NUM_THREADS (99999 used to crash, 4096 to stall, abc to abort).
for t in 99999 4096 0 4abc; do
    run --threads $t 2> "$SG_TMP/err.txt"
    [ $? = 2 ] && grep -q -- "--threads = '$t': expected a thread count in 1..1024" "$SG_TMP/err.txt" ||
        { echo "--threads $t"; cat "$SG_TMP/err.txt"; exit 1; }
done
for t in 0 abc 4abc; do
    env SG_NUM_THREADS=$t "$bin/tools/sg-eval" --checkpoint "$SG_TMP/ck.safetensors" --dataset list \
        --root "$SG_TMP/demo" --list "$SG_TMP/val.txt" --classes 7 2> "$SG_TMP/err.txt"
    [ $? = 1 ] && grep -q "SG_NUM_THREADS = '$t': expected a thread count in 1..1024" "$SG_TMP/err.txt" ||
        { echo "SG_NUM_THREADS=$t"; cat "$SG_TMP/err.txt"; exit 1; }
done
# A FIFO as the checkpoint is refused at once instead of blocking the open.
mkfifo "$SG_TMP/fifo"
timeout 20 "$bin/tools/sg-eval" --checkpoint "$SG_TMP/fifo" --dataset list --root "$SG_TMP/demo" \
    --list "$SG_TMP/val.txt" --classes 7 2> "$SG_TMP/err.txt"
[ $? = 1 ] && grep -q "fifo: not a regular file" "$SG_TMP/err.txt" ||
    { echo "a FIFO checkpoint"; cat "$SG_TMP/err.txt"; exit 1; }
exit 0
