#!/bin/sh
# The VOC grid's Slurm job array (SCHEDULER=slurm, reports/grid.mk +
# tools/grid.sh) and the VOC data path, with no data, network or GPU: a
# fake VOC root (empty files; the pre-grid check does not decode), fake split
# lists for the nine published protocols, a seed list 10 20 30, and fake
# trainers that record their arguments. Checked: `make reproduce-voc` with
# absent data or without PRETRAINED fails and says what to download; with
# the fake data it writes a script that `bash -n` accepts, whose array size
# is the number of runs (5 methods x 9 protocols x 3 seeds) and whose tasks
# are exactly those runs, each with its command line (config, seed index,
# split family: UniMatch for 92..1464, U2PL ids + crop 513 for 662..5291)
# and --resume; a task runs its trainer once and, its result.json written,
# is skipped when submitted again; a failing task reports its log and stays
# not done; tools/fetch-voc.sh refuses an archive without a pinned SHA-256
# and one whose hash differs from its pin.
. "${top_srcdir:-.}/tests/setup.sh"
src=$(cd "$top_srcdir" && pwd)
bin=$(cd "${top_builddir:-.}" && pwd)
command -v bash >/dev/null 2>&1 || { echo "bash not found: skipped"; exit 77; }
make --version 2>/dev/null | grep -q "GNU Make" || { echo "GNU make not found: skipped"; exit 77; }
unset MAKEFLAGS MFLAGS MAKELEVEL MAKEOVERRIDES
T=$SG_TMP
methods="supervised meanteacher cutmixseg fixmatch unimatch"
classic="92 183 366 732 1464"
blended="662 1323 2646 5291"

# Fake trainers: print their arguments, write the result.json of the run
# they name (seed = line <index + 1> of the seed list), and fail for unimatch.
mkdir -p "$T/bin/tools"
ln -s "$bin/tools/sg-data" "$T/bin/tools/sg-data"
for m in $methods; do
    mkdir -p "$T/bin/experiments/$m"
    cat > "$T/bin/experiments/$m/$m" <<'EOF'
#!/bin/sh
echo "fake trainer: $*"
m=$(basename "$0")
[ "$m" = unimatch ] && exit 3
while [ $# -gt 0 ]; do
    case "$1" in
    --runs) runs=$2; shift ;;
    --seed-index) i=$2; shift ;;
    --set) case "$2" in run.protocol=*) p=${2#*=} ;; run.seeds=*) seeds=${2#*=} ;; esac; shift ;;
    esac
    shift
done
d=$runs/voc/$p/$m/seed$(sed -n "$((i + 1))p" "$seeds")
mkdir -p "$d" && echo '{}' > "$d/result.json"
EOF
    chmod +x "$T/bin/experiments/$m/$m"
done

voc=$T/voc
mkdir -p "$voc/JPEGImages" "$voc/SegmentationClass" "$voc/SegmentationClassAug"
for id in a b c; do touch "$voc/JPEGImages/$id.jpg" "$voc/SegmentationClass/$id.png" "$voc/SegmentationClassAug/$id.png"; done
sp=$T/splits/pascal
for p in $classic; do
    mkdir -p "$sp/unimatch/$p"
    echo "JPEGImages/a.jpg SegmentationClass/a.png" > "$sp/unimatch/$p/labeled.txt"
    echo "JPEGImages/b.jpg SegmentationClass/b.png" > "$sp/unimatch/$p/unlabeled.txt"
done
echo "JPEGImages/c.jpg SegmentationClass/c.png" > "$sp/unimatch/val.txt"
for p in $blended; do
    mkdir -p "$sp/u2pl/$p"
    echo a > "$sp/u2pl/$p/labeled.txt"
    echo b > "$sp/u2pl/$p/unlabeled.txt"
done
printf '10\n20\n30\n' > "$T/seeds"
touch "$T/r101.safetensors"
g() {
    make -f "$src/reports/grid.mk" srcdir="$src" GRID_BIN="$T/bin" RUNS_DIR="$T/runs" REPORTS_DIR="$T/reports" \
        DATA_DIR="$T/data" VOC_SPLITS="$sp" GRID_SEEDS_FILE="$T/seeds" GRID_METHODS="$methods" GRID_SET= \
        GRID_THREADS=1 VOC_PROTOCOLS="$classic $blended" SCHEDULER=slurm "$@"
}
script=$T/runs/voc/grid.sbatch

# ---- absent data, absent weights ----
mkdir "$T/empty"
if g reproduce-voc VOC_ROOT="$T/empty" PRETRAINED="$T/r101.safetensors" > "$T/out" 2>&1; then
    echo "reproduce-voc accepted an empty VOC_ROOT"; cat "$T/out"; exit 1
fi
for s in http://host.robots.ox.ac.uk/pascal/VOC/voc2012/VOCtrainval_11-May-2012.tar SegmentationClassAug.zip \
    "VOC_ROOT/JPEGImages/<id>.jpg" "make fetch-voc"; do
    grep -q -F "$s" "$T/out" || { echo "the download instructions lack '$s'"; cat "$T/out"; exit 1; }
done
if g reproduce-voc VOC_ROOT="$voc" PRETRAINED= > "$T/out" 2>&1; then echo "reproduce-voc ran without PRETRAINED"; exit 1; fi
grep -q "PRETRAINED=''" "$T/out" || { cat "$T/out"; exit 1; }
[ ! -e "$script" ] || { echo "a script was written for absent data"; exit 1; }

# ---- the script ----
g reproduce-voc VOC_ROOT="$voc" PRETRAINED="$T/r101.safetensors" SLURM_CPUS=4 \
    SLURM_OPTS="--time=48:00:00 --gres=gpu:1" > "$T/out" 2>&1 || { cat "$T/out"; exit 1; }
n=$(($(echo $methods | wc -w) * $(echo $classic $blended | wc -w) * 3))
grep -q "wrote $script ($n array tasks)" "$T/out" || { cat "$T/out"; exit 1; }
bash -n "$script" || { echo "bash -n rejects the script"; exit 1; }
for l in "--array=0-$((n - 1))" "--cpus-per-task=4" "--time=48:00:00" "--gres=gpu:1" "--output=$T/runs/slurm-%A_%a.out"; do
    grep -q -x -F -- "#SBATCH $l" "$script" || { echo "the script lacks #SBATCH $l"; exit 1; }
done
i=0
: > "$T/cmds"
while [ $i -lt $n ]; do
    SLURM_ARRAY_TASK_ID=$i SG_GRID_DRY_RUN=1 bash "$script" >> "$T/cmds" || { echo "task $i failed"; exit 1; }
    i=$((i + 1))
done
[ "$(sort -u "$T/cmds" | wc -l)" = $n ] || { echo "not $n distinct commands"; exit 1; }
# Every run exactly once: (method, protocol, seed index) over the whole grid.
sed -n 's|^.*/experiments/\([a-z]*\)/[a-z]* .*--seed-index \([0-9]\) .*run\.protocol=\([0-9]*\) .*$|\1 \3 \2|p' "$T/cmds" |
    sort > "$T/got"
for m in $methods; do for p in $classic $blended; do for s in 0 1 2; do echo "$m $p $s"; done; done; done | sort > "$T/want"
cmp -s "$T/got" "$T/want" || { echo "the tasks are not the grid's runs"; diff "$T/want" "$T/got" | head; exit 1; }
grep -v -- " --runs $T/runs --reports $T/reports --threads 4 --resume $" "$T/cmds" && { echo "a task without --resume"; exit 1; }
want="$T/bin/experiments/unimatch/unimatch --config $src/experiments/unimatch/voc.conf --seed-index 1"
want="$want --set data.root=$voc --set data.split=$sp/u2pl/662 --set data.list_style=voc_ids --set data.crop=513"
want="$want --set data.val=$sp/unimatch/val.txt --set run.protocol=662 --set run.seeds=$T/seeds"
want="$want --set model.pretrained=$T/r101.safetensors --runs $T/runs --reports $T/reports --threads 4 --resume "
grep -q -x -F -- "$want" "$T/cmds" || { echo "unimatch 662 seed 20:"; grep "unimatch .*run.protocol=662 " "$T/cmds"; exit 1; }
grep "run.protocol=92 " "$T/cmds" | grep -v -q "data.split=$sp/unimatch/92 " && { echo "92: not the UniMatch split"; exit 1; }
grep "run.protocol=92 " "$T/cmds" | grep -q -e list_style -e data.crop && { echo "92 with the blended settings"; exit 1; }
grep "run.protocol=1464 " "$T/cmds" | grep -q "data.split=$sp/unimatch/1464 " || { echo "1464 split"; exit 1; }
if SLURM_ARRAY_TASK_ID=$n bash "$script" > "$T/out" 2>&1; then echo "task $n accepted"; exit 1; fi
if env -u SLURM_ARRAY_TASK_ID bash "$script" > "$T/out" 2>&1; then echo "ran outside Slurm"; exit 1; fi

# ---- a task runs once, then is skipped; a failing task is not done ----
run0=$T/runs/voc/92/supervised/seed10
SLURM_ARRAY_TASK_ID=0 bash "$script" > "$T/out" 2>&1 || { echo "task 0 failed"; cat "$T/out"; exit 1; }
[ -f "$run0/result.json" ] || { echo "task 0 is not voc/92/supervised/seed10"; cat "$T/out"; exit 1; }
grep -q "^fake trainer: .* --resume$" "$run0/grid.log" || { cat "$run0/grid.log"; exit 1; }
SLURM_ARRAY_TASK_ID=0 bash "$script" > "$T/out" 2>&1 || { echo "task 0 resubmitted failed"; exit 1; }
grep -q "$run0: done; skipping" "$T/out" || { cat "$T/out"; exit 1; }
[ "$(grep -c '^fake trainer' "$run0/grid.log")" = 1 ] || { echo "a done task ran again"; exit 1; }
k=$(grep -n "unimatch .*run.protocol=92 " "$T/cmds" | head -n 1 | cut -d: -f1)
if SLURM_ARRAY_TASK_ID=$((k - 1)) bash "$script" > "$T/out" 2>&1; then echo "a failing task succeeded"; exit 1; fi
grep -q "voc/92/unimatch/seed10: FAILED (exit 3); log: $T/runs/voc/92/unimatch/seed10/grid.log" "$T/out" ||
    { cat "$T/out"; exit 1; }
[ ! -e "$T/runs/voc/92/unimatch/seed10/result.json" ] || { echo "a failed task is done"; exit 1; }

# ---- fetch-voc: the pinned values refuse other files; no pin, no install ----
mkdir "$T/arch"
echo "not the VOC tar" > "$T/arch/VOCtrainval_11-May-2012.tar"
echo "an archive" > "$T/arch/SegmentationClassAug.zip"
if env -u VOC_TAR_SHA256 -u VOC_AUG_SHA256 sh "$src/tools/fetch-voc.sh" --dest "$T/fv0" --from-dir "$T/arch" > "$T/out" 2>&1; then
    echo "fetch-voc installed archives that do not match its pins"; exit 1
fi
grep -q "SegmentationClassAug.zip: SHA-256 .*, pinned 63b2c2e40badf93e7c4a91e2c5e6dd2eb68ace6a639736f9a2447b446ec2a13d: refused" "$T/out" ||
    { cat "$T/out"; exit 1; }
[ ! -e "$T/fv0/JPEGImages" ] || { echo "fetch-voc installed something"; exit 1; }
if VOC_TAR_SHA256= VOC_AUG_SHA256= sh "$src/tools/fetch-voc.sh" --dest "$T/fv" --from-dir "$T/arch" > "$T/out" 2>&1; then
    echo "fetch-voc installed unpinned archives"; exit 1
fi
grep -q "SegmentationClassAug.zip: NOT PINNED" "$T/out" || { cat "$T/out"; exit 1; }
grep -q "$(sha256sum < "$T/arch/SegmentationClassAug.zip" | cut -d' ' -f1)" "$T/out" || { echo "no SHA-256 printed"; exit 1; }
grep -q "VOCtrainval_11-May-2012.tar: MD5 .*published 6cd6e144f989b92b3379bac3b3de84fd" "$T/out" || { cat "$T/out"; exit 1; }
[ ! -e "$T/fv/JPEGImages" ] && [ ! -e "$T/fv/SegmentationClassAug" ] || { echo "fetch-voc installed something"; exit 1; }
if VOC_AUG_SHA256=0000 sh "$src/tools/fetch-voc.sh" --dest "$T/fv2" --from-dir "$T/arch" > "$T/out" 2>&1; then
    echo "fetch-voc accepted a wrong pin"; exit 1
fi
grep -q "SegmentationClassAug.zip: SHA-256 .*pinned 0000: refused" "$T/out" || { cat "$T/out"; exit 1; }
exit 0
