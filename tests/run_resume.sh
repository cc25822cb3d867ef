#!/bin/sh
# --resume continues bitwise: a run killed with SIGKILL mid-way (after its
# checkpoint of iteration 4, before the one of iteration 8) and resumed ends
# with the same checkpoint file, byte for byte but for the cost metadata
# (model, SGD momentum, BN statistics; sg_ckpt_same), the same result.json (timing keys aside) and the same
# logs (loss, lr and mIoU columns) as an uninterrupted run, even when resumed
# with the data and split at other paths (the run's identity hashes the split
# lists by content, not by path; a changed list is refused). The kill comes
# from the test hook debug.kill_at_iter=K, which makes the trainer SIGKILL
# itself right after iteration K: the same abrupt death as `kill -9`, at a
# deterministic point. Both runs use 2 loader workers and one compute thread
# (the fast CPU path is bitwise reproducible for a fixed thread count).
# SIGTERM mid-run checkpoints and exits 143; SIGTERM in the last iteration
# (hook debug.term_at_iter) checkpoints that iteration, and --resume then
# ends exactly as the uninterrupted run.
. "${top_srcdir:-.}/tests/setup.sh"
bin=${top_builddir:-.}
SG_NUM_THREADS=1; export SG_NUM_THREADS
"$bin/tools/sg-demo-data" --out "$SG_TMP/data" --splits "$SG_TMP/splits" --train 40 --val 6 --test 2 --labeled 12 >/dev/null
EXEC=
train() {
    $EXEC "$bin/experiments/supervised/supervised" --config "$top_srcdir/experiments/supervised/demo.conf" \
        --set data.root="$SG_TMP/data" --set data.split="$SG_TMP/splits/12" --set data.val="$SG_TMP/splits/val.txt" \
        --set data.test="$SG_TMP/splits/test.txt" --set model.pretrained= \
        --set run.seeds="$top_srcdir/splits/seeds" --set train.iterations=10 --set train.batch_size=4 \
        --set data.crop=32 --set eval.interval=3 --set output.checkpoint_interval=4 --set data.workers=2 \
        --reports "$SG_TMP/reports" "$@"
}
train --runs "$SG_TMP/a" 2> "$SG_TMP/log_a" || { cat "$SG_TMP/log_a"; exit 1; }

set +e
train --runs "$SG_TMP/b" --set debug.kill_at_iter=6 2> "$SG_TMP/log_b"
rc=$?
set -e
[ $rc = 137 ] || { echo "expected death by SIGKILL (137), got $rc"; cat "$SG_TMP/log_b"; exit 1; }
b="$SG_TMP/b/demo/12/supervised/seed0"
[ ! -e "$b/result.json" ] || { echo "a killed run wrote result.json"; exit 1; }
[ "$(tail -n 1 "$b/log.tsv" | cut -f1)" = 6 ] || { echo "killed run: log.tsv should end at iteration 6"; exit 1; }
# The run's identity hashes the split lists by content: a split with one line
# fewer is another experiment and is refused ...
mkdir -p "$SG_TMP/other/12"
head -n 11 "$SG_TMP/splits/12/labeled.txt" > "$SG_TMP/other/12/labeled.txt"
cp "$SG_TMP/splits/12/unlabeled.txt" "$SG_TMP/other/12/"
set +e
train --runs "$SG_TMP/b" --resume --set data.split="$SG_TMP/other/12" 2> "$SG_TMP/log_bx"
rc=$?
set -e
[ $rc != 0 ] && grep -q "written with another configuration" "$SG_TMP/log_bx" \
    || { echo "resume with another split: expected a refusal"; cat "$SG_TMP/log_bx"; exit 1; }
# ... while the same lists and data under other paths are the same run, as
# are other loader threads, queue depth and class names (no number changes).
mkdir -p "$SG_TMP/copy"
cp -R "$SG_TMP/splits" "$SG_TMP/copy/splits"
ln -s "$SG_TMP/data" "$SG_TMP/copy/data"
train --runs "$SG_TMP/b" --resume --set data.root="$SG_TMP/copy/./data" --set data.split="$SG_TMP/copy/splits/12" \
    --set data.val="$SG_TMP/copy/splits/val.txt" --set data.test="$SG_TMP/copy/splits/test.txt" --set data.workers=1 --set data.prefetch=3 \
    --set data.class_names=bg,a,b,c,d,e,f 2> "$SG_TMP/log_b2" || { cat "$SG_TMP/log_b2"; exit 1; }
grep -q "resuming .* at iteration 4 of 10" "$SG_TMP/log_b2" || { cat "$SG_TMP/log_b2"; exit 1; }

a="$SG_TMP/a/demo/12/supervised/seed0"
sg_ckpt_same "$a/ckpt/last.safetensors" "$b/ckpt/last.safetensors" || { echo "final checkpoints differ"; exit 1; }
grep -v -e '"wall_s"' -e '"cpu_s"' -e '"images_per_s"' "$a/result.json" > "$SG_TMP/ra"
grep -v -e '"wall_s"' -e '"cpu_s"' -e '"images_per_s"' "$b/result.json" > "$SG_TMP/rb"
diff "$SG_TMP/ra" "$SG_TMP/rb" || { echo "result.json differs"; exit 1; }
# Logs: iterations 5-6 of the killed segment were dropped and redone once.
cut -f1-4 "$a/log.tsv" > "$SG_TMP/la"
cut -f1-4 "$b/log.tsv" > "$SG_TMP/lb"
diff "$SG_TMP/la" "$SG_TMP/lb" || { echo "log.tsv differs"; exit 1; }
diff "$a/eval.tsv" "$b/eval.tsv" || { echo "eval.tsv differs"; exit 1; }
[ "$(wc -l < "$SG_TMP/reports/demo/results.csv")" = 3 ] || { echo "expected one results.csv row per finished run"; exit 1; }

# SIGTERM: a checkpoint is written and the exit status is 128 + 15.
set +e
# (exec: $! must be the trainer, not a subshell.)
(EXEC=exec; train --runs "$SG_TMP/c" --set train.iterations=100000 --set eval.interval=0 2> "$SG_TMP/log_c") &
pid=$!
c="$SG_TMP/c/demo/12/supervised/seed0"
n=0
while [ ! -s "$c/log.tsv" ] && [ $n -lt 600 ]; do sleep 0.1; n=$((n + 1)); done
kill -TERM $pid
wait $pid
rc=$?
set -e
[ $rc = 143 ] || { echo "SIGTERM: expected exit 143, got $rc"; cat "$SG_TMP/log_c"; exit 1; }
[ -s "$c/ckpt/last.safetensors" ] || { echo "SIGTERM: no checkpoint"; exit 1; }
grep -q "signal 15: checkpoint of iteration" "$SG_TMP/log_c" || { cat "$SG_TMP/log_c"; exit 1; }

# SIGTERM during the last iteration (hook debug.term_at_iter, deterministic):
# the checkpoint of iteration 10 is written as the message says, and
# --resume only evaluates and records, ending as the uninterrupted run.
set +e
train --runs "$SG_TMP/d" --set debug.term_at_iter=10 2> "$SG_TMP/log_d"
rc=$?
set -e
d="$SG_TMP/d/demo/12/supervised/seed0"
[ $rc = 143 ] && grep -q "signal 15: checkpoint of iteration 10 written" "$SG_TMP/log_d" ||
    { echo "SIGTERM at the last iteration: exit $rc"; cat "$SG_TMP/log_d"; exit 1; }
[ ! -e "$d/result.json" ] || { echo "a stopped run wrote result.json"; exit 1; }
train --runs "$SG_TMP/d" --resume 2> "$SG_TMP/log_d2" || { cat "$SG_TMP/log_d2"; exit 1; }
grep -q "resuming .* at iteration 10 of 10" "$SG_TMP/log_d2" || { cat "$SG_TMP/log_d2"; exit 1; }
sg_ckpt_same "$a/ckpt/last.safetensors" "$d/ckpt/last.safetensors" || { echo "last-iteration stop: checkpoints differ"; exit 1; }
grep -v -e '"wall_s"' -e '"cpu_s"' -e '"images_per_s"' "$d/result.json" > "$SG_TMP/rd"
diff "$SG_TMP/ra" "$SG_TMP/rd" || { echo "last-iteration stop: result.json differs"; exit 1; }
# A kill -9 in the middle of a checkpoint write leaves last.safetensors.tmp.PID.N;
# the next start removes those of dead processes and keeps a live one's.
sh -c 'exit 0' & dead=$!
wait $dead
: > "$d/ckpt/last.safetensors.tmp.$dead.0"
: > "$d/result.json.tmp.$dead.3"
: > "$d/ckpt/last.safetensors.tmp.$$.0"
train --runs "$SG_TMP/d" --resume 2> "$SG_TMP/log_d3" || { cat "$SG_TMP/log_d3"; exit 1; }
[ ! -e "$d/ckpt/last.safetensors.tmp.$dead.0" ] && [ ! -e "$d/result.json.tmp.$dead.3" ] ||
    { echo "stale temporaries of a dead process were kept"; ls "$d" "$d/ckpt"; exit 1; }
[ -e "$d/ckpt/last.safetensors.tmp.$$.0" ] || { echo "a live process's temporary was removed"; exit 1; }
grep -q "removed 2 unfinished temporary file(s)" "$SG_TMP/log_d3" || { cat "$SG_TMP/log_d3"; exit 1; }
exit 0
