#!/bin/sh
# demo-pretrain.sh: the demo's pretraining stage, the ImageNet analogue
# (experiments/pretrain/README.md), run by `make demo-pretrained`.
#
#   tools/demo-pretrain.sh [--src DIR] [--bin DIR] [--data DIR] [--out DIR]
#                          [--threads N] [--set S.K=V]...
#
# 1. The v7p task's data in DATA/demo-pretrain (tools/sg-demo-data --version
#    v7p: 3000 fully labelled training images, 200 validation images), when
#    absent or incomplete.
# 2. Two supervised runs on it, side by side (--threads each): the demo's
#    ResNet encoder (experiments/supervised/supervised with
#    experiments/pretrain/resnet.conf) and AllSpark's MiT-B0
#    (experiments/pretrain/segformer with experiments/pretrain/mit.conf),
#    under OUT/runs, always --resume, so an interrupted stage continues
#    (runs of another key are removed first).
# 3. Their encoders (tools/sg-backbone) as OUT/resnet.safetensors and
#    OUT/mit-b0.safetensors, what the demo configs' model.pretrained name,
#    and OUT/SHA256SUMS.
# Cached: OUT/key is a hash of what the stage reads (the four config files,
# the --set overrides, the generator version). When it matches and
# SHA256SUMS verifies, nothing runs; a file that fails its checksum is
# reported and the stage runs again (the runs are deterministic, so the same
# machine rebuilds the same bytes). --set applies to both runs (the tests
# shorten them: --set train.iterations=4).
# Options: --src the source tree (the folder above this script), --bin the
# build tree (.), --data (data), --out (DATA/demo-pretrained), --threads (1).
# Exit status: 0 done or cached, 1 a failed step, 2 usage.
# Covered by tests/pretrain.sh.
set -u
LC_ALL=C
export LC_ALL

here=$(cd "$(dirname "$0")" && pwd)
src=$(cd "$here/.." && pwd)
bin=.
data=data
out=""
threads=1
sets=""
nl='
'
while [ $# -gt 0 ]; do
    case "$1" in
    --src|--bin|--data|--out|--threads|--set)
        [ $# -ge 2 ] || { echo "demo-pretrain: $1 needs a value" >&2; exit 2; } ;;
    -h|--help) sed -n '2,27p' "$0"; exit 0 ;;
    *) echo "demo-pretrain: unknown option $1" >&2; exit 2 ;;
    esac
    case "$1" in
    --src) src=$2 ;;
    --bin) bin=$2 ;;
    --data) data=$2 ;;
    --out) out=$2 ;;
    --threads) threads=$2 ;;
    --set) sets="$sets$2$nl" ;;
    esac
    shift 2
done
[ -n "$out" ] || out="$data/demo-pretrained"
ex="$src/experiments"
pdata="$data/demo-pretrain"

key=$( { cat "$ex/demo.conf" "$ex/supervised/demo.conf" "$ex/pretrain/resnet.conf" "$ex/pretrain/mit.conf";
         printf 'generator v7p\nset %s\n' "$sets"; } | sha256sum | cut -d' ' -f1)
if [ -f "$out/key" ] && [ "$(cat "$out/key")" = "$key" ] && [ -f "$out/SHA256SUMS" ]; then
    if (cd "$out" && sha256sum --quiet -c SHA256SUMS) >/dev/null 2>&1; then
        echo "demo-pretrain: $out is up to date (key $key)"
        exit 0
    fi
    echo "demo-pretrain: $out: a file fails its checksum (SHA256SUMS); building it again" >&2
fi

if [ ! -s "$pdata/splits/val.txt" ] || [ ! -s "$pdata/splits/3000/labeled.txt" ] ||
   [ "$(find "$pdata/JPEGImages" -name '*.jpg' 2>/dev/null | wc -l)" -ne 3200 ]; then
    "$bin/tools/sg-demo-data" --version v7p --out "$pdata" --splits "$pdata/splits" --labeled 3000 --test 0 ||
        exit 1
fi

# run TRAINER CONFIG LOG: one pretraining run on the data of --data.
run() {
    set -- "$1" "$2" "$3" --set "data.root=$pdata" --set "data.split=$pdata/splits/3000" \
        --set "data.val=$pdata/splits/val.txt"
    printf '%s' "$sets" | {
        while IFS= read -r s; do [ -n "$s" ] && set -- "$@" --set "$s"; done
        t=$1 c=$2 log=$3
        shift 3
        "$bin/experiments/$t" --config "$ex/pretrain/$c" --seed 0 --runs "$out/runs" \
            --reports "$out/reports" --threads "$threads" --resume "$@" > "$log" 2>&1
    }
}
# Runs of another key (schedule, configs) are not resumed but replaced;
# runs of this key, interrupted, are.
rm -f "$out/key"
if [ "$(cat "$out/runs/key" 2>/dev/null)" != "$key" ]; then rm -rf "$out/runs" "$out/reports"; fi
mkdir -p "$out/runs" && printf '%s\n' "$key" > "$out/runs/key" || exit 1
echo "demo-pretrain: training the ResNet and MiT-B0 encoders on v7p (logs: $out/resnet.log, $out/mit.log)"
run supervised/supervised resnet.conf "$out/resnet.log" &
p1=$!
run pretrain/segformer mit.conf "$out/mit.log" &
p2=$!
rc=0
wait $p1 || { rc=1; echo "demo-pretrain: the ResNet run failed:" >&2; tail -n 5 "$out/resnet.log" >&2; }
wait $p2 || { rc=1; echo "demo-pretrain: the MiT-B0 run failed:" >&2; tail -n 5 "$out/mit.log" >&2; }
[ $rc -eq 0 ] || exit 1

runs="$out/runs/demo-pretrain/3000"
"$bin/tools/sg-backbone" --checkpoint "$runs/supervised/seed0/ckpt/last.safetensors" \
    --out "$out/resnet.safetensors" &&
"$bin/tools/sg-backbone" --checkpoint "$runs/segformer/seed0/ckpt/last.safetensors" \
    --out "$out/mit-b0.safetensors" || exit 1
(cd "$out" && sha256sum resnet.safetensors mit-b0.safetensors > SHA256SUMS.tmp &&
    mv SHA256SUMS.tmp SHA256SUMS && printf '%s\n' "$key" > key.tmp && mv key.tmp key) || exit 1
echo "demo-pretrain: $out: resnet.safetensors, mit-b0.safetensors (SHA256SUMS, key $key)"
