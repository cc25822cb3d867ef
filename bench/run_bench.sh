#!/bin/sh
# bench/run_bench.sh: `make bench`. The C training step (bench/bench_train)
# and the PyTorch reference (bench/bench_train.py, Debian python3-torch) on
# the same model, input and thread count, run side by side: for each thread
# count, ROUNDS rounds that alternate C and PyTorch processes, each warming
# up and then timing STEPS steps (median). The figure reported per
# (implementation, workload, threads) is the median over rounds, so the
# 10-15 % process-to-process noise of this machine is interleaved rather than
# biasing one side. Workloads (bench_train.c's header): fwd, a and b on
# DeepLabV3+ / ResNet-18, mit = workload a on SegFormer with a MiT-B0 encoder
# (PyTorch side: tests/ref/segformer.py); WORKLOADS picks a subset.
# Before the workloads of each thread count, ROUNDS runs of
# bench/bench_fma_peak measure the machine's FP32 FMA peak at that thread
# count (median over rounds): the C rows' GFLOP/s are also given as a
# percentage of it, so the figure says how far the kernels are from the
# hardware on this machine, not just how they compare with PyTorch
# (nominal direct-convolution FLOPs: with Winograd convolutions, an
# effective rate). The last
# line is the headline ratio: the smaller C/PyTorch speed of the training
# step (a) and the UniMatch iteration (b) at 2 threads, so that neither hides
# a regression in the other; the line before it names the workload.
set -eu
ROUNDS=${ROUNDS:-3}
WORKLOADS=${WORKLOADS:-fwd a b mit}
STEPS=${STEPS:-10}
WARMUP=${WARMUP:-3}
PYTHON=${PYTHON:-/usr/bin/python3}
here=$(cd "$(dirname "$0")" && pwd)
out=$(mktemp)
trap 'rm -f "$out"' EXIT

if ! "$PYTHON" -c 'import torch' 2>/dev/null; then
    echo "make bench needs Debian's python3-torch for the reference (apt-get install python3-torch)"
    exit 1
fi

for threads in 1 2; do
    r=0
    while [ "$r" -lt "$ROUNDS" ]; do
        ./bench/bench_fma_peak --threads $threads | tee -a "$out"
        r=$((r + 1))
    done
    for workload in $WORKLOADS; do
        r=0
        while [ "$r" -lt "$ROUNDS" ]; do
            ./bench/bench_train --workload $workload --threads $threads --steps $STEPS --warmup $WARMUP | tee -a "$out"
            OPENBLAS_NUM_THREADS=$threads OMP_NUM_THREADS=$threads "$PYTHON" "$here/bench_train.py" \
                --workload $workload --threads $threads --steps $STEPS --warmup $WARMUP | tee -a "$out"
            r=$((r + 1))
        done
    done
done

# Median over rounds per (impl, workload, threads) and of the FMA peak per
# thread count; then the C/PyTorch ratios and the headline.
awk -v workloads="$WORKLOADS" '
function field(name,   i, kv) {
    for (i = 1; i <= NF; i++) { split($i, kv, "="); if (kv[1] == name) return kv[2] }
    return ""
}
function median(list,   n, a, i, j, t) {
    n = split(list, a, " ")
    for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (a[j] + 0 < a[i] + 0) { t = a[i]; a[i] = a[j]; a[j] = t }
    return (n % 2) ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
}
$2 == "fma-peak" {
    peak[field("threads")] = peak[field("threads")] " " field("gflops")
    isa = field("isa")
    next
}
{
    key = $1 " " $2 " " field("threads")
    ips[key] = ips[key] " " field("img_per_s")
    rss[key] = rss[key] " " field("rss_mb")
    if ($1 == "c") gf[key] = gf[key] " " field("gflops")
    keys[key] = 1
}
END {
    printf "\n%-4s %-9s %-8s %12s %10s %10s %14s\n", "impl", "workload", "threads", "images/s", "peak MB", "GFLOP/s",
           "% of FMA peak"
    nw = split(workloads, ws, " ")
    for (t = 1; t <= 2; t++) for (w = 1; w <= nw; w++) for (s = 1; s <= 2; s++) {
        impl = (s == 1) ? "c" : "py"
        key = impl " " ws[w] " " t
        if (!(key in keys)) continue
        printf "%-4s %-9s %-8d %12.2f %10.1f %10s %14s\n", impl, ws[w], t, median(ips[key]), median(rss[key]),
               impl == "c" ? sprintf("%.1f", median(gf[key])) : "-",
               impl == "c" ? sprintf("%.1f", 100 * median(gf[key]) / median(peak[t])) : "-"
    }
    printf "FP32 FMA peak (bench/bench_fma_peak, isa=%s): %.1f GFLOP/s at 1 thread, %.1f at 2 threads\n",
           isa, median(peak[1]), median(peak[2])
    print ""
    for (t = 1; t <= 2; t++) for (w = 1; w <= nw; w++) {
        c = "c " ws[w] " " t; p = "py " ws[w] " " t
        if ((c in keys) && (p in keys))
            printf "workload %-3s %d thread(s): C/PyTorch speed %.2f, peak memory %.2f\n", ws[w], t,
                   median(ips[c]) / median(ips[p]), median(rss[c]) / median(rss[p])
    }
    if (("c a 2" in keys) && ("py a 2" in keys) && ("c b 2" in keys) && ("py b 2" in keys)) {
        ra = median(ips["c a 2"]) / median(ips["py a 2"])
        rb = median(ips["c b 2"]) / median(ips["py b 2"])
        printf "minimum over workloads a (%.2f) and b (%.2f) at 2 threads: workload %s\n", ra, rb, rb < ra ? "b" : "a"
        printf "train-step speedup vs PyTorch: %.2f\n", rb < ra ? rb : ra
    } else
        print "train-step speedup vs PyTorch: not measured (needs workloads a and b in WORKLOADS)"
}' "$out"
