#!/bin/sh
# grid.sh: one cell of an experiment grid (a method x protocol x seed run),
# the data check before a grid, and the Slurm job-array script of a grid.
# reports/grid.mk drives it: make owns the grid (one target per run, whose
# output is the run's result.json, so `make -jN` runs cells in parallel and
# a finished cell is never run again); this script owns the command line of
# a cell, so the local grid and the Slurm script run the same commands.
#
#   tools/grid.sh cmd   [OPTIONS] CELL        print the trainer command of CELL
#   tools/grid.sh run   [OPTIONS] CELL...     run the cells (see below)
#   tools/grid.sh check [OPTIONS] DATASET     check the data of a grid; exit 1
#                                             and say what to download if absent
#   tools/grid.sh slurm [OPTIONS] --out FILE CELL...
#                                             write a Slurm job-array script,
#                                             one array task per cell
#
# A cell is DATASET/PROTOCOL/METHOD/seedK, the run directory under --runs
# (runs/<dataset>/<protocol>/<method>/seed<k>), e.g. demo/24/fixmatch/seed1. Its command is
#   BIN/experiments/M/M --config SRC/experiments/M/DATASET.conf
#     --seed-index I (K is the I-th seed of --seeds) --set data.* (the split
#     of PROTOCOL, see split_of) --set run.protocol=PROTOCOL
#     [--set model.pretrained=FILE] [--set S.K=V from --set]...
#     --runs RUNS --reports REPORTS --threads N --resume
# A METHOD named M-scratch (the demo's supervised-scratch) runs trainer M
# without the pretrained encoder: --set model.pretrained= --set run.name=M-scratch.
# Always --resume: the driver continues from the run's checkpoint when there
# is one and starts from iteration 0 when there is none (run.h), so a cell
# killed mid-way (Ctrl-C, a node lost, a Slurm time limit) resumes, and the
# same command serves a fresh cell.
#
# `run` appends to RUNS/CELL/grid.log a line "== grid: start UTC" and the
# command, then the trainer's output, then "== grid: done" or "== grid:
# failed (exit N)". A cell whose result.json exists is done and is skipped.
# A failed cell prints its log path and the log's last lines and is not done:
# a result.json this attempt wrote is removed, so the next attempt finishes
# the run (and appends its results.csv row) again.
#
# Options (defaults in parentheses):
#   --src DIR           the source tree: configs, splits (the folder above this script)
#   --bin DIR           the build tree: trainers and tools (.)
#   --runs DIR          run directories (runs)
#   --reports DIR       results.csv root (reports)
#   --seeds FILE        the seed list (SRC/splits/seeds)
#   --threads N         CPU threads per run (1)
#   --set S.K=V         an override for every run (repeatable)
#   --pretrained FILE   ImageNet backbone weights (model.pretrained), every cell
#   --demo-pretrained DIR  the demo's pretrained encoders (data/demo-pretrained,
#                       `make demo-pretrained`): a demo cell loads DIR/<the file
#                       its demo.conf names in model.pretrained>; '' none
#   --demo-root DIR     demo data (data/demo)
#   --demo-splits DIR   demo splits: <protocol>/ folders, val.txt and test.txt (SRC/splits/demo)
#   --voc-root DIR      VOC 2012 (data/voc)
#   --voc-splits DIR    VOC splits: unimatch/ and u2pl/ (SRC/splits/pascal)
#   --cityscapes-root DIR    Cityscapes (data/cityscapes)
#   --cityscapes-splits DIR  Cityscapes splits: unimatch/ (SRC/splits/cityscapes)
#   --protocols "LIST"  check: the protocols whose splits are checked
#   --out FILE          slurm: the script written (atomically)
#   --cpus N            slurm: --cpus-per-task and --threads of each task (8)
#   --slurm-opt OPT     slurm: an extra "#SBATCH OPT" line (repeatable)
#   --array-limit N     slurm: at most N tasks at once (--array=0-M%N)
#
# Exit status: 0 success, 1 a failed cell or absent data, 2 usage.
# Covered by tests/grid_resume.sh (run, check demo) and tests/slurm_script.sh
# (slurm, check voc).
set -u
LC_ALL=C
export LC_ALL

here=$(cd "$(dirname "$0")" && pwd)
src=$(cd "$here/.." && pwd)
bin=.
runs=runs
reports=reports
seeds=""
threads=1
sets=""
pretrained=""
demo_pretrained=data/demo-pretrained
demo_root=data/demo
demo_splits=""
voc_root=data/voc
voc_splits=""
cs_root=data/cityscapes
cs_splits=""
protocols=""
out=""
cpus=8
slurm_opts=""
array_limit=""

# The blended VOC protocols (labeled images drawn from all 10582 train_aug
# images) use U2PL's splits: bare VOC ids, masks in SegmentationClassAug/,
# and crop 513 (UniMatch's U2PL-split runs, training-logs/U2PL-Split-Size513; the experiments'
# voc.conf comments). Every other VOC protocol is a UniMatch split folder.
VOC_BLENDED="662 1323 2646 5291"
# sg-demo-data's class count (synth.h); the check needs it for the list kind.
DEMO_CLASSES=7

die() {
    echo "grid.sh: $*" >&2
    exit 2
}

# q ARG: ARG quoted for sh where it needs it (single quotes; ' as '\'').
q() {
    case "$1" in
    "" | *[!A-Za-z0-9_./=,:+@%-]*) printf "'%s'" "$(printf '%s' "$1" | sed "s/'/'\\\\''/g")" ;;
    *) printf '%s' "$1" ;;
    esac
}

# Append one word to a newline-separated list (values may hold blanks).
nl='
'
add() { # VAR VALUE
    eval "$1=\${$1}\$2\$nl"
}

cmd=${1:-}
[ $# -gt 0 ] && shift
case "$cmd" in
cmd | run | check | slurm) ;;
-h | --help | "")
    sed -n '2,/^set -u$/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//'
    [ -n "$cmd" ] && exit 0
    exit 2
    ;;
*) die "unknown command '$cmd' (cmd, run, check, slurm)" ;;
esac

while [ $# -gt 0 ]; do
    case "$1" in
    --src | --bin | --runs | --reports | --seeds | --threads | --set | --pretrained | --demo-pretrained | \
        --demo-root | --demo-splits | \
        --voc-root | --voc-splits | --cityscapes-root | --cityscapes-splits | --protocols | --out | --cpus | \
        --slurm-opt | --array-limit)
        [ $# -ge 2 ] || die "$1: missing value"
        v=$2
        case "$1" in
        --src) src=$v ;;
        --bin) bin=$v ;;
        --runs) runs=$v ;;
        --reports) reports=$v ;;
        --seeds) seeds=$v ;;
        --threads) threads=$v ;;
        --set) add sets "$v" ;;
        --pretrained) pretrained=$v ;;
        --demo-pretrained) demo_pretrained=$v ;;
        --demo-root) demo_root=$v ;;
        --demo-splits) demo_splits=$v ;;
        --voc-root) voc_root=$v ;;
        --voc-splits) voc_splits=$v ;;
        --cityscapes-root) cs_root=$v ;;
        --cityscapes-splits) cs_splits=$v ;;
        --protocols) protocols=$v ;;
        --out) out=$v ;;
        --cpus) cpus=$v ;;
        --slurm-opt) add slurm_opts "$v" ;;
        --array-limit) array_limit=$v ;;
        esac
        shift 2
        ;;
    --) shift; break ;;
    -*) die "unknown option $1" ;;
    *) break ;;
    esac
done
: "${seeds:=$src/splits/seeds}"
: "${demo_splits:=$src/splits/demo}"
: "${voc_splits:=$src/splits/pascal}"
: "${cs_splits:=$src/splits/cityscapes}"
case "$threads" in '' | *[!0-9]*) die "--threads $threads: expected a positive integer" ;; esac
case "$cpus" in '' | *[!0-9]*) die "--cpus $cpus: expected a positive integer" ;; esac

# seed_index K: the 0-based position of seed K in the seed list (the
# format of sg_seeds_read: one integer a line, '#' starts a comment).
seed_index() {
    [ -r "$seeds" ] || { echo "grid.sh: $seeds: cannot read the seed list" >&2; return 1; }
    sed -e 's/#.*//' "$seeds" | awk -v k="$1" '
        NF == 0 { next }
        { if ($1 + 0 == k + 0 && $1 ~ /^[0-9]+$/) { print n + 0; found = 1; exit } n++ }
        END { if (!found) exit 1 }' ||
        { echo "grid.sh: seed $1 is not in $seeds" >&2; return 1; }
}

# split_of DATASET PROTOCOL: the --set arguments of the protocol's data, one a line.
split_of() {
    case "$1" in
    demo)
        echo "data.root=$demo_root"
        echo "data.split=$demo_splits/$2"
        echo "data.val=$demo_splits/val.txt"
        echo "data.test=$demo_splits/test.txt"
        ;;
    voc)
        echo "data.root=$voc_root"
        case " $VOC_BLENDED " in
        *" $2 "*)
            echo "data.split=$voc_splits/u2pl/$2"
            echo "data.list_style=voc_ids"
            echo "data.crop=513"
            ;;
        *) echo "data.split=$voc_splits/unimatch/$2" ;;
        esac
        echo "data.val=$voc_splits/unimatch/val.txt"
        ;;
    cityscapes)
        echo "data.root=$cs_root"
        echo "data.split=$cs_splits/unimatch/$2"
        echo "data.val=$cs_splits/unimatch/val.txt"
        ;;
    *)
        echo "grid.sh: dataset '$1': expected demo, voc or cityscapes" >&2
        return 1
        ;;
    esac
}

# demo_backbone TRAINER: the file name of the encoder TRAINER's demo.conf
# loads (its model.pretrained, else experiments/demo.conf's).
demo_backbone() {
    for f in "$src/experiments/$1/demo.conf" "$src/experiments/demo.conf"; do
        v=$(sed -n 's/^pretrained *= *\([^ ;]*\).*/\1/p' "$f" | tail -n 1)
        [ -n "$v" ] && { basename "$v"; return 0; }
    done
    echo "grid.sh: experiments/$1/demo.conf names no model.pretrained" >&2
    return 1
}

# cell_cmd CELL: the command of CELL, one argument a line (no argument holds a
# newline: paths and values come from the options).
cell_cmd() {
    c=$1
    old_ifs=$IFS
    IFS=/
    set -- $c
    IFS=$old_ifs
    [ $# = 4 ] || { echo "grid.sh: cell '$c': expected DATASET/PROTOCOL/METHOD/seedK" >&2; return 1; }
    ds=$1 proto=$2 m=$3 k=${4#seed}
    case "$k" in '' | *[!0-9]*) echo "grid.sh: cell '$c': expected seed<K>" >&2; return 1 ;; esac
    t=${m%-scratch}
    case "$t" in '' | *[!a-z0-9_]*) echo "grid.sh: cell '$c': bad method name" >&2; return 1 ;; esac
    idx=$(seed_index "$k") || return 1
    data=$(split_of "$ds" "$proto") || return 1
    if [ "$t" != "$m" ]; then
        data="$data${nl}model.pretrained=${nl}run.name=$m"
    elif [ "$ds" = demo ] && [ -z "$pretrained" ] && [ -z "$demo_pretrained" ]; then
        data="$data${nl}model.pretrained="
    elif [ "$ds" = demo ] && [ -z "$pretrained" ]; then
        b=$(demo_backbone "$t") || return 1
        data="$data${nl}model.pretrained=$demo_pretrained/$b"
    fi
    echo "$bin/experiments/$t/$t"
    echo "--config"
    echo "$src/experiments/$t/$ds.conf"
    echo "--seed-index"
    echo "$idx"
    printf '%s\n' "$data" | while IFS= read -r s; do
        echo "--set"
        echo "$s"
    done
    echo "--set"
    echo "run.protocol=$proto"
    echo "--set"
    echo "run.seeds=$seeds"
    if [ -n "$pretrained" ] && [ "$t" = "$m" ]; then
        echo "--set"
        echo "model.pretrained=$pretrained"
    fi
    printf '%s' "$sets" | while IFS= read -r s; do
        echo "--set"
        echo "$s"
    done
    printf '%s\n' --runs "$runs" --reports "$reports" --threads "$threads" --resume
}

# quoted CELL: the command of CELL as one sh-quoted line.
quoted() {
    lines=$(cell_cmd "$1") || return 1
    line=""
    while IFS= read -r a; do
        line="$line${line:+ }$(q "$a")"
    done <<EOF
$lines
EOF
    printf '%s\n' "$line"
}

now() { date -u +%Y-%m-%dT%H:%M:%SZ; }

run_cell() {
    c=$1
    dir=$runs/$c
    log=$dir/grid.log
    if [ -f "$dir/result.json" ]; then
        echo "grid: $c: done ($dir/result.json)"
        return 0
    fi
    line=$(quoted "$c") || return 1
    mkdir -p "$dir" || { echo "grid: FAILED $c: cannot create $dir" >&2; return 1; }
    { echo "== grid: start $(now) on $(uname -n)"; echo "$line"; } >>"$log" ||
        { echo "grid: FAILED $c: cannot write $log" >&2; return 1; }
    echo "  RUN      $c"
    eval "$line" >>"$log" 2>&1
    rc=$?
    if [ $rc = 0 ] && [ ! -f "$dir/result.json" ]; then
        echo "== grid: the trainer exited 0 but wrote no $dir/result.json (does the configuration name this cell?)" >>"$log"
        rc=1
    fi
    if [ $rc != 0 ]; then
        # Not done: a result.json of this attempt (there was none before it;
        # written before a later step failed) would mark it so.
        rm -f "$dir/result.json"
        echo "== grid: failed (exit $rc) $(now)" >>"$log"
        {
            echo "grid: FAILED $c (exit $rc); log: $log"
            tail -n 12 "$log" | sed 's/^/  | /'
        } >&2
        return 1
    fi
    echo "== grid: done $(now)" >>"$log"
    return 0
}

# ---- data checks ------------------------------------------------------------------
# check_split KIND ROOT SPLITDIR VALLIST [sg-data options]: 0 when every file
# of the split and the val list is present (no decoding: the check runs
# before every grid and must be quick; `sg-data check` without --no-decode
# validates the pixels).
check_split() {
    kind=$1 root=$2 split=$3 val=$4
    shift 4
    [ -f "$split/labeled.txt" ] || { echo "  missing split: $split/labeled.txt"; return 1; }
    [ -f "$val" ] || { echo "  missing list: $val"; return 1; }
    [ -d "$root" ] || { echo "  missing folder: $root"; return 1; }
    res=$("$bin/tools/sg-data" check --dataset "$kind" --root "$root" --split "$split" --list "$val" --no-decode "$@" 2>&1)
    st=$?
    if [ $st != 0 ]; then
        printf '%s\n' "$res" | head -n 3 | sed 's/^/  /'
        return 1
    fi
}

voc_help() {
    cat <<EOF
PASCAL VOC 2012 is absent or incomplete under $voc_root.
Download it with \`make fetch-voc VOC_ROOT=$voc_root\` (tools/fetch-voc.sh), or by hand:
  1. VOC2012 trainval (1.9 GB):
       http://host.robots.ox.ac.uk/pascal/VOC/voc2012/VOCtrainval_11-May-2012.tar
       (MD5 6cd6e144f989b92b3379bac3b3de84fd, as torchvision.datasets.VOCSegmentation pins it)
  2. the SBD-augmented masks, SegmentationClassAug.zip (train_aug 10582 + val 1449 masks):
       https://www.dropbox.com/s/oeu149j8qtbs1x0/SegmentationClassAug.zip?dl=1
       (mirror: http://cs.jhu.edu/~cxliu/data/SegmentationClassAug.zip)
Expected layout (VOC_ROOT = the VOC2012 folder of the tar):
  VOC_ROOT/JPEGImages/<id>.jpg
  VOC_ROOT/SegmentationClassAug/<id>.png      U2PL splits (bare ids)
  VOC_ROOT/SegmentationClass -> SegmentationClassAug
                                              UniMatch splits name SegmentationClass/,
                                              UniMatch's SBD-augmented masks
Splits: \`make fetch-splits\` (splits/pascal/unimatch, splits/pascal/u2pl).
EOF
}

cityscapes_help() {
    cat <<EOF
Cityscapes is absent or incomplete under $cs_root.
It needs a (free) account: https://www.cityscapes-dataset.com/downloads/
  1. leftImg8bit_trainvaltest.zip (11 GB)  https://www.cityscapes-dataset.com/file-handling/?packageID=3
  2. gtFine_trainvaltest.zip (241 MB)      https://www.cityscapes-dataset.com/file-handling/?packageID=1
Unzip both into CITYSCAPES_ROOT, then write the 19-class train-id masks with the
official scripts (pip install cityscapesscripts):
  CITYSCAPES_DATASET=CITYSCAPES_ROOT csCreateTrainIdLabelImgs
Expected layout:
  CITYSCAPES_ROOT/leftImg8bit/{train,val}/<city>/<frame>_leftImg8bit.png
  CITYSCAPES_ROOT/gtFine/{train,val}/<city>/<frame>_gtFine_labelTrainIds.png
Splits: \`make fetch-splits\` (splits/cityscapes/unimatch).
EOF
}

pretrained_help() {
    cat <<EOF
The published protocols start from an ImageNet ResNet-101 with the deep stem
(UniMatch's pretrained/resnet101.pth, linked from its README, "Pretrained
Backbone"). Convert it once and pass it as PRETRAINED:
  /usr/bin/python3 tools/pth2safetensors.py resnet101.pth resnet101.safetensors
  make reproduce-... PRETRAINED=\$PWD/resnet101.safetensors
EOF
}

check_data() {
    ds=$1
    [ -x "$bin/tools/sg-data" ] || { echo "grid.sh: $bin/tools/sg-data: not built" >&2; return 1; }
    bad=0
    case "$ds" in
    demo)
        if [ -z "$protocols" ]; then
            for f in "$demo_splits"/*/labeled.txt; do
                [ -f "$f" ] && protocols="$protocols $(basename "$(dirname "$f")")"
            done
        fi
        [ -n "$protocols" ] || { echo "grid: no protocol folders in $demo_splits"; return 1; }
        for p in $protocols; do
            check_split list "$demo_root" "$demo_splits/$p" "$demo_splits/val.txt" --list "$demo_splits/test.txt" \
                --classes $DEMO_CLASSES >/dev/null ||
                bad=1
        done
        [ $bad = 0 ] || echo "grid: the demo data is absent or incomplete under $demo_root"
        ;;
    voc | cityscapes)
        [ -n "$protocols" ] || die "check $ds: --protocols is required"
        for p in $protocols; do
            set -- $(split_of "$ds" "$p" | sed -n 's/^data\.split=//p')
            if [ "$ds" = voc ]; then
                check_split voc "$voc_root" "$1" "$voc_splits/unimatch/val.txt" || bad=1
            else
                check_split cityscapes "$cs_root" "$1" "$cs_splits/unimatch/val.txt" || bad=1
            fi
            [ $bad = 0 ] || break
        done
        if [ $bad != 0 ]; then
            if [ "$ds" = voc ]; then voc_help; else cityscapes_help; fi
        fi
        if [ -z "$pretrained" ] || [ ! -r "$pretrained" ]; then
            echo "grid: PRETRAINED='$pretrained': not a readable file."
            pretrained_help
            bad=1
        fi
        ;;
    *) die "check: dataset '$ds': expected demo, voc or cityscapes" ;;
    esac
    return $bad
}

# ---- the Slurm script -------------------------------------------------------------------
abspath() { # DIR (created when absent)
    mkdir -p "$1" && (cd "$1" && pwd)
}

write_slurm() {
    [ -n "$out" ] || die "slurm: --out FILE is required"
    [ $# -gt 0 ] || die "slurm: no cells"
    for c in "$@"; do cell_cmd "$c" >/dev/null || return 1; done
    # Absolute paths: a task runs wherever Slurm starts it.
    src=$(abspath "$src") && bin=$(abspath "$bin") && runs=$(abspath "$runs") &&
        reports=$(abspath "$reports") || return 1
    case "$seeds" in /*) ;; *) seeds=$(pwd)/$seeds ;; esac
    for v in demo_root demo_splits voc_root voc_splits cs_root cs_splits pretrained; do
        eval "p=\$$v"
        case "$p" in /* | "") ;; *) eval "$v=\$(pwd)/\$p" ;; esac
    done
    threads=$cpus
    n=$#
    outdir=$(dirname "$out")
    mkdir -p "$outdir" || return 1
    tmp="$out.tmp.$$"
    {
        echo "#!/bin/bash"
        echo "# A Slurm job array of $n semiseg runs, written by tools/grid.sh on $(now)."
        echo "# Submit with: sbatch $out   (again after a failure or a time limit: done runs"
        echo "# are skipped, the others resume from their checkpoint with --resume)."
        echo "# Each task's log: <run dir>/grid.log; SG_GRID_DRY_RUN=1 prints the command instead."
        echo "#SBATCH --job-name=semiseg-grid"
        echo "#SBATCH --array=0-$((n - 1))${array_limit:+%$array_limit}"
        echo "#SBATCH --cpus-per-task=$cpus"
        echo "#SBATCH --output=$runs/slurm-%A_%a.out"
        printf '%s' "$slurm_opts" | while IFS= read -r o; do echo "#SBATCH $o"; done
        echo "set -u"
        echo 'task=${SLURM_ARRAY_TASK_ID:?not a Slurm array task: submit with sbatch}'
        echo 'case $task in'
        i=0
        for c in "$@"; do
            line=$(quoted "$c") || exit 1
            echo "$i) run=$(q "$runs/$c")"
            echo "   set -- $line ;;"
            i=$((i + 1))
        done
        echo "*) echo \"task \$task: out of range 0..$((n - 1))\" >&2; exit 2 ;;"
        echo "esac"
        cat <<'EOF'
if [ -f "$run/result.json" ]; then
    echo "$run: done; skipping"
    exit 0
fi
if [ "${SG_GRID_DRY_RUN:-0}" = 1 ]; then
    printf '%q ' "$@"
    echo
    exit 0
fi
mkdir -p "$run" || exit 1
log=$run/grid.log
{ echo "== grid: start $(date -u +%Y-%m-%dT%H:%M:%SZ) on $(uname -n) (Slurm ${SLURM_ARRAY_JOB_ID:-?}_$task)"; printf '%q ' "$@"; echo; } >>"$log"
echo "$run: running; log: $log"
"$@" >>"$log" 2>&1
rc=$?
if [ $rc = 0 ] && [ ! -f "$run/result.json" ]; then rc=1; fi
if [ $rc != 0 ]; then
    echo "== grid: failed (exit $rc) $(date -u +%Y-%m-%dT%H:%M:%SZ)" >>"$log"
    echo "$run: FAILED (exit $rc); log: $log" >&2
    tail -n 12 "$log" >&2
    exit $rc
fi
echo "== grid: done $(date -u +%Y-%m-%dT%H:%M:%SZ)" >>"$log"
EOF
    } >"$tmp" || { rm -f "$tmp"; return 1; }
    chmod +x "$tmp" && mv "$tmp" "$out" || { rm -f "$tmp"; return 1; }
    echo "grid: wrote $out ($n array tasks); submit with: sbatch $out"
}

case "$cmd" in
cmd)
    [ $# = 1 ] || die "cmd: expected one cell"
    quoted "$1"
    ;;
run)
    [ $# -gt 0 ] || die "run: no cells"
    st=0
    for c in "$@"; do run_cell "$c" || st=1; done
    exit $st
    ;;
check)
    [ $# = 1 ] || die "check: expected one dataset"
    check_data "$1"
    ;;
slurm)
    write_slurm "$@"
    ;;
esac
