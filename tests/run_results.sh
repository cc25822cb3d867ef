#!/bin/sh
# A finished run's results.csv row is never lost, and never written twice:
# - an output.reports that cannot hold results.csv (here a regular file) is
#   an error at start-up, before any training, naming the path;
# - the row is appended before result.json is written, so a run whose row
#   could not be appended (here: a results.csv of another version's header)
#   has no result.json and --resume records it once the cause is fixed;
# - a run killed between the two writes (simulated: result.json removed) is
#   completed by --resume with result.json only, not a second row.
. "${top_srcdir:-.}/tests/setup.sh"
bin=${top_builddir:-.}
SG_NUM_THREADS=1; export SG_NUM_THREADS
sg_tiny_data
csv="$SG_TMP/reports/demo/results.csv"
rows() { if [ -e "$csv" ]; then tail -n +2 "$csv" | wc -l | tr -d ' '; else echo 0; fi; }

: > "$SG_TMP/notadir"
set +e
sg_tiny_train supervised --runs "$SG_TMP/a" --reports "$SG_TMP/notadir" 2> "$SG_TMP/log_a"
rc=$?
set -e
[ $rc = 1 ] && grep -q "notadir" "$SG_TMP/log_a" ||
    { echo "--reports at a regular file: exit $rc"; cat "$SG_TMP/log_a"; exit 1; }
[ ! -e "$SG_TMP/a" ] || { echo "--reports at a regular file: the run started anyway"; exit 1; }

# Stopped in its last iteration (checkpoint of iteration 6), then resumed
# with an unusable results.csv: no result.json, no row; resumed again after
# moving the file aside: one row and result.json.
b="$SG_TMP/b/demo/12/supervised/seed0"
set +e
sg_tiny_train supervised --runs "$SG_TMP/b" --set debug.term_at_iter=6 2> "$SG_TMP/log_b"
rc=$?
set -e
[ $rc = 143 ] || { echo "term at the last iteration: exit $rc"; cat "$SG_TMP/log_b"; exit 1; }
mkdir -p "$SG_TMP/reports/demo"
echo "some,other,header" > "$csv"
set +e
sg_tiny_train supervised --runs "$SG_TMP/b" --resume 2> "$SG_TMP/log_b2"
rc=$?
set -e
[ $rc = 1 ] && grep -q "results.csv: its header is not this version's" "$SG_TMP/log_b2" ||
    { echo "resume with a foreign results.csv: exit $rc"; cat "$SG_TMP/log_b2"; exit 1; }
[ ! -e "$b/result.json" ] || { echo "result.json written although the row was not"; exit 1; }
mv "$csv" "$SG_TMP/foreign.csv"
sg_tiny_train supervised --runs "$SG_TMP/b" --resume 2> "$SG_TMP/log_b3" || { cat "$SG_TMP/log_b3"; exit 1; }
[ -s "$b/result.json" ] && [ "$(rows)" = 1 ] ||
    { echo "resume after fixing results.csv: $(rows) rows"; cat "$SG_TMP/log_b3"; exit 1; }

# Killed between the row and result.json: --resume writes result.json only.
rm "$b/result.json"
sg_tiny_train supervised --runs "$SG_TMP/b" --resume 2> "$SG_TMP/log_b4" || { cat "$SG_TMP/log_b4"; exit 1; }
[ -s "$b/result.json" ] || { echo "resume did not write the missing result.json"; cat "$SG_TMP/log_b4"; exit 1; }
[ "$(rows)" = 1 ] || { echo "resume of a recorded run appended a second row ($(rows) rows)"; exit 1; }
# A later run of the same experiment in a new directory is a new row.
sg_tiny_train supervised --runs "$SG_TMP/c" 2> "$SG_TMP/log_c" || { cat "$SG_TMP/log_c"; exit 1; }
[ "$(rows)" = 2 ] || { echo "a second run directory: $(rows) rows, expected 2"; exit 1; }
exit 0
