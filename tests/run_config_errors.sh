#!/bin/sh
# Configuration errors end the trainer with exit status 1 (2 for command-line
# usage) and a message naming the origin: file:line for a key in a file,
# "--set" for an override, the path for a missing file; no run directory is
# created. Cases: unknown key (file and --set), bad value (not a number, out
# of range, not a choice), a key given twice, a syntax error, a missing
# file, a missing required key, an unknown option.
. "${top_srcdir:-.}/tests/setup.sh"
bin=${top_builddir:-.}
tr="$bin/experiments/supervised/supervised"
"$bin/tools/sg-demo-data" --out "$SG_TMP/data" --splits "$SG_TMP/splits" --train 12 --val 2 --labeled 4 >/dev/null
good="$SG_TMP/good.conf"
cat > "$good" <<EOF
[run]
dataset = demo
seeds = $top_srcdir/splits/seeds
[data]
kind = list
root = $SG_TMP/data
split = $SG_TMP/splits/4
val = $SG_TMP/splits/val.txt
n_classes = 7
crop = 32
[model]
depth = 18
widths = 8, 8, 16, 16
aspp_channels = 8
reduce_channels = 8
decoder_channels = 8
[train]
batch_size = 2
iterations = 2
[output]
runs = $SG_TMP/runs
reports = $SG_TMP/reports
EOF
# expect STATUS MESSAGE ARGS...: the trainer's exit status and a line of its message.
expect() {
    status=$1 msg=$2
    shift 2
    set +e
    "$tr" "$@" > /dev/null 2> "$SG_TMP/err"
    rc=$?
    set -e
    [ $rc = "$status" ] || { echo "$*: exit $rc, expected $status"; cat "$SG_TMP/err"; exit 1; }
    grep -qF -- "$msg" "$SG_TMP/err" || { echo "$*: message lacks '$msg':"; cat "$SG_TMP/err"; exit 1; }
    [ ! -e "$SG_TMP/runs" ] || { echo "$*: a run directory was created"; exit 1; }
}
with() { # with LINE: good.conf + "[train]" (line 23) + LINE (line 24) -> path of the config
    { cat "$good"; printf '[train]\n%s\n' "$1"; } > "$SG_TMP/c.conf"
    echo "$SG_TMP/c.conf"
}
[ "$(wc -l < "$good")" = 22 ] || { echo "good.conf: line numbers below assume 22 lines"; exit 1; }

expect 1 "c.conf:24: unknown key train.lrr" --config "$(with 'lrr = 0.1')"
expect 1 "c.conf:24: train.lr = fast: not a number" --config "$(with 'lr = fast')"
expect 1 "c.conf:24: train.batch_size_u = 0: out of range" --config "$(with 'batch_size_u = 0')"
expect 1 "c.conf:24: train.loss = hinge: expected one of: ce ohem" --config "$(with 'loss = hinge')"
expect 1 "c.conf:24: train.iterations given twice (first at" --config "$(with 'iterations = 3')"
expect 1 "c.conf:24: syntax error" --config "$(with 'this line has no equals sign')"
expect 1 "$SG_TMP/missing.conf: cannot open config file" --config "$SG_TMP/missing.conf"
expect 1 "--set train.warmup=5: unknown key train.warmup" --config "$good" --set train.warmup=5
expect 1 "--set: train.momentum = 2: out of range [0, 1]" --config "$good" --set train.momentum=2
expect 1 "--set train.lr: expected section.key=value" --config "$good" --set train.lr
expect 1 "--set: data.root is required and empty" --config "$good" --set data.root=
sed '/^root = /d' "$good" > "$SG_TMP/noroot.conf"
expect 1 "data.root is required" --config "$SG_TMP/noroot.conf"
expect 2 "--colour: unknown option" --config "$good" --colour red
expect 2 "--config FILE is required" --set train.lr=1

# And the good config itself runs (so the cases above fail for their line only).
"$tr" --config "$good" 2> "$SG_TMP/err" || { echo "good.conf failed"; cat "$SG_TMP/err"; exit 1; }
exit 0
