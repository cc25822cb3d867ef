# Sourced by the shell tests: strict mode, C locale, a private temp dir that
# is removed on exit (tests never write outside it, so `make -j check` is safe).
set -eu
LC_ALL=C
export LC_ALL
: "${top_srcdir:=$(cd "$(dirname "$0")/.." && pwd)}"
SG_TMP=$(mktemp -d "${TMPDIR:-/tmp}/semiseg-test.XXXXXX")
trap 'rm -rf "$SG_TMP"' EXIT

# sg_tiny_data: a 40-image synthetic set with a 12-labeled split, 6 val and
# 4 test images under $SG_TMP. sg_tiny_train M ARGS...: trainer M on its demo.conf
# over that set (test set included), from scratch (no pretrained encoder:
# tests/pretrain.sh loads one), 6 iterations of batch 3 (+3) on 32-pixel
# crops, evaluated every 3 and checkpointed every 4, seed 0; ARGS come after
# (a later --set wins); $sg_tiny_config, when set, is the config file instead
# of demo.conf. Both need $bin (the build directory).
sg_tiny_data() {
    "$bin/tools/sg-demo-data" --out "$SG_TMP/data" --splits "$SG_TMP/splits" --train 40 --val 6 --test 4 --labeled 12 >/dev/null
}
sg_tiny_train() {
    sg_m=$1
    shift
    "$bin/experiments/$sg_m/$sg_m" --config "${sg_tiny_config:-$top_srcdir/experiments/$sg_m/demo.conf}" \
        --set data.root="$SG_TMP/data" --set data.split="$SG_TMP/splits/12" --set data.val="$SG_TMP/splits/val.txt" \
        --set data.test="$SG_TMP/splits/test.txt" --set model.pretrained= --set run.seeds="$top_srcdir/splits/seeds" --set train.iterations=6 --set train.batch_size=3 \
        --set train.batch_size_u=3 --set data.crop=32 --set eval.interval=3 --set output.checkpoint_interval=4 \
        --set data.workers=2 --reports "$SG_TMP/reports" --seed 0 "$@"
}

# sg_ckpt_same A B: the checkpoints hold the same training state, byte for
# byte, but for the cost metadata (cost_*: the seconds of two identical runs
# differ). A safetensors file is an 8-byte little-endian header length, the
# JSON header (keys sorted, padded with blanks), then the tensor data.
sg_ckpt_strip_() {
    sg_n=$(od -An -tu8 -N8 "$1" | tr -d ' ')
    head -c $((sg_n + 8)) "$1" | tail -c "$sg_n" | sed -e 's/"cost_[a-z_]*":"[^"]*",\{0,1\}//g' -e 's/ *$//'
    echo
    tail -c +$((sg_n + 9)) "$1"
}
sg_ckpt_same() {
    sg_ckpt_strip_ "$1" > "$SG_TMP/.ckpt_a" && sg_ckpt_strip_ "$2" > "$SG_TMP/.ckpt_b" &&
        cmp -s "$SG_TMP/.ckpt_a" "$SG_TMP/.ckpt_b"
}

# sg_kill_resume RUNS K FROM TOTAL REF [ARGS...]: the calling test's `train`
# function (which takes --runs and --set) with ARGS, run under RUNS and
# killed by SIGKILL after iteration K, then resumed: it must resume at
# iteration FROM of TOTAL and end with the training state of checkpoint REF
# (an uninterrupted run's), byte for byte. RUNS must hold one run.
sg_kill_resume() {
    sg_runs=$1 sg_kill=$2 sg_from=$3 sg_total=$4 sg_ref=$5
    shift 5
    set +e
    train --runs "$sg_runs" --set debug.kill_at_iter="$sg_kill" "$@" 2> "$SG_TMP/.log_kill"
    sg_rc=$?
    set -e
    [ $sg_rc = 137 ] || { echo "expected death by SIGKILL (137), got $sg_rc"; cat "$SG_TMP/.log_kill"; exit 1; }
    train --runs "$sg_runs" --resume "$@" 2> "$SG_TMP/.log_resume" || { cat "$SG_TMP/.log_resume"; exit 1; }
    grep -q "resuming .* at iteration $sg_from of $sg_total" "$SG_TMP/.log_resume" ||
        { cat "$SG_TMP/.log_resume"; exit 1; }
    sg_ckpt_same "$sg_ref" "$(ls -d "$sg_runs"/*/*/*/seed*)/ckpt/last.safetensors" ||
        { echo "resumed checkpoint differs from the uninterrupted run's"; exit 1; }
}

# sg_refused KEY=VALUE PATTERN: `train` with --set KEY=VALUE must fail with
# a message that contains PATTERN.
sg_refused() {
    if train --runs "$SG_TMP/refused" --set "$1" 2> "$SG_TMP/.log_refused"; then
        echo "$1 accepted"; exit 1
    fi
    grep -q "$2" "$SG_TMP/.log_refused" || { cat "$SG_TMP/.log_refused"; exit 1; }
}

# sg_eval_same RUN WEIGHTS: tools/sg-eval rebuilds the network of RUN's last
# checkpoint from its metadata alone, loads its WEIGHTS (model or ema; every
# other set of the file skipped) and gives the run's final validation mIoU
# on sg_tiny_data's val list (to sg-eval's two decimals).
sg_eval_same() {
    "$bin/tools/sg-eval" --checkpoint "$1/ckpt/last.safetensors" --weights "$2" --dataset list \
        --root "$SG_TMP/data" --list "$SG_TMP/splits/val.txt" --classes 7 > "$SG_TMP/.eval" 2>&1 ||
        { cat "$SG_TMP/.eval"; exit 1; }
    sg_want=$(sed -n 's/^  "final_miou": \(.*\),$/\1/p' "$1/result.json")
    sg_got=$(sed -n 's/^mIoU //p' "$SG_TMP/.eval")
    awk -v a="$sg_want" -v b="$sg_got" 'BEGIN { d = a - b; exit !(d < 0.006 && d > -0.006) }' ||
        { echo "sg-eval mIoU $sg_got, the run's final $sg_want ($1)"; exit 1; }
}
