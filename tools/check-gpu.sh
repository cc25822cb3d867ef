#!/bin/sh
# check-gpu.sh: the one prepared GPU check (make check-gpu). Builds semiseg
# with --with-cuda in its own directory, then on the first CUDA device:
#   1. tests/test_cuda and tests/test_backend_ops (every kernel-table entry on
#      CUDA against the reference CPU backend, forward and backward, and each
#      case twice on the GPU: bitwise repeatable);
#   2. 20 iterations of every trainer on the demo data, on the GPU and on the
#      CPU reference backend: the losses agree within LOSS_RTOL;
#   3. UniMatch on the GPU twice: identical checkpoints and losses;
#   4. UniMatch on the GPU killed at iteration 10 and resumed: the
#      checkpoint equals the uninterrupted run's;
#   5. a GPU checkpoint resumed on the CPU runs to the end;
#   6. make bench-gpu (bench/run_bench_gpu.sh) with 5 timed steps.
# Prints one line per check and a summary; exits non-zero on any failure.
# Usage: tools/check-gpu.sh SRCDIR BUILDDIR
set -u
src=$(cd "${1:-.}" && pwd)
build=${2:-$src/build-gpu}
# Loss agreement after 20 SGD steps: the GPU sums in other orders (cuDNN
# algorithms, tree reductions), a few ulp per op; 20 steps of SGD at lr 0.03
# on a from-scratch model amplify that, so a loose relative bound. A real
# bug (a wrong gradient) moves the losses by far more within a few steps.
LOSS_RTOL=${LOSS_RTOL:-0.02}
# Where the "GPU" runs go: cuda (default), or cpu to rehearse this script on
# a machine without a GPU (the kernel-table and bench steps then fail).
DEVICE=${CHECK_GPU_DEVICE:-cuda}
pass=0 fail=0
ok() { pass=$((pass + 1)); echo "PASS: $*"; }
bad() { fail=$((fail + 1)); echo "FAIL: $*"; }

mkdir -p "$build" || exit 1
build=$(cd "$build" && pwd)
if [ -f "$src/config.status" ]; then
    # An in-tree build: autoconf builds a second configuration only from an
    # unconfigured tree, so from a copy of the sources.
    mkdir -p "$build/src"
    (cd "$src" && git ls-files -co --exclude-standard | tar -cf - -T -) | (cd "$build/src" && tar -xf -) || exit 1
    src="$build/src"
fi
[ -x "$src/configure" ] || (cd "$src" && autoreconf -fi > /dev/null 2>&1) || { echo "autoreconf failed"; exit 1; }
cd "$build" || exit 1
if [ ! -f Makefile ]; then
    "$src/configure" --with-cuda --enable-werror > configure.log 2>&1 || { cat configure.log; exit 1; }
fi
make -j"$(nproc)" > make.log 2>&1 || { tail -50 make.log; exit 1; }
make -j"$(nproc)" check TESTS= > make-check.log 2>&1 || { tail -50 make-check.log; exit 1; }
ok "build with CUDA ($(grep -m1 'CUDA backend' configure.log | sed 's/ *CUDA backend *: //'))"

for t in test_cuda test_backend_ops; do
    if ./tests/$t > $t.log 2>&1; then
        if grep -q '^1\.\.0 # SKIP' $t.log; then bad "$t skipped: $(head -1 $t.log)";
        elif [ $t = test_backend_ops ] && ! grep -q '^ok [0-9]* - cuda' $t.log; then
            bad "$t ran no CUDA case (no device?)"; else
            ok "$t ($(grep -c '^ok' $t.log) ok, $(grep -c '# SKIP' $t.log) skipped)"; fi
    else
        bad "$t ($(grep -c '^not ok' $t.log) failed; see $build/$t.log)"
        grep '^not ok' $t.log | head -20
    fi
done

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
./tools/sg-demo-data --out "$tmp/data" --splits "$tmp/splits" --train 64 --val 8 --labeled 16 > /dev/null
train() { # train METHOD DEVICE RUNS [ARGS...]
    m=$1 d=$2 r=$3
    shift 3
    ./experiments/$m/$m --config "$src/experiments/$m/demo.conf" --set data.root="$tmp/data" \
        --set data.split="$tmp/splits/16" --set data.val="$tmp/splits/val.txt" \
        --set run.seeds="$src/splits/seeds" --set train.iterations=20 --set eval.interval=0 \
        --set output.checkpoint_interval=5 --reports "$r/reports" --runs "$r" --seed 0 --device "$d" "$@"
}
losses() { cut -f4- "$1" | awk -F'\t' 'NR > 1 { NF--; print }'; }
for m in supervised meanteacher cutmixseg fixmatch unimatch; do
    SG_CPU_PATH=reference train $m cpu "$tmp/cpu" > "$tmp/$m-cpu.log" 2>&1 || { bad "$m on the CPU"; continue; }
    train $m "$DEVICE" "$tmp/gpu" > "$tmp/$m-gpu.log" 2>&1 || { bad "$m on the GPU: $(tail -1 $tmp/$m-gpu.log)"; continue; }
    a="$tmp/cpu/demo/16/$m/seed0/log.tsv" b="$tmp/gpu/demo/16/$m/seed0/log.tsv"
    worst=$(paste "$a" "$b" | awk -F'\t' -v n="$(head -1 "$a" | awk -F'\t' '{print NF}')" '
        NR > 1 { for (i = 4; i < n; i++) { x = $i; y = $(i + n); if (x != x + 0 || y != y + 0) continue;
                 d = x - y; if (d < 0) d = -d; s = (x < 0 ? -x : x) + 1e-12; if (d / s > w) w = d / s } }
        END { printf "%.3g", w + 0 }')
    if awk -v w="$worst" -v t="$LOSS_RTOL" 'BEGIN { exit !(w <= t) }'; then
        ok "$m: 20 GPU iterations track the CPU (largest relative loss difference $worst <= $LOSS_RTOL)"
    else
        bad "$m: GPU losses differ from the CPU's by $worst (> $LOSS_RTOL)"
    fi
done

train unimatch "$DEVICE" "$tmp/det" > /dev/null 2>&1
if cmp -s "$tmp/det/demo/16/unimatch/seed0/ckpt/last.safetensors" "$tmp/gpu/demo/16/unimatch/seed0/ckpt/last.safetensors" &&
    [ "$(losses "$tmp/det/demo/16/unimatch/seed0/log.tsv")" = "$(losses "$tmp/gpu/demo/16/unimatch/seed0/log.tsv")" ]; then
    ok "unimatch on the GPU twice: bitwise identical checkpoint and losses"
else
    bad "unimatch on the GPU twice: the runs differ"
fi

train unimatch "$DEVICE" "$tmp/kill" --set debug.kill_at_iter=10 > /dev/null 2>&1
train unimatch "$DEVICE" "$tmp/kill" --resume > /dev/null 2>&1
if cmp -s "$tmp/kill/demo/16/unimatch/seed0/ckpt/last.safetensors" "$tmp/gpu/demo/16/unimatch/seed0/ckpt/last.safetensors"; then
    ok "unimatch on the GPU killed at iteration 10 and resumed: bitwise the uninterrupted checkpoint"
else
    bad "unimatch on the GPU killed and resumed: the checkpoint differs from the uninterrupted run's"
fi

train unimatch "$DEVICE" "$tmp/cross" --set debug.kill_at_iter=10 > /dev/null 2>&1
# Only a checkpoint the GPU wrote counts: the CPU must resume from it.
if [ -s "$tmp/cross/demo/16/unimatch/seed0/ckpt/last.safetensors" ] &&
    train unimatch cpu "$tmp/cross" --resume > "$tmp/cross.log" 2>&1 &&
    grep -q "resuming .* at iteration 10 of 20" "$tmp/cross.log" &&
    [ -s "$tmp/cross/demo/16/unimatch/seed0/result.json" ]; then
    ok "a GPU checkpoint resumes on the CPU and finishes"
else
    bad "a GPU checkpoint did not resume on the CPU: $(tail -1 "$tmp/cross.log")"
fi

make bench/bench_train > /dev/null 2>&1
if STEPS=5 WARMUP=2 sh "$src/bench/run_bench_gpu.sh" > bench-gpu.log 2>&1; then
    ok "bench-gpu: $(tail -1 bench-gpu.log)"
    sed -n 's/^(\([ab]\)) /  (\1) /p' bench-gpu.log
else
    bad "bench-gpu: $(tail -1 bench-gpu.log)"
fi

echo "check-gpu: $pass passed, $fail failed on $(nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null | head -1)"
[ "$fail" = 0 ]
