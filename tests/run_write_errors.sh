#!/bin/sh
# A failed write to log.tsv stops the run with an error naming the file and
# the iteration, instead of training on with rows missing. The disk fills
# up by RLIMIT_FSIZE (ulimit -f, 512-byte blocks in this /bin/sh; SIGXFSZ
# ignored so that the write returns EFBIG): 12 KiB per file holds
# config.resolved (some 2.6 KiB plus ~30 copies of the source directory's
# path, which is long under distcheck) but only some 300 rows of log.tsv
# (~40 bytes a row), and no checkpoint is due before.
. "${top_srcdir:-.}/tests/setup.sh"
bin=${top_builddir:-.}
SG_NUM_THREADS=1; export SG_NUM_THREADS
sg_tiny_data
d="$SG_TMP/runs/demo/12/supervised/seed0"
set +e
(
    ulimit -f 24
    trap '' XFSZ
    sg_tiny_train supervised --runs "$SG_TMP/runs" --set train.iterations=800 --set eval.interval=0 \
        --set output.checkpoint_interval=0
) 2> "$SG_TMP/log"
rc=$?
set -e
[ $rc = 1 ] || { echo "full disk: exit $rc, expected 1"; tail -n 5 "$SG_TMP/log"; exit 1; }
msg=$(grep "log.tsv: write error at iteration" "$SG_TMP/log") ||
    { echo "full disk: no error naming log.tsv and the iteration"; tail -n 5 "$SG_TMP/log"; exit 1; }
it=$(echo "$msg" | sed 's/.*write error at iteration \([0-9]*\):.*/\1/')
[ "$it" -lt 800 ] || { echo "the run went on after the failed write: $msg"; exit 1; }
[ ! -e "$d/result.json" ] || { echo "a failed run wrote result.json"; exit 1; }
exit 0
