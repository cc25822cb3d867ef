#!/bin/sh
# The cost counters survive a resume whatever else is in the run directory:
# they are kept in the checkpoint (metadata cost_*), so a stale or leftover
# ckpt/last.time (where versions before kept them) changes nothing, and a run
# stopped at iteration 3 and resumed reports the GFLOP per iteration of an
# uninterrupted run.
. "${top_srcdir:-.}/tests/setup.sh"
bin=${top_builddir:-.}
SG_NUM_THREADS=1; export SG_NUM_THREADS
sg_tiny_data
key() { sed -n "s/^  \"$1\": \\([0-9.]*\\),*$/\\1/p" "$2"; }
sg_tiny_train supervised --runs "$SG_TMP/a" 2> "$SG_TMP/log_a" || { cat "$SG_TMP/log_a"; exit 1; }
b="$SG_TMP/b/demo/12/supervised/seed0"
set +e
sg_tiny_train supervised --runs "$SG_TMP/b" --set debug.term_at_iter=3 2> "$SG_TMP/log_b"
rc=$?
set -e
[ $rc = 143 ] || { echo "term at iteration 3: exit $rc"; cat "$SG_TMP/log_b"; exit 1; }
echo "2 0.000 0.000 0.000 0" > "$b/ckpt/last.time"
sg_tiny_train supervised --runs "$SG_TMP/b" --resume 2> "$SG_TMP/log_b2" || { cat "$SG_TMP/log_b2"; exit 1; }
ga=$(key gflop_per_iter "$SG_TMP/a/demo/12/supervised/seed0/result.json")
gb=$(key gflop_per_iter "$b/result.json")
[ -n "$ga" ] && [ "$ga" = "$gb" ] || { echo "gflop_per_iter: uninterrupted $ga, resumed $gb"; exit 1; }
exit 0
