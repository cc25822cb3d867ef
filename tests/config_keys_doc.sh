#!/bin/sh
# experiments/README.md documents every key the run driver reads: each trainer
# runs 2 iterations of its experiments/<m>/demo.conf on a tiny synthetic set
# (tools/sg-demo-data, a list dataset, so data.class_names is given too), and
# every key of its config.resolved outside the method's own section ([<m>],
# documented in experiments/<m>/README.md) must have a table row
# "| `section.key` |" in experiments/README.md. The semi-supervised trainers
# add the strong-view [augment] keys that supervised does not read. Keys the
# README lists but the code no longer reads are not checked.
. "${top_srcdir:-.}/tests/setup.sh"
bin=${top_builddir:-.}
doc="$top_srcdir/experiments/README.md"
SG_NUM_THREADS=1; export SG_NUM_THREADS
sg_tiny_data
# demo.conf names the 7 demo classes; other names here check that the key is read.
train() { sg_tiny_train "$@" --set train.iterations=2 --set data.class_names=bg,c1,c2,c3,c4,c5,c6 --runs "$SG_TMP/runs"; }

: > "$SG_TMP/keys"
for m in supervised meanteacher cutmixseg fixmatch unimatch u2pl ctt dssn uccl allspark; do
    # Batches of 3 are one AllSpark group (pool_size must divide the batch).
    extra=""
    [ $m = allspark ] && extra="--set allspark.pool_size=3"
    train $m $extra 2> "$SG_TMP/log_$m" || { echo "$m failed"; cat "$SG_TMP/log_$m"; exit 1; }
    r="$SG_TMP/runs/demo/12/$m/seed0/config.resolved"
    [ -s "$r" ] || { echo "missing $r"; exit 1; }
    # "[section]" headers, then "key = value ; origin" lines.
    awk -v skip="$m" '/^\[.*\]$/ { sec = substr($0, 2, length($0) - 2); next }
        NF >= 2 && $2 == "=" && sec != "" && sec != skip { print sec "." $1 }' "$r" > "$SG_TMP/keys_$m"
    grep -qxF "data.class_names" "$SG_TMP/keys_$m" || { echo "$m: data.class_names not read"; cat "$r"; exit 1; }
    cat "$SG_TMP/keys_$m" >> "$SG_TMP/keys"
done
# Guard against a parse that finds nothing: supervised reads the [run] and
# [debug] keys, the semi-supervised trainers the strong-view keys.
grep -qxF "run.seed" "$SG_TMP/keys_supervised" || { echo "config.resolved not parsed"; exit 1; }
grep -qxF "augment.jitter_p" "$SG_TMP/keys_fixmatch" || { echo "fixmatch: augment.jitter_p not read"; exit 1; }

missing=0
for k in $(sort -u "$SG_TMP/keys"); do
    if ! grep -qF "| \`$k\` |" "$doc"; then
        echo "experiments/README.md: no row for $k (read by: $(grep -lxF "$k" "$SG_TMP"/keys_* | sed 's|.*/keys_||' | tr '\n' ' '))"
        missing=$((missing + 1))
    fi
done
[ "$missing" = 0 ] || { echo "$missing driver keys undocumented"; exit 1; }
echo "$(sort -u "$SG_TMP/keys" | wc -l) driver keys documented"
exit 0
