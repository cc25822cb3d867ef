#!/bin/sh
# bench/demo_trainers_ab.sh: the demo trainers of two builds side by side, as
# bench/README.md's per-method before/after: each method's demo config on
# the 12-label split, ITERATIONS iterations plus the final evaluation, one
# thread, a seed outside splits/seeds (7), the two builds alternating per
# method; prints "<method> <old|new> <user s> <wall s>" and the new/old wall
# ratio. Needs the demo data and encoders (make grid-data-demo, made by
# `make reproduce-demo` in DATA_DIR).
#   sh bench/demo_trainers_ab.sh OLD_BUILD NEW_BUILD [DATA_DIR]
# OLD_BUILD and NEW_BUILD are build trees (their experiments/<m>/<m>); the
# configs and splits come from this source tree. ITERATIONS (120) and
# METHODS (all ten) may be set in the environment. CTT's contrastive terms,
# most of its time, start once its banks are full (about iteration 200 of the
# demo schedule), so time CTT with ITERATIONS=300 or more.
set -eu
old=$1 new=$2 data=${3:-data}
src=$(cd "$(dirname "$0")/.." && pwd)
iters=${ITERATIONS:-120}
methods=${METHODS:-supervised meanteacher cutmixseg fixmatch u2pl unimatch dssn uccl ctt allspark}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
printf '7\n' > "$tmp/seeds"
for m in $methods; do
    enc=$data/demo-pretrained/resnet.safetensors
    for v in old new; do
        if [ $v = old ]; then b=$old; else b=$new; fi
        rm -rf "$tmp/runs"
        /usr/bin/time -f "$m $v %U %e" -o "$tmp/time" "$b/experiments/$m/$m" \
            --config "$src/experiments/$m/demo.conf" --seed-index 0 \
            --set data.root="$data/demo" --set data.split="$src/splits/demo/12" \
            --set data.val="$src/splits/demo/val.txt" --set data.test="$src/splits/demo/test.txt" \
            --set model.pretrained="$enc" --set run.protocol=12 --set run.seeds="$tmp/seeds" \
            --set train.iterations="$iters" --set eval.interval=1000000 \
            --runs "$tmp/runs" --reports "$tmp/runs/reports" --threads 1 > "$tmp/log" 2>&1 ||
            { echo "$m ($v) failed:"; tail -5 "$tmp/log"; exit 1; }
        cat "$tmp/time"
    done
done | awk '{ print; w[$1 " " $2] = $4 } $2 == "new" { printf "%s new/old wall %.2f\n", $1, $4 / w[$1 " old"] }'
