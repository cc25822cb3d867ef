#!/bin/sh
# One process per run directory: the same run started while it is running is
# refused (exit 1, naming the directory and the holder's pid) before it
# changes anything, so the logs hold every iteration once; once the first
# process has ended (stopped by SIGTERM after the second was refused: it
# checkpoints the iteration it reached), --resume takes the directory over.
. "${top_srcdir:-.}/tests/setup.sh"
bin=${top_builddir:-.}
SG_NUM_THREADS=1; export SG_NUM_THREADS
sg_tiny_data
run() { sg_tiny_train supervised --runs "$SG_TMP/runs" --set train.iterations=100000 --set eval.interval=0 \
    --set output.checkpoint_interval=0 "$@"; }
d="$SG_TMP/runs/demo/12/supervised/seed0"
run 2> "$SG_TMP/log1" &
first=$!
n=0
while [ ! -s "$d/log.tsv" ] && [ $n -lt 600 ]; do sleep 0.1; n=$((n + 1)); done
cp "$d/config.resolved" "$SG_TMP/resolved"
set +e
run 2> "$SG_TMP/log2"
rc2=$?
# The holder's pid as the refusal names it ($! is the shell running run()).
holder=$(sed -n 's/.*(pid \([0-9][0-9]*\),.*/\1/p' "$SG_TMP/log2")
# Without one (a bug: the second run was not refused), the trainer under it.
[ -n "$holder" ] || holder=$(pgrep -P $first)
kill -TERM $holder
wait $first
rc1=$?
set -e
[ $rc1 = 143 ] || { echo "first run: exit $rc1, expected 143"; cat "$SG_TMP/log1"; exit 1; }
[ $rc2 = 1 ] || { echo "second run of the same directory: exit $rc2, expected 1"; cat "$SG_TMP/log2"; exit 1; }
grep -q "$d is in use by another process (pid [0-9][0-9]*," "$SG_TMP/log2" ||
    { echo "second run: no message naming the directory and the pid"; cat "$SG_TMP/log2"; exit 1; }
cmp -s "$d/config.resolved" "$SG_TMP/resolved" || { echo "the refused run rewrote config.resolved"; exit 1; }
[ "$(cut -f1 "$d/log.tsv" | sort | uniq -d)" = "" ] || { echo "log.tsv holds iterations twice"; exit 1; }
last=$(tail -n 1 "$d/log.tsv" | cut -f1)
# The lock went with the process: the run resumes (one iteration, then the hook stops it).
set +e
run --resume --set debug.term_at_iter=$((last + 1)) 2> "$SG_TMP/log3"
rc3=$?
set -e
[ $rc3 = 143 ] && grep -q "resuming .* at iteration $last of" "$SG_TMP/log3" ||
    { echo "--resume after the first run ended: exit $rc3"; cat "$SG_TMP/log3"; exit 1; }
exit 0
