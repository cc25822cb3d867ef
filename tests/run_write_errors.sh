#!/bin/sh
# A failed write to log.tsv stops the run with an error naming the file and
# the iteration, instead of training on with rows missing. The disk fills
# up by RLIMIT_FSIZE (ulimit -f, 512-byte blocks in this /bin/sh; SIGXFSZ
# ignored so that the write returns EFBIG): 3 KiB per file holds
# config.resolved but only some 80 rows of log.tsv, and no checkpoint is due
# before.
. "${top_srcdir:-.}/tests/setup.sh"
bin=${top_builddir:-.}
SG_NUM_THREADS=1; export SG_NUM_THREADS
sg_tiny_data
d="$SG_TMP/runs/demo/12/supervised/seed0"
set +e
(
    ulimit -f 6
    trap '' XFSZ
    sg_tiny_train supervised --runs "$SG_TMP/runs" --set train.iterations=300 --set eval.interval=0 \
        --set output.checkpoint_interval=0
) 2> "$SG_TMP/log"
rc=$?
set -e
[ $rc = 1 ] || { echo "full disk: exit $rc, expected 1"; tail -n 5 "$SG_TMP/log"; exit 1; }
msg=$(grep "log.tsv: write error at iteration" "$SG_TMP/log") ||
    { echo "full disk: no error naming log.tsv and the iteration"; tail -n 5 "$SG_TMP/log"; exit 1; }
it=$(echo "$msg" | sed 's/.*write error at iteration \([0-9]*\):.*/\1/')
[ "$it" -lt 300 ] || { echo "the run went on after the failed write: $msg"; exit 1; }
[ ! -e "$d/result.json" ] || { echo "a failed run wrote result.json"; exit 1; }
exit 0
