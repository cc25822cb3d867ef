#!/bin/sh
# bench/run_bench_gpu.sh: `make bench-gpu`. UniMatch's VOC model (DeepLabV3+
# ResNet-101, 321 x 321, batch 8) on the first CUDA device: (a) a supervised
# training step and (b) one UniMatch iteration (8 labeled + 8 unlabeled, with
# the mix batch), each the median of STEPS steps after WARMUP, in images/s,
# achieved TFLOP/s (nominal convolution FLOPs) as a fraction of the device's
# FP32 FMA peak, and device memory in use. From (b): the implied hours of one
# VOC-1464 UniMatch run on this one GPU (1140 iterations per epoch x 80
# epochs = 91.2k iterations: UniMatch configs/pascal.yaml, batch 2/GPU x 4),
# beside the published budget (released logs: about 13 min per epoch on 4
# GPUs, 80 epochs = 17.3 h x 4 GPUs = 69 GPU-hours). The reference run is the
# published one, so the ratio is between machines: read it as an estimate.
set -eu
STEPS=${STEPS:-10}
WARMUP=${WARMUP:-3}
DEVICE=${DEVICE:-cuda:0}
out=$(mktemp)
trap 'rm -f "$out" "$out.a" "$out.b"' EXIT
for w in a b; do
    # Not through a pipe: a failing bench (no device) must stop the script.
    ./bench/bench_train --workload $w --threads 1 --steps "$STEPS" --warmup "$WARMUP" --model voc \
        --device "$DEVICE" > "$out.$w"
    cat "$out.$w" >> "$out"
    cat "$out.$w"
    rm -f "$out.$w"
done
awk '
function field(name,   i, kv) {
    for (i = 1; i <= NF; i++) { split($i, kv, "="); if (kv[1] == name) return kv[2] }
    return ""
}
$1 == "c" {
    w = $2; t = field("median_s"); g = field("gflops"); p = field("peak_gflops")
    printf "(%s) %s: %.1f img/s, %.2f TFLOP/s = %.1f%% of the FP32 peak (%.1f TFLOP/s), %s MiB of device memory\n",
        w, w == "a" ? "supervised step" : "UniMatch iteration", field("img_per_s"), g / 1000,
        100 * g / p, p / 1000, field("device_mb")
    if (w == "b") tb = t
}
END {
    if (tb > 0)
        printf "implied VOC-1464 UniMatch run on this GPU: %.1f GPU-hours (91.2k iterations x %.3f s); published: about 69 GPU-hours (4 GPUs x 17.3 h); ratio %.2f\n",
            91200 * tb / 3600, tb, 69.3 / (91200 * tb / 3600)
}' "$out"
