#!/bin/sh
# Configuration errors end the trainer with exit status 1 (2 for command-line
# usage) and a message naming the origin: file:line for a key in a file,
# "--set" for an override, the path for a missing file; no run directory is
# created. Cases: unknown key (file and --set), bad value (not a number, out
# of range, not a choice), a key given twice, a syntax error, a missing
# file, a missing required key, an unknown option, class names of the wrong
# count or characters or for a dataset with built-in names, a class count
# VOC does not have, a sliding window that cannot advance, ignore index 254
# (the unlabeled padding mark), run.seed and run.seed_index naming different
# seeds, misspelt keys and sections (reported before their consequences),
# run names that leave the output roots or break results.csv, a seeds file
# not found from the current directory, more than 65535 epochs, and lists
# that sg-data check rejects (duplicates, labeled also unlabeled, missing
# files). Then what must work: a list dataset whose ignore index is not 255
# (labeled crops are padded with it), and a config.resolved rerun with
# --seed-index, which beats the file's run.seed.
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
# A device this build or machine lacks is refused before anything is written:
# built without CUDA the message says so; built with it, this machine (no GPU
# in CI) has no cuda:999 (device numbers are 0-based).
expect 1 'run.device: device "gpu": expected cpu, cuda or cuda:N' --config "$good" --device gpu
expect 1 "run.tf32 = true: the cpu-" --config "$good" --set run.tf32=true
# A bad SG_NUM_THREADS is an error at start-up, not an abort (or "4abc" = 4).
for t in 0 abc 4abc; do
    set +e
    env SG_NUM_THREADS=$t "$tr" --config "$good" > /dev/null 2> "$SG_TMP/err"
    rc=$?
    set -e
    [ $rc = 1 ] && grep -q "SG_NUM_THREADS = '$t': expected a thread count in 1..1024" "$SG_TMP/err" ||
        { echo "SG_NUM_THREADS=$t: exit $rc"; cat "$SG_TMP/err"; exit 1; }
done
if grep -q '^#define SG_HAVE_CUDA 1' "$bin/config.h"; then
    expect 1 "run.device = cuda:999: cuda:999: no such device" --config "$good" --device cuda:999
else
    expect 1 "run.device = cuda:999: cuda:999 requested, but semiseg was built without CUDA" \
        --config "$good" --device cuda:999
fi
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
expect 1 "--set: data.class_names = a,b: 2 class names for 7 classes" --config "$good" --set data.class_names=a,b
expect 1 "--set: data.class_names = a,b,c,d,e,f,g h: class name 6 'g h'" --config "$good" \
    --set "data.class_names=a,b,c,d,e,f,g h"
expect 1 "--set: data.class_names is only for data.kind = list (voc has its class names built in)" \
    --config "$good" --set data.kind=voc --set data.n_classes=21 --set data.class_names=a
expect 1 "good.conf:9: data.n_classes = 7, data.ignore_index = 255: voc has 21 classes" --config "$good" \
    --set data.kind=voc
expect 1 "--set: eval.crop = 1, eval.stride = 0: sliding windows need 1 <= stride <= crop" --config "$good" \
    --set eval.mode=sliding --set eval.crop=1
expect 1 "--set: eval.crop = 16, eval.stride = 17: sliding windows need" --config "$good" \
    --set eval.mode=sliding --set eval.crop=16 --set eval.stride=17
expect 1 "--set: run.seed = 5 but --set: run.seed_index = 2 is seed 2 of" --config "$good" --seed 5 --seed-index 2
fm="$bin/experiments/fixmatch/fixmatch"
set +e
"$fm" --config "$good" --set data.ignore_index=254 > /dev/null 2> "$SG_TMP/err"
rc=$?
set -e
[ $rc = 1 ] && grep -qF -- "--set: data.ignore_index = 254 is reserved" "$SG_TMP/err" ||
    { echo "fixmatch accepted ignore index 254 (exit $rc)"; cat "$SG_TMP/err"; exit 1; }
sed '/^root = /d' "$good" > "$SG_TMP/noroot.conf"
expect 1 "data.root is required" --config "$SG_TMP/noroot.conf"
expect 2 "--colour: unknown option" --config "$good" --colour red
# Misspelt names are reported as such, before the consequences of the keys
# they fail to set (no training length, a required key missing), and so is
# a misspelt section.
expect 1 "c.conf:24: unknown key train.epoch" --config "$(with 'epoch = 3')" --set train.iterations=0
sed 's/^root = /rot = /' "$good" > "$SG_TMP/rot.conf"
expect 1 "rot.conf:6: unknown key data.rot" --config "$SG_TMP/rot.conf"
{ cat "$good"; printf '[trian]\nlr = 0.1\n'; } > "$SG_TMP/sec.conf"
expect 1 "sec.conf:24: unknown section [trian] (trian.lr)" --config "$SG_TMP/sec.conf"
expect 1 "--set train.epoch=3: unknown key train.epoch" --config "$good" --set train.iterations=0 --set train.epoch=3
# run.dataset and run.protocol are folder names under --runs and --reports
# and CSV fields: '.', '..', '/' and ',' are refused.
expect 1 "--set: run.dataset = '..': expected a name" --config "$good" --set run.dataset=..
expect 1 "--set: run.protocol = '.': expected a name" --config "$good" --set run.protocol=.
expect 1 "--set: run.dataset = 'a,b': expected a name" --config "$good" --set run.dataset=a,b
expect 1 "--set: run.protocol = 'x/y': expected a name" --config "$good" --set run.protocol=x/y
# The default seeds file splits/seeds is relative to the current directory:
# the message names the key and says so.
sed '/^seeds = /d' "$good" > "$SG_TMP/noseeds.conf"
(cd "$SG_TMP" && expect 1 "default: run.seeds: splits/seeds: " --config "$SG_TMP/noseeds.conf")
(cd "$SG_TMP" && expect 1 "(a relative path is resolved from the current directory, $SG_TMP)" \
    --config "$SG_TMP/noseeds.conf")
# 65535 epochs are allowed (the error below is the next check's); 65536 are not.
expect 1 "sliding windows need" --config "$good" --set train.iterations=0 --set train.epochs=65535 \
    --set eval.mode=sliding --set eval.crop=1
expect 1 "131071 iterations of 2 per epoch: more than 65535 epochs" --config "$good" --set train.iterations=131071
# The lists are checked at start-up as sg-data check does: an image listed
# twice, a labeled image also listed as unlabeled (semi-supervised trainers),
# and a listed file that is missing or not a regular file, with list:line.
mkdir "$SG_TMP/dup" "$SG_TMP/ovl"
{ cat "$SG_TMP/splits/4/labeled.txt"; head -n 1 "$SG_TMP/splits/4/labeled.txt"; } > "$SG_TMP/dup/labeled.txt"
cp "$SG_TMP/splits/4/unlabeled.txt" "$SG_TMP/dup/"
img=$(head -n 1 "$SG_TMP/splits/4/labeled.txt" | cut -d' ' -f1)
expect 1 "dup/labeled.txt:5: $img listed again (first at line 1)" --config "$good" --set data.split="$SG_TMP/dup"
cp "$SG_TMP/splits/4/labeled.txt" "$SG_TMP/ovl/"
{ cat "$SG_TMP/splits/4/unlabeled.txt"; head -n 1 "$SG_TMP/splits/4/labeled.txt"; } > "$SG_TMP/ovl/unlabeled.txt"
set +e
"$fm" --config "$good" --set data.split="$SG_TMP/ovl" > /dev/null 2> "$SG_TMP/err"
rc=$?
set -e
[ $rc = 1 ] && grep -qF "ovl/labeled.txt:1: $img is also unlabeled (" "$SG_TMP/err" && [ ! -e "$SG_TMP/runs" ] ||
    { echo "fixmatch accepted a labeled image listed as unlabeled (exit $rc)"; cat "$SG_TMP/err"; exit 1; }
{ cat "$SG_TMP/splits/val.txt"; echo "JPEGImages/gone.jpg SegmentationClass/gone.png"; } > "$SG_TMP/val_gone.txt"
expect 1 "val_gone.txt:3: image $SG_TMP/data/JPEGImages/gone.jpg is missing or not a regular file" \
    --config "$good" --set data.val="$SG_TMP/val_gone.txt"
mkdir "$SG_TMP/data/JPEGImages/dir.jpg"
{ cat "$SG_TMP/splits/4/unlabeled.txt"; echo "JPEGImages/dir.jpg SegmentationClass/dir.png"; } > "$SG_TMP/ovl/unlabeled.txt"
set +e
"$fm" --config "$good" --set data.split="$SG_TMP/ovl" > /dev/null 2> "$SG_TMP/err"
rc=$?
set -e
[ $rc = 1 ] && grep -qF "ovl/unlabeled.txt:9: image $SG_TMP/data/JPEGImages/dir.jpg is missing or not a regular file" \
    "$SG_TMP/err" && [ ! -e "$SG_TMP/runs" ] ||
    { echo "fixmatch accepted a folder as an unlabeled image (exit $rc)"; cat "$SG_TMP/err"; exit 1; }
expect 2 "--config FILE is required" --set train.lr=1

# And the good config itself runs (so the cases above fail for their line only),
# with valid class names naming the eval.tsv columns; an override may come
# before --config and still beats the file (iterations = 2 there).
"$tr" --set "data.class_names=bg, a1,b2 ,c3,d4,e5,f6" --set train.iterations=3 --config "$good" 2> "$SG_TMP/err" ||
    { echo "good.conf failed"; cat "$SG_TMP/err"; exit 1; }
head -n 1 "$SG_TMP"/runs/demo/4/supervised/seed0/eval.tsv | grep -q "iou_bg	iou_a1	iou_b2	iou_c3	iou_d4	iou_e5	iou_f6$" ||
    { echo "eval.tsv columns do not carry the class names:"; head -n 1 "$SG_TMP"/runs/demo/4/supervised/seed0/eval.tsv; exit 1; }
grep -qx "iterations = 3 ; --set" "$SG_TMP"/runs/demo/4/supervised/seed0/config.resolved ||
    { echo "--set before --config did not override the file"; exit 1; }

# Ignore index 200 on a list dataset, crops (96) larger than most rescaled
# images (32-128): the padding must be 200, or the loss stops on label 255.
# The split is spelled with a trailing slash: the protocol is still "4".
"$tr" --config "$good" --set data.ignore_index=200 --set data.crop=96 --set data.split="$SG_TMP/splits/4/" \
    --runs "$SG_TMP/ign" 2> "$SG_TMP/err" || { echo "ignore_index 200 with padded crops failed"; cat "$SG_TMP/err"; exit 1; }
[ -s "$SG_TMP/ign/demo/4/supervised/seed0/result.json" ] || { echo "split 'x/4/': protocol is not 4"; exit 1; }

# A config.resolved (run.seed = 0 and run.seed_index = 0 from the file) rerun
# with --seed-index 1 uses seed 1 of the list and records it.
"$tr" --config "$SG_TMP/runs/demo/4/supervised/seed0/config.resolved" --seed-index 1 --runs "$SG_TMP/again" \
    2> "$SG_TMP/err" || { echo "config.resolved --seed-index 1 failed"; cat "$SG_TMP/err"; exit 1; }
grep -qx "seed = 1 ; --set" "$SG_TMP/again/demo/4/supervised/seed1/config.resolved" ||
    { echo "--seed-index 1 did not give seed 1"; ls -R "$SG_TMP/again"; exit 1; }
# Rerun as it stands, with the seeds file gone: the file's run.seed is used.
"$tr" --config "$SG_TMP/runs/demo/4/supervised/seed0/config.resolved" --set run.seeds="$SG_TMP/absent" \
    --runs "$SG_TMP/as_is" 2> "$SG_TMP/err" || { echo "config.resolved without its seeds file failed"; cat "$SG_TMP/err"; exit 1; }
exit 0
