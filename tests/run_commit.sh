#!/bin/sh
# result.json records the commit the trainer was built from (`git describe
# --always --dirty --abbrev=12` of the source tree at build time, "unknown"
# for a build outside a git checkout), wherever the trainer is started: here
# from a directory outside any checkout.
. "${top_srcdir:-.}/tests/setup.sh"
bin=$(cd "${top_builddir:-.}" && pwd)
top_srcdir=$(cd "$top_srcdir" && pwd)
SG_NUM_THREADS=1; export SG_NUM_THREADS
sg_tiny_data
if [ -e "$top_srcdir/.git" ]; then
    want=$(git -C "$top_srcdir" describe --always --dirty --abbrev=12 2>/dev/null) || want=unknown
else
    want=unknown
fi
mkdir "$SG_TMP/elsewhere"
(cd "$SG_TMP/elsewhere" && sg_tiny_train supervised --runs "$SG_TMP/runs") 2> "$SG_TMP/log" ||
    { cat "$SG_TMP/log"; exit 1; }
got=$(sed -n 's/^  "git_commit": "\(.*\)",$/\1/p' "$SG_TMP/runs/demo/12/supervised/seed0/result.json")
[ "$got" = "$want" ] || { echo "git_commit '$got', expected the build's '$want'"; exit 1; }
grep -q ",$want,[0-9a-f]*,[0-9T:Z-]*\$" "$SG_TMP/reports/demo/results.csv" ||
    { echo "results.csv does not record $want"; cat "$SG_TMP/reports/demo/results.csv"; exit 1; }
exit 0
