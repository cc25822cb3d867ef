#!/bin/sh
# The demo's pretraining stage (tools/demo-pretrain.sh, `make
# demo-pretrained` in reports/grid.mk, tools/sg-backbone,
# experiments/pretrain/) on shortened runs (3 iterations): by default the
# ResNet encoder alone (no MiT-B0 file); with DEMO_PRETRAIN_MIT=yes both
# encoders, with the names the pretrained loaders take (no "backbone."
# prefix, no head) and a SHA256SUMS that verifies; a second make runs
# nothing and leaves the files untouched; a second build elsewhere gives the
# same bytes (deterministic); a corrupted file fails its checksum and is
# rebuilt to the same bytes. A demo grid cell loads DEMO_PRETRAINED's ResNet
# file and its supervised-scratch cell none (run.name names its directory);
# AllSpark's demo (the DeepLabV3+) loads the ResNet file and its
# demo-segformer.conf the MiT-B0 file; the strict loaders refuse the other
# encoder's file; sg-backbone refuses a file that is not a checkpoint;
# sg-eval rebuilds the pretraining SegFormer and gives its run's mIoU.
. "${top_srcdir:-.}/tests/setup.sh"
bin=$(cd "${top_builddir:-.}" && pwd)
make --version 2>/dev/null | grep -q "GNU Make" || { echo "GNU make not found: skipped"; exit 77; }
unset MAKEFLAGS MFLAGS MAKELEVEL MAKEOVERRIDES
SG_NUM_THREADS=1
export SG_NUM_THREADS

"$bin/tools/sg-demo-data" --out "$SG_TMP/data/demo" --splits "$SG_TMP/splits" --train 40 --val 6 --test 2 --labeled 12 >/dev/null
printf '0\n' > "$SG_TMP/seeds"
short="train.iterations=3 eval.interval=3 data.workers=1"
p=$SG_TMP/data/demo-pretrained
g() {
    make -f "$top_srcdir/reports/grid.mk" srcdir="$top_srcdir" GRID_BIN="$bin" RUNS_DIR="$SG_TMP/runs" \
        REPORTS_DIR="$SG_TMP/reports" DATA_DIR="$SG_TMP/data" DEMO_SPLITS="$SG_TMP/splits" \
        GRID_SEEDS_FILE="$SG_TMP/seeds" GRID_THREADS=1 PRETRAIN_SET="$short" DEMO_PRETRAIN_MIT=yes "$@"
}
# header FILE: the safetensors JSON header.
header() { head -c $((8 + $(od -An -tu8 -N8 "$1" | tr -d ' '))) "$1" | tail -c +9; }

# ---- by default the ResNet encoder alone ----
g DEMO_PRETRAIN_MIT=no demo-pretrained > "$SG_TMP/out0" 2>&1 || { cat "$SG_TMP/out0"; exit 1; }
[ -s "$p/resnet.safetensors" ] || { echo "no $p/resnet.safetensors"; cat "$SG_TMP/out0"; exit 1; }
[ ! -e "$p/mit-b0.safetensors" ] || { echo "the default stage built the MiT-B0 encoder"; exit 1; }
[ "$(cut -d' ' -f3 "$p/SHA256SUMS")" = resnet.safetensors ] || { echo "SHA256SUMS: expected resnet.safetensors alone"; cat "$p/SHA256SUMS"; exit 1; }
(cd "$p" && sha256sum --quiet -c SHA256SUMS) || { echo "SHA256SUMS does not verify"; exit 1; }

# ---- with the MiT-B0 (another key: built again), the loaders' names and verifiable sums ----
g demo-pretrained > "$SG_TMP/out1" 2>&1 || { cat "$SG_TMP/out1"; exit 1; }
for f in resnet.safetensors mit-b0.safetensors SHA256SUMS key; do
    [ -s "$p/$f" ] || { echo "no $p/$f"; cat "$SG_TMP/out1"; exit 1; }
done
(cd "$p" && sha256sum --quiet -c SHA256SUMS) || { echo "SHA256SUMS does not verify"; exit 1; }
header "$p/resnet.safetensors" | grep -q '"layer4.1.bn2.running_var"' || { echo "resnet: torchvision names"; exit 1; }
header "$p/mit-b0.safetensors" | grep -q '"block4.1.attn.q.weight"' || { echo "mit-b0: released names"; exit 1; }
for f in resnet mit-b0; do
    if header "$p/$f.safetensors" | grep -q '"backbone\.\|"aspp\|"decoder\|"decode_head\|"optim/'; then
        echo "$f: more than the encoder"; exit 1
    fi
done
grep -q "100 model backbone tensors" "$SG_TMP/out1" || { echo "resnet: tensor count"; cat "$SG_TMP/out1"; exit 1; }

# sg-eval rebuilds the pretraining SegFormer from its checkpoint ("arch=segformer")
# and gives the run's final validation mIoU.
sf=$p/runs/demo-pretrain/3000/segformer/seed0
"$bin/tools/sg-eval" --checkpoint "$sf/ckpt/last.safetensors" --dataset list --classes 15 \
    --root "$SG_TMP/data/demo-pretrain" --list "$SG_TMP/data/demo-pretrain/splits/val.txt" > "$SG_TMP/eval" 2>&1 ||
    { cat "$SG_TMP/eval"; exit 1; }
want=$(sed -n 's/^  "final_miou": \(.*\),$/\1/p' "$sf/result.json")
got=$(sed -n 's/^mIoU //p' "$SG_TMP/eval")
awk -v a="$want" -v b="$got" 'BEGIN { d = a - b; exit !(d < 0.006 && d > -0.006) }' ||
    { echo "sg-eval mIoU $got, the pretraining run's final $want"; exit 1; }

# ---- cached ----
before=$(stat -c %Y.%i "$p/resnet.safetensors" "$p/mit-b0.safetensors")
g demo-pretrained > "$SG_TMP/out2" 2>&1 || { cat "$SG_TMP/out2"; exit 1; }
grep -q "is up to date" "$SG_TMP/out2" || { echo "not cached"; cat "$SG_TMP/out2"; exit 1; }
[ "$(stat -c %Y.%i "$p/resnet.safetensors" "$p/mit-b0.safetensors")" = "$before" ] || { echo "cached files rewritten"; exit 1; }

# ---- deterministic, and a corrupted file is rebuilt to the same bytes ----
sh "$top_srcdir/tools/demo-pretrain.sh" --bin "$bin" --data "$SG_TMP/data" --out "$SG_TMP/again" --with-mit \
    --set train.iterations=3 --set eval.interval=3 --set data.workers=1 > "$SG_TMP/out3" 2>&1 || { cat "$SG_TMP/out3"; exit 1; }
cmp -s "$p/SHA256SUMS" "$SG_TMP/again/SHA256SUMS" || { echo "two builds differ"; exit 1; }
printf 'x' | dd of="$p/resnet.safetensors" bs=1 seek=200 conv=notrunc 2>/dev/null
g demo-pretrained > "$SG_TMP/out4" 2>&1 || { cat "$SG_TMP/out4"; exit 1; }
grep -q "fails its checksum" "$SG_TMP/out4" || { echo "corruption not reported"; cat "$SG_TMP/out4"; exit 1; }
cmp -s "$p/resnet.safetensors" "$SG_TMP/again/resnet.safetensors" || { echo "not rebuilt to the same bytes"; exit 1; }
# Another schedule is another key: the stage runs again.
g PRETRAIN_SET="train.iterations=4 eval.interval=4 data.workers=1" demo-pretrained > "$SG_TMP/out5" 2>&1 ||
    { cat "$SG_TMP/out5"; exit 1; }
if grep -q "is up to date" "$SG_TMP/out5"; then echo "a changed schedule reused the cache"; exit 1; fi

# ---- the demo grid loads it; supervised-scratch does not ----
tiny="train.iterations=2 train.batch_size=3 data.crop=32 eval.interval=2 output.checkpoint_interval=2 data.workers=1"
for c in demo/12/supervised/seed0 demo/12/supervised-scratch/seed0; do
    g GRID_SET="$tiny" "$SG_TMP/runs/$c/result.json" > "$SG_TMP/out6" 2>&1 || { cat "$SG_TMP/out6"; exit 1; }
done
r=$SG_TMP/runs/demo/12
grep -q "^pretrained = $p/resnet.safetensors " "$r/supervised/seed0/config.resolved" ||
    { echo "the grid cell did not load the pretrained encoder"; grep pretrained "$r/supervised/seed0/config.resolved"; exit 1; }
grep -q '^pretrained =  *;' "$r/supervised-scratch/seed0/config.resolved" ||
    { echo "the scratch cell loaded an encoder"; grep pretrained "$r/supervised-scratch/seed0/config.resolved"; exit 1; }
grep -q '"method": "supervised-scratch"' "$r/supervised-scratch/seed0/result.json" ||
    { echo "run.name not in result.json"; exit 1; }
grep -q "^supervised-scratch,demo,12," "$SG_TMP/reports/demo/results.csv" || { echo "run.name not in results.csv"; exit 1; }
g grid-list-demo GRID_METHODS="supervised unimatch" | grep -q "^demo/12/supervised-scratch/seed0$" ||
    { echo "the default demo grid lacks supervised-scratch"; exit 1; }

# ---- AllSpark's demo loads the ResNet, demo-segformer.conf the MiT-B0; the loaders refuse the other file ----
sg_tiny_data
sg_tiny_train allspark --runs "$SG_TMP/asr" --set train.iterations=1 --set eval.interval=0 --set train.batch_size=2 --set train.batch_size_u=2 \
    --set model.pretrained="$p/resnet.safetensors" > "$SG_TMP/out6b" 2>&1 || { echo "allspark + resnet"; cat "$SG_TMP/out6b"; exit 1; }
sg_tiny_config=$top_srcdir/experiments/allspark/demo-segformer.conf
sg_tiny_train allspark --runs "$SG_TMP/as" --set train.iterations=1 --set eval.interval=0 --set train.batch_size=2 --set train.batch_size_u=2 \
    --set model.pretrained="$p/mit-b0.safetensors" > "$SG_TMP/out7" 2>&1 || { echo "allspark + mit-b0"; cat "$SG_TMP/out7"; exit 1; }
if sg_tiny_train allspark --runs "$SG_TMP/as2" --set train.batch_size=2 --set train.batch_size_u=2 \
    --set model.pretrained="$p/resnet.safetensors" > "$SG_TMP/out8" 2>&1; then
    echo "allspark loaded a ResNet file"; exit 1
fi
grep -q "resnet.safetensors" "$SG_TMP/out8" || { echo "the refusal does not name the file"; cat "$SG_TMP/out8"; exit 1; }
sg_tiny_config=
if sg_tiny_train supervised --runs "$SG_TMP/sup2" --set model.pretrained="$p/mit-b0.safetensors" > "$SG_TMP/out9" 2>&1; then
    echo "supervised loaded a MiT file"; exit 1
fi

# ---- sg-backbone refusals ----
if "$bin/tools/sg-backbone" --checkpoint "$p/SHA256SUMS" --out "$SG_TMP/x.safetensors" 2> "$SG_TMP/err1"; then
    echo "sg-backbone took a non-checkpoint"; exit 1
fi
grep -q "SHA256SUMS" "$SG_TMP/err1" || { echo "sg-backbone: error does not name the file"; cat "$SG_TMP/err1"; exit 1; }
[ ! -e "$SG_TMP/x.safetensors" ] || { echo "sg-backbone wrote a file on error"; exit 1; }
set +e
"$bin/tools/sg-backbone" --out "$SG_TMP/x.safetensors" 2>/dev/null
rc=$?
set -e
[ $rc -eq 2 ] || { echo "sg-backbone without --checkpoint: exit $rc, want 2"; exit 1; }
exit 0
