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
# (PyTorch side: tests/ref/segformer.py); WORKLOADS picks a subset. The last
# line is the headline ratio (workload a, 2 threads).
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

# Median over rounds per (impl, workload, threads); then the C/PyTorch ratios.
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
{
    key = $1 " " $2 " " field("threads")
    ips[key] = ips[key] " " field("img_per_s")
    rss[key] = rss[key] " " field("rss_mb")
    if ($1 == "c") gf[key] = gf[key] " " field("gflops")
    keys[key] = 1
}
END {
    printf "\n%-4s %-9s %-8s %12s %10s %10s\n", "impl", "workload", "threads", "images/s", "peak MB", "GFLOP/s"
    nw = split(workloads, ws, " ")
    for (t = 1; t <= 2; t++) for (w = 1; w <= nw; w++) for (s = 1; s <= 2; s++) {
        impl = (s == 1) ? "c" : "py"
        key = impl " " ws[w] " " t
        if (!(key in keys)) continue
        printf "%-4s %-9s %-8d %12.2f %10.1f %10s\n", impl, ws[w], t, median(ips[key]), median(rss[key]),
               impl == "c" ? sprintf("%.1f", median(gf[key])) : "-"
    }
    print ""
    for (t = 1; t <= 2; t++) for (w = 1; w <= nw; w++) {
        c = "c " ws[w] " " t; p = "py " ws[w] " " t
        if ((c in keys) && (p in keys))
            printf "workload %-3s %d thread(s): C/PyTorch speed %.2f, peak memory %.2f\n", ws[w], t,
                   median(ips[c]) / median(ips[p]), median(rss[c]) / median(rss[p])
    }
    if (("c a 2" in keys) && ("py a 2" in keys))
        printf "train-step speedup vs PyTorch: %.2f\n", median(ips["c a 2"]) / median(ips["py a 2"])
    else
        print "train-step speedup vs PyTorch: not measured (WORKLOADS without a)"
}' "$out"
