#!/bin/sh
# demo-pretrain.sh: the demo's pretraining stage, the ImageNet analogue
# (experiments/pretrain/README.md), run by `make demo-pretrained`.
#
#   tools/demo-pretrain.sh [--src DIR] [--bin DIR] [--data DIR] [--out DIR]
#                          [--threads N] [--set S.K=V]... [--with-mit]
#
# 1. The v7p task's data in DATA/demo-pretrain (tools/sg-demo-data --version
#    v7p: 3000 fully labelled training images, 200 validation images), when
#    absent or incomplete.
# 2. A supervised run on it: the demo's ResNet encoder
#    (experiments/supervised/supervised with experiments/pretrain/resnet.conf),
#    on 2 x --threads threads; with --with-mit also a MiT-B0 for AllSpark's
#    released network (experiments/pretrain/segformer with
#    experiments/pretrain/mit.conf; experiments/allspark/demo-segformer.conf),
#    the two side by side on --threads each; under OUT/runs, always --resume,
#    so an interrupted stage continues (runs of another key are removed first).
# 3. The encoders (tools/sg-backbone) as OUT/resnet.safetensors (and
#    OUT/mit-b0.safetensors), what the demo configs' model.pretrained name,
#    and OUT/SHA256SUMS.
# Cached: OUT/key is a hash of what the stage reads (the four config files,
# the --set overrides, --with-mit, the generator version). When it matches and
# SHA256SUMS verifies, nothing runs; a file that fails its checksum is
# reported and the stage runs again (the runs are deterministic, so the same
# machine rebuilds the same bytes). --set applies to both runs (the tests
# shorten them: --set train.iterations=4).
# Options: --src the source tree (the folder above this script), --bin the
# build tree (.), --data (data), --out (DATA/demo-pretrained), --threads (1).
# The demo grid's configs load only the ResNet file (every demo method trains
# the DeepLabV3+); --with-mit is `make demo-pretrained DEMO_PRETRAIN_MIT=yes`.
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
mit=no
nl='
'
while [ $# -gt 0 ]; do
    case "$1" in
    --src|--bin|--data|--out|--threads|--set)
        [ $# -ge 2 ] || { echo "demo-pretrain: $1 needs a value" >&2; exit 2; } ;;
    -h|--help) sed -n '2,31p' "$0"; exit 0 ;;
    --with-mit) mit=yes; shift; continue ;;
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
         printf 'generator v7p\nset %s\nmit %s\n' "$sets" "$mit"; } | sha256sum | cut -d' ' -f1)
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
files=resnet.safetensors
if [ $mit = yes ]; then
    echo "demo-pretrain: training the ResNet and MiT-B0 encoders on v7p (logs: $out/resnet.log, $out/mit.log)"
    run supervised/supervised resnet.conf "$out/resnet.log" &
    p1=$!
    run pretrain/segformer mit.conf "$out/mit.log" &
    p2=$!
    files="$files mit-b0.safetensors"
else
    # Alone, the run takes the threads a side-by-side pair would share. The
    # oneDNN path's bits depend on the thread count, which is fixed here, so
    # a rebuild still gives the same bytes (the key covers the rest).
    threads=$((2 * threads))
    echo "demo-pretrain: training the ResNet encoder on v7p (log: $out/resnet.log)"
    run supervised/supervised resnet.conf "$out/resnet.log" &
    p1=$!
fi
rc=0
wait $p1 || { rc=1; echo "demo-pretrain: the ResNet run failed:" >&2; tail -n 5 "$out/resnet.log" >&2; }
if [ $mit = yes ]; then
    wait $p2 || { rc=1; echo "demo-pretrain: the MiT-B0 run failed:" >&2; tail -n 5 "$out/mit.log" >&2; }
fi
[ $rc -eq 0 ] || exit 1

runs="$out/runs/demo-pretrain/3000"
"$bin/tools/sg-backbone" --checkpoint "$runs/supervised/seed0/ckpt/last.safetensors" \
    --out "$out/resnet.safetensors" || exit 1
if [ $mit = yes ]; then
    "$bin/tools/sg-backbone" --checkpoint "$runs/segformer/seed0/ckpt/last.safetensors" \
        --out "$out/mit-b0.safetensors" || exit 1
fi
(cd "$out" && sha256sum $files > SHA256SUMS.tmp &&
    mv SHA256SUMS.tmp SHA256SUMS && printf '%s\n' "$key" > key.tmp && mv key.tmp key) || exit 1
echo "demo-pretrain: $out: $files (SHA256SUMS, key $key)"
